// SPDX-License-Identifier: GPL-2.0
//
// spf_test: after the test Suren Baghdasaryan measured the per-VMA lock
// series with: every thread maps V areas of P pages when it starts, then
// faults them all in, and reports the time the faults took, total and per
// fault.  Here that is one iteration; the runner repeats it (unmap, map
// again, untimed) for --duration or --iterations.  Only the faults are
// timed, so the per-fault nanoseconds do not include the maps around them.
//
// Each area is its own VMA on every backend: a one-page hole is left after
// it (map P + 1 pages, unmap the last), as adjacent anonymous mappings with
// the same protection would otherwise merge on the stock kernel.  Records
// are pages faulted.
#include <chrono>
#include <vector>

#include "workloads.h"

namespace shadowmm {
namespace {

class SpfTest : public Workload {
 public:
  SpfTest(uint64_t areas, uint64_t pages) : areas_(areas), pages_(pages) {}

  std::string_view Name() const override { return "spf_test"; }
  std::string_view RecordUnit() const override { return "pages"; }
  std::map<std::string, std::string> Config() const override {
    return {{"areas", std::to_string(areas_)}, {"pages", std::to_string(pages_)}};
  }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    const uint64_t page = backend.PageSize();
    const uint64_t bytes = pages_ * page;
    std::vector<uint64_t> areas(areas_);
    while (ctx.Next()) {
      for (uint64_t& addr : areas) {
        addr = t.Map(bytes + page, Prot::kReadWrite);
        t.Unmap(addr + bytes, page);
      }
      t.Flush();
      auto t0 = std::chrono::steady_clock::now();
      for (uint64_t addr : areas) t.Touch(addr, bytes, page, Access::kWrite, ctx.index);
      t.Flush();
      auto t1 = std::chrono::steady_clock::now();
      ctx.counters.timed_ns += static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count());
      for (uint64_t addr : areas) t.Unmap(addr, bytes);
      ctx.counters.records += areas_ * pages_;
      ctx.counters.pages += areas_ * pages_;
    }
  }

 private:
  uint64_t areas_;
  uint64_t pages_;
};

}  // namespace

std::unique_ptr<Workload> MakeSpfTest(const WorkloadOptions& options) {
  if (options.spf_test_areas == 0 || options.spf_test_areas > 65536)
    throw Error("--spf_test_areas must be 1..65536");
  if (options.spf_test_pages == 0 || options.spf_test_pages > (1u << 20))
    throw Error("--spf_test_pages must be 1..1048576");
  return std::make_unique<SpfTest>(options.spf_test_areas, options.spf_test_pages);
}

}  // namespace shadowmm
