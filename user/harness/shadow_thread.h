// SPDX-License-Identifier: GPL-2.0
//
// What the two shadow backends (module, inproc) share: every operation is a
// struct shadowmm_cmd, addresses come from the thread's arena, MAPs are
// FIXED.  They differ only in how a command reaches the core.
#ifndef SHADOWMM_HARNESS_SHADOW_THREAD_H_
#define SHADOWMM_HARNESS_SHADOW_THREAD_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "arena.h"
#include "backend.h"

namespace shadowmm {

uint64_t ShadowProt(Prot prot);
// Takes each arena's first page for its neighbour mapping (arena.h says
// why) and returns the commands that put them in place: per thread a
// PROT_NONE MAP; shared, a read-write MAP and a write to it.
std::vector<shadowmm_cmd> NeighbourCmds(AddressArenas& arenas);
std::string_view OpName(uint64_t op);
// The space's memory settings as GET_INFO reports them.
shadowmm_memory MemoryOf(const shadowmm_info& info);
// What SET_MEMORY should set for @config on a space that has @info now, or
// nullopt if the config asks for nothing: a new budget gets derived
// watermarks, fields not given stay as they are.
std::optional<shadowmm_memory> ConfiguredMemory(const shadowmm_info& info,
                                                const BackendConfig& config);
shadowmm_cmd SwapPolicyCmd(unsigned policy);
shadowmm_cmd AnonPolicyCmd(unsigned policy);
shadowmm_cmd TlbPolicyCmd(unsigned policy);
shadowmm_cmd ModelCmd(uint64_t mask);
shadowmm_cmd ReclaimCmd(uint64_t addr, uint64_t len, uint64_t pages);
// A userfault command (UFFD_REGISTER, UFFD_COPY, UFFD_WAKE ...) on a range.
shadowmm_cmd UffdCmd(uint64_t op, uint64_t addr, uint64_t len, uint64_t flags = 0);

class ShadowThread : public BackendThread {
 public:
  ShadowThread(AddressArenas& arenas, unsigned index, uint64_t touch_chunk_pages)
      : arenas_(arenas), index_(index), touch_chunk_pages_(touch_chunk_pages) {}

  uint64_t Map(uint64_t len, Prot prot) override;
  void Unmap(uint64_t addr, uint64_t len) override;
  void Protect(uint64_t addr, uint64_t len, Prot prot) override;
  void Zap(uint64_t addr, uint64_t len) override;
  void Touch(uint64_t addr, uint64_t len, uint64_t stride, Access access, uint64_t value) override;
  void Fault(uint64_t addr, Access access, uint64_t value) override;
  uint64_t Load(uint64_t addr) override;
  void Copy(uint64_t dst, uint64_t src, uint64_t len, CopyLoop loop) override;
  std::optional<uint64_t> Search(uint64_t addr, uint64_t len, uint64_t record, uint64_t key,
                                 SearchKind kind) override;
  uint64_t HeapAlloc(uint64_t len) override;
  void HeapFree(uint64_t addr) override;
  void HeapRelease() override;
  std::optional<uint64_t> Faults() const override;
  void Deschedule() override;

 protected:
  // Runs @cmd, or queues it if @need_out is false and the backend batches.
  // Throws SysError on failure (of this or of an earlier queued command).
  // When it ran synchronously, out_* are valid and it returns true.
  virtual bool Exec(shadowmm_cmd& cmd, bool need_out) = 0;

 private:
  // True if it ran now (out_* valid), false if it was queued.
  bool Run(shadowmm_cmd& cmd, bool need_out = false);

  AddressArenas& arenas_;
  unsigned index_;
  uint64_t touch_chunk_pages_;
  uint64_t faults_ = 0;
  bool batched_ = false;  // some command went out without its out_faults
  // The heap of HeapAlloc(): one mapping, reused.
  uint64_t heap_ = 0;
  uint64_t heap_len_ = 0;
  bool heap_in_use_ = false;
};

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_SHADOW_THREAD_H_
