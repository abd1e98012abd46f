// SPDX-License-Identifier: GPL-2.0
//
// multifault: the fault path's read side against MADV_DONTNEED, also a
// read-side operation.  In rounds: every thread faults in its own slot of
// one shared mapping, a barrier, thread 0 zaps every slot, a barrier.  No
// mmap_lock writer ever runs, so a fault path that scales shows it here.
// Records are pages faulted.
#include <barrier>

#include "workloads.h"

namespace shadowmm {
namespace {

class Multifault : public Workload {
 public:
  explicit Multifault(uint64_t slot_pages) : slot_pages_(slot_pages) {}

  std::string_view Name() const override { return "multifault"; }
  std::string_view RecordUnit() const override { return "pages"; }
  std::map<std::string, std::string> Config() const override {
    return {{"slot_pages", std::to_string(slot_pages_)}};
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    slot_bytes_ = slot_pages_ * backend.PageSize();
    bytes_ = slot_bytes_ * threads;
    base_ = main.Map(bytes_, Prot::kReadWrite);
    phase_ = 0;
    done_ = false;
    want_stop_ = false;
    barrier_ = std::make_unique<std::barrier<Completion>>(threads, Completion{this});
  }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    const uint64_t page = backend.PageSize();
    const uint64_t slot = base_ + ctx.index * slot_bytes_;
    try {
      Vote(ctx);
      barrier_->arrive_and_wait();
      while (!done_.load(std::memory_order_relaxed)) {
        t.Touch(slot, slot_bytes_, page, Access::kWrite, ctx.index);
        t.Flush();
        ctx.counters.records += slot_pages_;
        ctx.counters.pages += slot_pages_;
        barrier_->arrive_and_wait();
        if (ctx.index == 0) {
          t.Zap(base_, bytes_);
          t.Flush();
        }
        Vote(ctx);
        barrier_->arrive_and_wait();
      }
    } catch (...) {
      // The others must not wait for this thread at the next barrier.
      want_stop_ = true;
      barrier_->arrive_and_drop();
      throw;
    }
  }

  void Teardown(Backend&, BackendThread& main) override {
    main.Unmap(base_, bytes_);
    barrier_.reset();
  }

 private:
  // Runs once per phase, by the last thread to arrive, before any leaves:
  // every even phase (after the votes) decides for all of them.
  struct Completion {
    Multifault* self;
    void operator()() noexcept {
      if (self->phase_++ % 2 == 0) self->done_.store(self->want_stop_.load());
    }
  };

  void Vote(WorkerContext& ctx) {
    if (!ctx.Next()) want_stop_.store(true);
  }

  uint64_t slot_pages_;
  uint64_t slot_bytes_ = 0;
  uint64_t bytes_ = 0;
  uint64_t base_ = 0;
  uint64_t phase_ = 0;
  std::atomic<bool> done_{false};
  std::atomic<bool> want_stop_{false};
  std::unique_ptr<std::barrier<Completion>> barrier_;
};

}  // namespace

std::unique_ptr<Workload> MakeMultifault(const WorkloadOptions& options) {
  if (options.multifault_pages == 0 || options.multifault_pages > (1u << 20))
    throw Error("--multifault_pages must be 1..1048576");
  return std::make_unique<Multifault>(options.multifault_pages);
}

}  // namespace shadowmm
