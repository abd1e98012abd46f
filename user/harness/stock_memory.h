// SPDX-License-Identifier: GPL-2.0
//
// The stock backend's resident budget and swap store: what SET_MEMORY is to
// a shadow space, built from the running kernel's own parts.  The budget is
// the limit of a memory cgroup this process joins (v1 memory.limit_in_bytes
// where the v1 controller is mounted, else v2 memory.max), the store a swap
// device: a zram device hot-added for the run, else a swap file.  Each part
// is an object that undoes itself, in reverse order, when the run ends or
// its setup fails half-way, so no cgroup, zram device or swap is left
// behind by an error, nor by ^C or kill (a fatal signal's handler undoes
// them too); what a SIGKILL or the OOM killer leaves, the next run removes
// (a ledger per process in /run/shadowmm-bench).  Where the machine does not allow a part (not
// root, no memory controller, swapon refused), construction throws Skip saying why.
#ifndef SHADOWMM_HARNESS_STOCK_MEMORY_H_
#define SHADOWMM_HARNESS_STOCK_MEMORY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "backend.h"

namespace shadowmm {

// userfaultfd(2) in missing mode (stock_userfaults.cc).
std::unique_ptr<Userfaults> MakeStockUserfaults(uint64_t page_size);

class StockMemory {
 public:
  // @limit_bytes: the cgroup's limit (0: no cgroup); @swap_bytes: the swap
  // device's size (0: none, and then a limit needs swap already on).
  StockMemory(uint64_t limit_bytes, uint64_t swap_bytes, uint64_t page_size);
  ~StockMemory();
  StockMemory(const StockMemory&) = delete;
  StockMemory& operator=(const StockMemory&) = delete;

  uint64_t limit_bytes() const { return limit_bytes_; }
  uint64_t swap_bytes() const { return swap_bytes_; }
  // "memcg v1 /sys/fs/cgroup/memory/.../shadowmm-bench.42 limit 32 MiB,
  // swap /dev/zram1 128 MiB", for the run's header.
  const std::string& description() const { return description_; }

  class Part {
   public:
    virtual ~Part() = default;
  };

 private:
  uint64_t limit_bytes_;
  uint64_t swap_bytes_;
  std::string description_;
  // Made in this order, undone in the reverse one.
  std::unique_ptr<Part> swap_;
  std::unique_ptr<Part> cgroup_;
};

// Bytes of swap the machine has on (/proc/swaps), ours included.
uint64_t SwapTotalBytes();

// Removes the cgroups, swap devices and swap files of stock runs whose
// process is gone (SIGKILL, the OOM killer), as their ledgers in
// /run/shadowmm-bench list them; one line on stderr per run swept.  Every
// StockMemory does it first; shadowmm-bench --stock_sweep does only it.
void SweepStockLeftovers();

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_STOCK_MEMORY_H_
