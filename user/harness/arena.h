// SPDX-License-Identifier: GPL-2.0
//
// Address arenas of the shadow backends.  A write() record cannot return
// the address a MAP chose, so batched MAPs must be FIXED: the harness picks
// addresses itself.  Thread i allocates from arena i, a disjoint slice of
// the shadow space, first fit from the bottom; like the kernel's own
// allocator it hands a freed range straight back, so ebizzy's map/unmap
// cycle reuses one address.  Every shadow backend (inproc, module by ioctl,
// write or io_uring) therefore lays a run out identically.
//
// A shadow backend takes the first page of each arena when it creates the
// space and maps it PROT_NONE (NeighbourMap()).  In a process a
// short-lived mmap lands next to other mappings (stacks, heaps, libraries,
// other threads' buffers), so the PTE table under it usually outlives its
// munmap.  An arena is private to its thread, so without a neighbour every
// munmap would free the arena's only tables and every next map's first
// fault would have to allocate them again -- which Linux running ebizzy
// rarely does, and which would send every spf record down the classic path.
#ifndef SHADOWMM_HARNESS_ARENA_H_
#define SHADOWMM_HARNESS_ARENA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace shadowmm {

class AddressArenas {
 public:
  // 1 TiB: clear of SHADOWMM_MMAP_MIN_ADDR and of anything small tests map.
  static constexpr uint64_t kBase = 1ULL << 40;
  // 16 GiB each: room for pagefault's 128 MiB and a large pft mapping.
  static constexpr uint64_t kArenaSize = 1ULL << 34;
  static unsigned MaxArenas();

  // Arenas 0..count-1.  Throws Error if they do not fit below
  // SHADOWMM_TASK_SIZE.
  AddressArenas(unsigned count, uint64_t page_size);

  // Lowest free range of @len bytes in arena @index; throws Error if full.
  uint64_t Alloc(unsigned index, uint64_t len);
  // Returns [addr, addr + len) to the arena that holds it: any part of an
  // allocated range, from any thread.  Throws Error if the range is not
  // wholly allocated inside one arena.
  void Free(uint64_t addr, uint64_t len);

  unsigned count() const { return static_cast<unsigned>(arenas_.size()); }
  uint64_t page_size() const { return page_size_; }
  uint64_t Start(unsigned index) const { return kBase + index * kArenaSize; }

 private:
  struct Arena {
    std::mutex lock;
    std::map<uint64_t, uint64_t> free;  // start -> end, disjoint, coalesced
  };
  uint64_t page_size_;
  std::vector<std::unique_ptr<Arena>> arenas_;
};

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_ARENA_H_
