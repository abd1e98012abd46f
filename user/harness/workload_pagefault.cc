// SPDX-License-Identifier: GPL-2.0
//
// pagefault: will-it-scale's page_fault1, per thread: map 128 MiB, store
// one word into every page, unmap, again.  Every fault is a first fault
// into a fresh table, and every thread also takes mmap_lock for write
// twice per round.  Records are pages faulted, as will-it-scale counts.
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

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    const uint64_t page = backend.PageSize();
    const uint64_t bytes = RoundUp(bytes_, page);
    while (ctx.Next()) {
      uint64_t addr = t.Map(bytes, Prot::kReadWrite);
      t.Touch(addr, bytes, page, Access::kWrite, 0);
      t.Unmap(addr, bytes);
      ctx.counters.records += bytes / page;
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
