// SPDX-License-Identifier: GPL-2.0
#include "shadow_thread.h"

#include <algorithm>
#include <cerrno>
#include <numeric>
#include <string>

namespace shadowmm {

uint64_t ShadowProt(Prot prot) {
  switch (prot) {
    case Prot::kNone:
      return SHADOWMM_PROT_NONE;
    case Prot::kRead:
      return SHADOWMM_PROT_READ;
    case Prot::kReadWrite:
      return SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE;
  }
  return SHADOWMM_PROT_NONE;
}

std::string_view OpName(uint64_t op) {
  switch (op) {
    case SHADOWMM_OP_MAP:
      return "MAP";
    case SHADOWMM_OP_UNMAP:
      return "UNMAP";
    case SHADOWMM_OP_PROTECT:
      return "PROTECT";
    case SHADOWMM_OP_ZAP:
      return "ZAP";
    case SHADOWMM_OP_FAULT:
      return "FAULT";
    case SHADOWMM_OP_TOUCH:
      return "TOUCH";
    case SHADOWMM_OP_GET_STATS:
      return "GET_STATS";
    case SHADOWMM_OP_SET_MODE:
      return "SET_MODE";
    case SHADOWMM_OP_COPY:
      return "COPY";
    case SHADOWMM_OP_SEARCH:
      return "SEARCH";
    case SHADOWMM_OP_GET_INFO:
      return "GET_INFO";
    case SHADOWMM_OP_SET_GEOMETRY:
      return "SET_GEOMETRY";
    case SHADOWMM_OP_RECLAIM:
      return "RECLAIM";
    case SHADOWMM_OP_SET_SWAP_POLICY:
      return "SET_SWAP_POLICY";
    case SHADOWMM_OP_SET_MEMORY:
      return "SET_MEMORY";
    case SHADOWMM_OP_SET_ANON_POLICY:
      return "SET_ANON_POLICY";
    case SHADOWMM_OP_SET_TLB_POLICY:
      return "SET_TLB_POLICY";
    case SHADOWMM_OP_TLB_LEAVE:
      return "TLB_LEAVE";
    case SHADOWMM_OP_SET_MODEL:
      return "SET_MODEL";
    case SHADOWMM_OP_FORK:
      return "FORK";
    case SHADOWMM_OP_UFFD_OPEN:
      return "UFFD_OPEN";
    case SHADOWMM_OP_UFFD_REGISTER:
      return "UFFD_REGISTER";
    case SHADOWMM_OP_UFFD_UNREGISTER:
      return "UFFD_UNREGISTER";
    case SHADOWMM_OP_UFFD_COPY:
      return "UFFD_COPY";
    case SHADOWMM_OP_UFFD_ZEROPAGE:
      return "UFFD_ZEROPAGE";
    case SHADOWMM_OP_UFFD_WAKE:
      return "UFFD_WAKE";
  }
  return "op?";
}

shadowmm_memory MemoryOf(const shadowmm_info& info) {
  shadowmm_memory m{};
  m.max_pages = info.max_pages;
  m.wmark_high = info.wmark_high;
  m.wmark_low = info.wmark_low;
  m.swap_slots = info.swap_slots;
  m.swap_latency_us = info.swap_latency_us;
  return m;
}

std::optional<shadowmm_memory> ConfiguredMemory(const shadowmm_info& info,
                                                const BackendConfig& config) {
  if (!config.max_pages && !config.swap_slots && !config.swap_latency_us) return std::nullopt;
  shadowmm_memory m = MemoryOf(info);
  if (config.max_pages) {
    // Watermarks of the old budget may not nest under the new one: derived.
    m.max_pages = config.max_pages;
    m.wmark_high = m.wmark_low = 0;
  }
  if (config.swap_slots) m.swap_slots = *config.swap_slots;
  if (config.swap_latency_us) m.swap_latency_us = *config.swap_latency_us;
  return m;
}

shadowmm_cmd SwapPolicyCmd(unsigned policy) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_SET_SWAP_POLICY;
  cmd.value = policy;
  return cmd;
}

