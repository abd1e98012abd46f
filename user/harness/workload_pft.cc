// SPDX-License-Identifier: GPL-2.0
//
// pft: threads fault disjoint parts of one large mapping, as Christoph
// Lameter's page fault test does, and then zap their part to fault it
// again: every fault looks up the one VMA all threads share, while the
// parts, each many PTE tables long, meet on at most one table.
// Records are pages faulted.
#include "workloads.h"

namespace shadowmm {
namespace {

class Pft : public Workload {
 public:
  explicit Pft(uint64_t bytes) : bytes_(bytes) {}

  std::string_view Name() const override { return "pft"; }
  std::string_view RecordUnit() const override { return "pages"; }
  std::map<std::string, std::string> Config() const override {
    return {{"bytes", std::to_string(bytes_)}};
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    const uint64_t page = backend.PageSize();
    part_ = bytes_ / threads / page * page;
    if (part_ == 0) part_ = page;
    base_ = main.Map(part_ * threads, Prot::kReadWrite);
    threads_ = threads;
  }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    const uint64_t page = backend.PageSize();
    const uint64_t part = base_ + ctx.index * part_;
    while (ctx.Next()) {
      t.Touch(part, part_, page, Access::kWrite, ctx.index);
      t.Zap(part, part_);
      ctx.counters.records += part_ / page;
      ctx.counters.pages += part_ / page;
    }
  }

  void Teardown(Backend&, BackendThread& main) override { main.Unmap(base_, part_ * threads_); }

 private:
  uint64_t bytes_;
  uint64_t part_ = 0;
  uint64_t base_ = 0;
  unsigned threads_ = 0;
};

}  // namespace

std::unique_ptr<Workload> MakePft(const WorkloadOptions& options) {
  if (options.pft_bytes == 0) throw Error("--pft_size must be positive");
  return std::make_unique<Pft>(options.pft_bytes);
}

}  // namespace shadowmm
