// SPDX-License-Identifier: GPL-2.0
//
// pagefault: will-it-scale's page_fault1, per thread: map 128 MiB, store
// one word into every page, unmap, again.  Every fault is a first fault
// into a fresh table, and every thread also takes mmap_lock for write
// twice per round.  Records are pages faulted, as will-it-scale counts.
#include <algorithm>

#include "workloads.h"

namespace shadowmm {
namespace {

class Pagefault : public Workload {
 public:
  explicit Pagefault(uint64_t bytes) : bytes_(bytes) {}

  std::string_view Name() const override { return "pagefault"; }
  std::string_view RecordUnit() const override { return "pages"; }
  std::map<std::string, std::string> Config() const override {
    return {{"bytes", std::to_string(bytes_)}};
  }
  // will-it-scale's runtest.py runs 5 seconds after main.c's warm-up: it
  // samples once a second and discards the samples up to and including
  // the one after which it prints "measurement" (WARMUP_ITERATIONS 5,
  // so the first 6).
  double DefaultSeconds() const override { return 5; }
  double DefaultWarmupSeconds() const override { return 6; }
  bool WarmupInRun() const override { return true; }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    const uint64_t page = backend.PageSize();
    const uint64_t bytes = RoundUp(bytes_, page);
    // Counted as it goes, one PTE table's worth of pages at a time, so the
    // runner's once-a-second samples see the progress inside a round as
    // will-it-scale's, which counts every page, does.
    const uint64_t chunk = 512 * page;
    while (ctx.Next()) {
      uint64_t addr = t.Map(bytes, Prot::kReadWrite);
      for (uint64_t off = 0; off < bytes; off += chunk) {
        uint64_t len = std::min(chunk, bytes - off);
        t.Touch(addr + off, len, page, Access::kWrite, 0);
        ctx.counters.records += len / page;
      }
      t.Unmap(addr, bytes);
      ctx.counters.pages += bytes / page;
    }
  }

 private:
  uint64_t bytes_;
};

}  // namespace

std::unique_ptr<Workload> MakePagefault(const WorkloadOptions& options) {
  if (options.pagefault_bytes == 0) throw Error("--pagefault_size must be positive");
  return std::make_unique<Pagefault>(options.pagefault_bytes);
}

}  // namespace shadowmm
