// SPDX-License-Identifier: GPL-2.0
//
// Address arenas of the shadow backends.  A write() record cannot return
// the address a MAP chose, so batched MAPs must be FIXED: the harness picks
// addresses itself, first fit from the bottom of an arena; like the
// kernel's own allocator it hands a freed range straight back, so ebizzy's
// map/unmap cycle reuses one address.
//
// Two layouts (--layout).  kShared is a process's: every
// thread maps from one arena, whose first page is an anonymous mapping
// that has been written (NeighbourCmds()), as the data a process's
// libraries leave beside the gap its mmaps fill.  Linux puts a short-lived
// mmap there, and it merges: measured on the 6.18 host with ebizzy
// -mTRp's pattern (ten 512 KiB chunks, -p, then map, touch and unmap one
// page per record), the buffer's VMA was larger than the buffer in 99.7%
// of checks at 1, 2 and 4 threads.  So its first fault finds an anon_vma
// (no anon_vma_prepare()), and every thread's map and unmap splits and
// merges the one VMA the others fault in.  There the space picks every
// address itself (MAP without FIXED, synchronous even with batched
// submission), first fit above that page, under its mmap_lock as
// get_unmapped_area() runs under the kernel's: were the harness to pick,
// two threads could map out of order and leave a gap between a mapping and
// its neighbour that Linux never leaves.  The arenas go unused.
// kPerThread, the default (the
// layout every published number so far had), gives thread i arena i, a
// disjoint slice behind a PROT_NONE page: no thread's VMA is another's and
// every record is a VMA of its own, which is not what Linux does for
// ebizzy but isolates the fault paths from VMA sharing.  In both, the
// first page keeps the PTE table under a short-lived mapping alive after
// its munmap, as the neighbours in a process do.  Every shadow backend
// (inproc, module by ioctl, write or io_uring) lays a run out alike.
#ifndef SHADOWMM_HARNESS_ARENA_H_
#define SHADOWMM_HARNESS_ARENA_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backend.h"

namespace shadowmm {

class AddressArenas {
 public:
  // 1 TiB: clear of SHADOWMM_MMAP_MIN_ADDR and of anything small tests map.
  static constexpr uint64_t kBase = 1ULL << 40;
  // 16 GiB each: room for pagefault's 128 MiB and a large pft mapping.
  static constexpr uint64_t kArenaSize = 1ULL << 34;
  static unsigned MaxArenas();

  // Arenas 0..count-1.  Throws Error if they do not fit below
  // SHADOWMM_TASK_SIZE.  @layout is the run's, for the threads to see.
  AddressArenas(unsigned count, uint64_t page_size, Layout layout = Layout::kPerThread);
  // A copy of @other's free ranges, taken arena by arena under each one's
  // lock: a forked space's arenas, which hold what its parent's held.
  AddressArenas(const AddressArenas& other);
  AddressArenas& operator=(const AddressArenas&) = delete;

  // Lowest free range of @len bytes in arena @index; throws Error if full.
  uint64_t Alloc(unsigned index, uint64_t len);
  // Returns [addr, addr + len) to the arena that holds it: any part of an
  // allocated range, from any thread.  Throws Error if the range is not
  // wholly allocated inside one arena.
  void Free(uint64_t addr, uint64_t len);

  unsigned count() const { return static_cast<unsigned>(arenas_.size()); }
  uint64_t page_size() const { return page_size_; }
  Layout layout() const { return layout_; }
  uint64_t Start(unsigned index) const { return kBase + index * kArenaSize; }

 private:
  struct Arena {
    std::mutex lock;
    std::map<uint64_t, uint64_t> free;  // start -> end, disjoint, coalesced
  };
  uint64_t page_size_;
  Layout layout_;
  std::vector<std::unique_ptr<Arena>> arenas_;
};

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_ARENA_H_