shadowmm_cmd UffdCmd(uint64_t op, uint64_t addr, uint64_t len, uint64_t flags) {
  shadowmm_cmd cmd{};
  cmd.op = op;
  cmd.addr = addr;
  cmd.len = len;
  cmd.flags = flags;
  return cmd;
}

shadowmm_cmd AnonPolicyCmd(unsigned policy) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_SET_ANON_POLICY;
  cmd.value = policy;
  return cmd;
}

shadowmm_cmd TlbPolicyCmd(unsigned policy) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_SET_TLB_POLICY;
  cmd.value = policy;
  return cmd;
}

shadowmm_cmd ModelCmd(uint64_t mask) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_SET_MODEL;
  cmd.value = mask;
  return cmd;
}

shadowmm_cmd ReclaimCmd(uint64_t addr, uint64_t len, uint64_t pages) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_RECLAIM;
  cmd.addr = addr;
  cmd.len = len;
  cmd.value = pages;
  return cmd;
}

std::vector<shadowmm_cmd> NeighbourCmds(AddressArenas& arenas) {
  std::vector<shadowmm_cmd> cmds;
  if (arenas.layout() == Layout::kShared) {
    // Where the space's allocator starts, so every later MAP lands above
    // it; written, so it has its anon_vma before the first map joins it.
    shadowmm_cmd map{};
    map.op = SHADOWMM_OP_MAP;
    map.addr = SHADOWMM_MMAP_MIN_ADDR;
    map.len = arenas.page_size();
    map.prot = SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE;
    map.flags = SHADOWMM_MAP_FIXED;
    shadowmm_cmd write{};
    write.op = SHADOWMM_OP_FAULT;
    write.addr = map.addr;
    write.flags = SHADOWMM_ACCESS_WRITE;
    write.value = 1;
    return {map, write};
  }
  for (unsigned i = 0; i < arenas.count(); i++) {
    shadowmm_cmd map{};
    map.op = SHADOWMM_OP_MAP;
    map.addr = arenas.Alloc(i, arenas.page_size());
    map.len = arenas.page_size();
    map.prot = SHADOWMM_PROT_NONE;
    map.flags = SHADOWMM_MAP_FIXED;
    cmds.push_back(map);
  }
  return cmds;
}

bool ShadowThread::Run(shadowmm_cmd& cmd, bool need_out) {
  if (Exec(cmd, need_out)) {
    faults_ += cmd.out_faults;
    return true;
  }
  batched_ = true;
  return false;
}

uint64_t ShadowThread::Map(uint64_t len, Prot prot) {
  len = RoundUp(len, arenas_.page_size());
  if (arenas_.layout() == Layout::kShared) {
    // The space picks, under its mmap_lock (arena.h says why).
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_MAP;
    cmd.len = len;
    cmd.prot = ShadowProt(prot);
    Run(cmd, /*need_out=*/true);
    return cmd.out_addr;
  }
  uint64_t addr = arenas_.Alloc(index_, len);
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_MAP;
  cmd.addr = addr;
  cmd.len = len;
  cmd.prot = ShadowProt(prot);
  cmd.flags = SHADOWMM_MAP_FIXED;
  try {
    Run(cmd);
  } catch (...) {
    arenas_.Free(addr, len);
    throw;
  }
  return addr;
}

void ShadowThread::Unmap(uint64_t addr, uint64_t len) {
  len = RoundUp(len, arenas_.page_size());
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_UNMAP;
  cmd.addr = addr;
  cmd.len = len;
  Run(cmd);
  // Queued, not yet done: reusing the range is still safe, as this
  // thread's later commands run after it and a FIXED MAP by another thread
  // would fail rather than replace.
  if (arenas_.layout() == Layout::kPerThread) arenas_.Free(addr, len);
}

void ShadowThread::Protect(uint64_t addr, uint64_t len, Prot prot) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_PROTECT;
  cmd.addr = addr;
  cmd.len = RoundUp(len, arenas_.page_size());
  cmd.prot = ShadowProt(prot);
  Run(cmd);
}

void ShadowThread::Deschedule() {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_TLB_LEAVE;
  // Batched like the rest (a record has no output), and sent now.
  Run(cmd);
  Flush();
}

