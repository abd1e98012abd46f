// SPDX-License-Identifier: GPL-2.0
//
// fork: fork latency of a parent with many VMAs while its other threads
// fault, after the reproducer used to measure 6.4's "fork: lock VMAs of
// the parent process when forking" (kernel bugzilla 217624): fork then
// write-locks every VMA of the parent, so a fault under a VMA lock waits
// for it, and fork waits for the faults.  Before the clock the parent maps
// --fork_vmas one-page mappings, alternately read-write and read-only so
// that none merge, each written once.  Worker 0 forks and destroys the
// child, again; the others each write one word into every page of their
// own --fork_fault_pages mapping and zap it, again, so every write faults.
// Records are forks.  The latency is that of the fork alone (Fork() on a
// shadow backend; fork() on stock, to its return in the parent), not the
// child's destruction or reaping; the summary gives its median and p99
// and the faulting workers' write faults per second.
//
// Stock forks the process with fork(); the child _exit()s at once and
// worker 0 waitpid()s for it, untimed.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <vector>

#include "workloads.h"

namespace shadowmm {
namespace {

using Clock = std::chrono::steady_clock;

class Fork : public Workload {
 public:
  Fork(uint64_t vmas, uint64_t fault_pages) : vmas_(vmas), fault_pages_(fault_pages) {}

  std::string_view Name() const override { return "fork"; }
  std::string_view RecordUnit() const override { return "forks"; }
  // In-process, the first fork of a run without warm-up took 0.5-0.65 s
  // where the others took 33 ms (fork, 1 thread, 10,000 VMAs; with
  // --warmup=1 or in a second repetition the slowest was 48-64 ms),
  // presumably the core's first allocations growing the heap.
  double DefaultWarmupSeconds() const override { return 1; }
  std::map<std::string, std::string> Config() const override {
    return {{"vmas", std::to_string(vmas_)}, {"fault_pages", std::to_string(fault_pages_)}};
  }
  std::map<std::string, double> Results() const override {
    std::map<std::string, double> out;
    if (!latency_ns_.empty()) {
      out["fork_ns_median"] = static_cast<double>(Percentile(50));
      out["fork_ns_p99"] = static_cast<double>(Percentile(99));
      out["fork_ns_max"] = static_cast<double>(latency_ns_.back());
    }
    if (faulters_ > 0) {
      out["faulters_faults"] = static_cast<double>(faults_.load());
      out["faulters_faults_per_s"] = FaultRate();
    }
    return out;
  }
  std::string Summary() const override {
    if (latency_ns_.empty()) return {};
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "fork latency (fork alone) median %.1f us p99 %.1f us max %.1f us of %zu forks\n",
                  Percentile(50) / 1e3, Percentile(99) / 1e3, latency_ns_.back() / 1e3,
                  latency_ns_.size());
    std::string out = buf;
    if (faulters_ > 0) {
      std::snprintf(buf, sizeof(buf), "faulting threads: %llu faults, %.0f faults/s\n",
                    static_cast<unsigned long long>(faults_.load()), FaultRate());
      out += buf;
    }
    return out;
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    page_ = backend.PageSize();
    stock_ = backend.IsThisProcess();
    latency_ns_.clear();
    faults_ = 0;
    fault_ns_ = 0;
    fault_seconds_ = 0;
    faulters_ = threads - 1;
    // One mapping, then every other page read-only: vmas_ VMAs that
    // cannot merge, each with its page written (as a process's data is).
    base_ = main.Map(vmas_ * page_, Prot::kReadWrite);
    main.Touch(base_, vmas_ * page_, page_, Access::kWrite, 1);
    for (uint64_t i = 1; i < vmas_; i += 2) main.Protect(base_ + i * page_, page_, Prot::kRead);
  }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    if (ctx.index == 0) {
      t.Flush();
      while (ctx.Next()) {
        latency_ns_.push_back(stock_ ? ForkProcess() : ForkSpace(backend));
        ctx.counters.records++;
      }
      std::sort(latency_ns_.begin(), latency_ns_.end());
      return;
    }
    const uint64_t bytes = fault_pages_ * page_;
    uint64_t addr = t.Map(bytes, Prot::kReadWrite);
    uint64_t faults = 0;
    auto t0 = Clock::now();
    while (ctx.Next()) {
      t.Touch(addr, bytes, page_, Access::kWrite, ctx.index);
      t.Zap(addr, bytes);
      faults += fault_pages_;
      ctx.counters.pages += fault_pages_;
    }
    t.Flush();
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    t.Unmap(addr, bytes);
    faults_ += faults;
    // The faulting workers run side by side over the same time: their
    // rate is the sum of their faults over the longest of their times.
    uint64_t prev = fault_ns_.load();
    while (static_cast<uint64_t>(ns) > prev && !fault_ns_.compare_exchange_weak(prev, ns)) {
    }
  }

  void Teardown(Backend&, BackendThread& main) override {
    main.Unmap(base_, vmas_ * page_);
    fault_seconds_ = fault_ns_.load() / 1e9;
  }

 private:
  uint64_t ForkSpace(Backend& backend) {
    auto t0 = Clock::now();
    std::unique_ptr<Backend> child = backend.Fork();
    auto t1 = Clock::now();
    child.reset();
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }

  uint64_t ForkProcess() {
    auto t0 = Clock::now();
    pid_t pid = fork();
    if (pid == 0) _exit(0);
    auto t1 = Clock::now();
    if (pid < 0) throw SysError("fork", errno);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) throw SysError("waitpid", errno);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw Error("fork workload: the child process did not exit with 0");
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }

  // Of the sorted latencies: the nearest-rank percentile.
  uint64_t Percentile(unsigned p) const {
    size_t rank = (latency_ns_.size() * p + 99) / 100;
    return latency_ns_[std::max<size_t>(rank, 1) - 1];
  }

  // A guest whose clocksource is jiffies (TCG) can time a short run of the
  // faulting workers as 0 ns: they still faulted, only their rate is unknown.
  double FaultRate() const { return fault_seconds_ > 0 ? faults_.load() / fault_seconds_ : 0; }

  uint64_t vmas_;
  uint64_t fault_pages_;
  uint64_t page_ = 0;
  uint64_t base_ = 0;
  bool stock_ = false;
  std::vector<uint64_t> latency_ns_;  // worker 0's, sorted after its run
  std::atomic<uint64_t> faults_{0};
  std::atomic<uint64_t> fault_ns_{0};
  double fault_seconds_ = 0;
  unsigned faulters_ = 0;
};

}  // namespace

std::unique_ptr<Workload> MakeFork(const WorkloadOptions& options) {
  if (options.fork_vmas == 0) throw Error("--fork_vmas must be positive");
  if (options.fork_fault_pages == 0) throw Error("--fork_fault_pages must be positive");
  return std::make_unique<Fork>(options.fork_vmas, options.fork_fault_pages);
}

}  // namespace shadowmm
