// SPDX-License-Identifier: GPL-2.0
//
// swap: threads access a working set larger than the space's resident
// budget (--swap_ratio times it), so that reclaim runs all along and
// accesses keep finding their page swapped out: every such access is a
// fault that must sleep for the read (a major fault), which is where the
// fault-locking strategies and the vmalock swap policies differ.  Pages
// are picked uniformly, or --swap_hot_pct percent of accesses go to the
// complementary percentage of pages (90: 90% of accesses to 10% of the
// pages), each thread with its own random sequence.  Three accesses in
// four load, one stores; every page holds a value of its own, written
// before the clock starts and rewritten unchanged by stores, so every load
// checks that the page came back from swap with its contents: a mismatch
// fails the run.  Records are accesses.
//
// The budget is the space's (Backend::Memory(): SET_MEMORY on the shadow
// backends, the memory cgroup's limit on stock); none is an error.
//
// --swap_mapper turns worker 0 into an mmap_lock writer: it maps a page
// outside the working set, touches it and unmaps it, again and again.
// Without one nothing ever write-locks mmap_lock, and a fault that waits
// for a swap-in and then retries under mmap_lock (fallback, drop-retry)
// costs what one under the VMA lock does; with one, it queues behind the
// writer, which is what 6.6's drop-retry saved the fallback path from
// (fallback takes mmap_lock twice per major fault, drop-retry once).
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>

#include "arena.h"
#include "workloads.h"

namespace shadowmm {
namespace {

// The value page @i holds: never 0, different for every page.
uint64_t Pattern(uint64_t i) { return (i + 1) * 0x9e3779b97f4a7c15ULL ^ 0x5eedULL; }

// xorshift64*: cheap, and each thread's sequence its own.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed * 0x2545f4914f6cdd1dULL | 1) {}
  uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1dULL;
  }
  // Uniform in [0, n), n > 0 (the bias of a 64-bit modulo is negligible).
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t state_;
};

class Swap : public Workload {
 public:
  Swap(double ratio, unsigned hot_pct, bool mapper)
      : ratio_(ratio), hot_pct_(hot_pct), mapper_(mapper) {}

  std::string_view Name() const override { return "swap"; }
  std::string_view RecordUnit() const override { return "accesses"; }
  std::map<std::string, std::string> Config() const override {
    char ratio[32];
    std::snprintf(ratio, sizeof(ratio), "%g", ratio_);
    std::map<std::string, std::string> config = {
        {"ratio", ratio}, {"hot_pct", std::to_string(hot_pct_)}, {"mapper", mapper_ ? "1" : "0"}};
    // The sizes once Setup() knows the budget (not in the parent of
    // worker processes, which never sets up).
    if (budget_) {
      config["budget_pages"] = std::to_string(budget_);
      config["working_set_pages"] = std::to_string(pages_);
      config["hot_pages"] = std::to_string(hot_pages_);
    }
    if (mapper_) config["mapper_cycles"] = std::to_string(mapper_cycles_.load());
    return config;
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    if (mapper_ && threads < 2)
      throw Error(
          "swap workload: --swap_mapper takes worker 0 away from the working set: "
          "give --threads of 2 or more");
    page_ = backend.PageSize();
    budget_ = backend.Memory().max_pages;
    if (budget_ == 0)
      throw Error("swap workload: the " + std::string(backend.Name()) +
                  " space has no resident budget: give --resident_pages");
    pages_ = static_cast<uint64_t>(std::ceil(ratio_ * static_cast<double>(budget_)));
    if (pages_ > AddressArenas::kArenaSize / 2 / page_)
      throw Error("swap workload: a working set of " + std::to_string(pages_) +
                  " pages does not fit an arena: lower --resident_pages or --swap_ratio");
    hot_pages_ = hot_pct_ ? std::max<uint64_t>(1, pages_ * (100 - hot_pct_) / 100) : 0;
    base_ = main.Map(pages_ * page_, Prot::kReadWrite);
    for (uint64_t i = 0; i < pages_; i++) main.Fault(base_ + i * page_, Access::kWrite, Pattern(i));
  }

  void Run(Backend&, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    if (mapper_ && ctx.index == 0) {
      // Its cycles are not accesses: no records, its own counter (and
      // with --iterations, as many cycles as the others make accesses).
      while (ctx.Next()) {
        uint64_t addr = t.Map(page_, Prot::kReadWrite);
        t.Fault(addr, Access::kWrite, 1);
        t.Unmap(addr, page_);
        mapper_cycles_.fetch_add(1, std::memory_order_relaxed);
      }
      return;
    }
    Random rng(ctx.index + 1);
    for (uint64_t n = 0; ctx.Next(); n++) {
      uint64_t i = Pick(rng);
      uint64_t addr = base_ + i * page_;
      if (n % 4 == 3) {
        t.Fault(addr, Access::kWrite, Pattern(i));
      } else if (uint64_t v = t.Load(addr); v != Pattern(i)) {
        throw Error("swap workload: page " + std::to_string(i) + " at " + Hex(addr) + " holds " +
                    Hex(v) + ", not " + Hex(Pattern(i)) + ": its contents were lost");
      }
      ctx.counters.records++;
      ctx.counters.pages++;
    }
  }

  void Teardown(Backend&, BackendThread& main) override {
    if (pages_) main.Unmap(base_, pages_ * page_);
  }

 private:
  // A page of the hot set (the first hot_pages_) for hot_pct_ percent of
  // accesses, of the rest otherwise; uniform without a hot set.
  uint64_t Pick(Random& rng) {
    if (!hot_pages_ || hot_pages_ >= pages_) return rng.Below(pages_);
    if (rng.Below(100) < hot_pct_) return rng.Below(hot_pages_);
    return hot_pages_ + rng.Below(pages_ - hot_pages_);
  }

  double ratio_;
  unsigned hot_pct_;
  bool mapper_;
  std::atomic<uint64_t> mapper_cycles_{0};
  uint64_t page_ = 0;
  uint64_t budget_ = 0;
  uint64_t pages_ = 0;
  uint64_t hot_pages_ = 0;
  uint64_t base_ = 0;
};

}  // namespace

std::unique_ptr<Workload> MakeSwap(const WorkloadOptions& options) {
  if (!(options.swap_ratio >= 1 && options.swap_ratio <= 64))
    throw Error("--swap_ratio must be 1..64 (working set / resident budget)");
  if (options.swap_hot_pct != 0 && (options.swap_hot_pct < 50 || options.swap_hot_pct > 99))
    throw Error(
        "--swap_hot_pct must be 0 (uniform) or 50..99 (that percentage of accesses to "
        "the rest of the pages)");
  return std::make_unique<Swap>(options.swap_ratio, options.swap_hot_pct, options.swap_mapper);
}

}  // namespace shadowmm