void ShadowThread::Zap(uint64_t addr, uint64_t len) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_ZAP;
  cmd.addr = addr;
  cmd.len = RoundUp(len, arenas_.page_size());
  Run(cmd);
}

void ShadowThread::Touch(uint64_t addr, uint64_t len, uint64_t stride, Access access,
                         uint64_t value) {
  if (stride == 0 || stride % 8 != 0) throw Error("touch stride must be a multiple of 8");
  len = RoundUp(len, arenas_.page_size());
  // A chunk is whole pages (the ABI) and whole strides (so it starts on an
  // access and the accesses are those of one big TOUCH).
  uint64_t chunk = len;
  if (touch_chunk_pages_ != 0)
    chunk =
        RoundUp(touch_chunk_pages_ * arenas_.page_size(), std::lcm(stride, arenas_.page_size()));
  for (uint64_t off = 0; off < len; off += chunk) {
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_TOUCH;
    cmd.addr = addr + off;
    cmd.len = std::min(chunk, len - off);
    cmd.stride = stride;
    cmd.flags = access == Access::kWrite ? SHADOWMM_ACCESS_WRITE : 0;
    cmd.value = value;
    // A pending signal stops a TOUCH short (out_len): go on from there.
    // A queued one that stops short fails its batch instead.
    while (Run(cmd) && cmd.out_len < cmd.len) {
      cmd.addr += cmd.out_len;
      cmd.len -= cmd.out_len;
    }
  }
}

void ShadowThread::Fault(uint64_t addr, Access access, uint64_t value) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_FAULT;
  cmd.addr = addr;
  cmd.flags = access == Access::kWrite ? SHADOWMM_ACCESS_WRITE : 0;
  cmd.value = value;
  Run(cmd);
}

uint64_t ShadowThread::Load(uint64_t addr) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_FAULT;
  cmd.addr = addr;
  Run(cmd, /*need_out=*/true);
  return cmd.out_value;
}

void ShadowThread::Copy(uint64_t dst, uint64_t src, uint64_t len, CopyLoop) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_COPY;
  cmd.addr = src;
  cmd.value = dst;
  cmd.len = len;
  // A pending signal stops a COPY short (out_len): go on from there.
  while (Run(cmd) && cmd.out_len < cmd.len) {
    cmd.addr += cmd.out_len;
    cmd.value += cmd.out_len;
    cmd.len -= cmd.out_len;
  }
}

std::optional<uint64_t> ShadowThread::Search(uint64_t addr, uint64_t len, uint64_t record,
                                             uint64_t key, SearchKind kind) {
  shadowmm_cmd cmd{};
  cmd.op = SHADOWMM_OP_SEARCH;
  cmd.addr = addr;
  cmd.len = len;
  cmd.stride = record;
  cmd.value = key;
  cmd.flags = kind == SearchKind::kLinear ? SHADOWMM_SEARCH_LINEAR : 0;
  try {
    if (!Run(cmd)) return std::nullopt;
  } catch (const SysError& e) {
    if (e.err() != ENOENT) throw;
    throw Error("ebizzy: couldn't find key " + std::to_string(key) + " (" + e.what() + ")");
  }
  return cmd.out_value;
}

uint64_t ShadowThread::HeapAlloc(uint64_t len) {
  if (heap_in_use_) throw Error("shadow heap: one allocation at a time");
  len = RoundUp(len, arenas_.page_size());
  if (len > heap_len_) {
    HeapRelease();
    heap_ = Map(len, Prot::kReadWrite);
    heap_len_ = len;
  }
  heap_in_use_ = true;
  return heap_;
}

void ShadowThread::HeapFree(uint64_t addr) {
  if (!heap_in_use_ || addr != heap_) throw Error("shadow heap: free of " + Hex(addr));
  heap_in_use_ = false;
}

void ShadowThread::HeapRelease() {
  if (heap_len_ == 0) return;
  const uint64_t addr = heap_, len = heap_len_;
  heap_ = heap_len_ = 0;
  heap_in_use_ = false;
  Unmap(addr, len);
}

std::optional<uint64_t> ShadowThread::Faults() const {
  if (batched_) return std::nullopt;
  return faults_;
}

}  // namespace shadowmm
