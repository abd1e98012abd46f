// SPDX-License-Identifier: GPL-2.0
//
// Workloads, written once over BackendThread, and the runner that drives
// them the way liburcu's benchmarks do: workers attach and wait at a start
// line, the clock starts when they are released, the main thread sleeps
// for the duration and raises a stop flag, and each worker's counters,
// kept in its own cache line, are summed after join.
#ifndef SHADOWMM_HARNESS_WORKLOAD_H_
#define SHADOWMM_HARNESS_WORKLOAD_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "backend.h"

namespace shadowmm {

// A count with one writer that others may read while it runs (the runner
// samples records once a second, as will-it-scale does): relaxed atomic
// loads and stores, no read-modify-write, so the writer pays nothing a
// plain increment does not.  Lock-free, so it also works in memory shared
// between processes (--processes).
class RelaxedCounter {
 public:
  RelaxedCounter(uint64_t v = 0) : v_(v) {}  // NOLINT: used as a plain number
  RelaxedCounter(const RelaxedCounter& other) : v_(other.load()) {}
  RelaxedCounter& operator=(const RelaxedCounter& other) {
    v_.store(other.load(), std::memory_order_relaxed);
    return *this;
  }
  operator uint64_t() const { return load(); }  // NOLINT
  uint64_t load() const { return v_.load(std::memory_order_relaxed); }
  RelaxedCounter& operator+=(uint64_t n) {
    v_.store(load() + n, std::memory_order_relaxed);
    return *this;
  }
  RelaxedCounter& operator++() { return *this += 1; }
  uint64_t operator++(int) {
    uint64_t old = load();
    *this += 1;
    return old;
  }

 private:
  std::atomic<uint64_t> v_;
  static_assert(std::atomic<uint64_t>::is_always_lock_free);
};

// One worker's counters; only that worker writes them until it is joined.
struct alignas(64) WorkerCounters {
  RelaxedCounter records;  // the workload's unit of work (see each workload)
  uint64_t pages = 0;      // pages its accesses covered
  uint64_t iterations = 0;
  // Time inside the part of an iteration the workload times itself
  // (spf_test: the faults, not the maps around them); 0 if it times none.
  uint64_t timed_ns = 0;
  std::optional<uint64_t> faults;  // BackendThread::Faults() over the run
};

class WorkerContext {
 public:
  WorkerContext(unsigned index, unsigned threads, BackendThread& thread, WorkerCounters& counters,
                const std::atomic<bool>& stop, uint64_t iterations)
      : index(index),
        threads(threads),
        thread(thread),
        counters(counters),
        stop_(stop),
        iterations_(iterations) {}

  // True while the worker should do one more iteration: the stop flag is
  // down (it also goes up when another worker failed) and, with a fixed
  // number of iterations, some are left.
  bool Next() {
    if (stop_.load(std::memory_order_relaxed)) return false;
    if (iterations_ != 0 && counters.iterations >= iterations_) return false;
    counters.iterations++;
    return true;
  }
  bool StopRequested() const { return stop_.load(std::memory_order_relaxed); }
  uint64_t iterations_limit() const { return iterations_; }

  const unsigned index;  // 0..threads-1
  const unsigned threads;
  BackendThread& thread;
  WorkerCounters& counters;

 private:
  const std::atomic<bool>& stop_;
  const uint64_t iterations_;
};

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string_view Name() const = 0;
  // What records count, for the table ("records", "pages"...).
  virtual std::string_view RecordUnit() const { return "records"; }
  // Before the clock, on the main thread: shared mappings.
  virtual void Setup(Backend& backend, BackendThread& main, unsigned threads) {}
  // One worker, until ctx.Next() says stop.  May throw Error.
  virtual void Run(Backend& backend, WorkerContext& ctx) = 0;
  // After join, on the main thread.
  virtual void Teardown(Backend& backend, BackendThread& main) {}
  // The workload's parameters, for the JSON.
  virtual std::map<std::string, std::string> Config() const { return {}; }
  // Default thread count when the user gives none.
  virtual unsigned DefaultThreads() const;
  // Default duration in seconds when the user gives none.
  virtual double DefaultSeconds() const { return 10; }
  // Default --warmup when the user gives none.
  virtual double DefaultWarmupSeconds() const { return 0; }
  // True: the warm-up is the first seconds of the measured run, sampled
  // and discarded (will-it-scale); false: a separate run before it.
  virtual bool WarmupInRun() const { return false; }
  // Numbers the workload measured itself (mapbench: shootdowns per
  // unmap), for the JSON's "results"; after the run, on the main thread.
  // Not in Config(): shadowmm-compare pairs runs by their config, which
  // measurements would never let match.
  virtual std::map<std::string, double> Results() const { return {}; }
  // Lines a run adds to the result lines (fork latencies...), each ending
  // in a newline; "" if none.  After the run, on the main thread.
  virtual std::string Summary() const { return {}; }
};

struct WorkloadOptions {
  std::string name = "ebizzy";
  std::string ebizzy = "-mTRp";    // ebizzy's own flags, see ebizzy.h
  std::string ebizzy_rng = "0.3";  // 0.3 | lcg-fixed
  uint64_t pagefault_bytes = 128ULL << 20;
  uint64_t pft_bytes = 256ULL << 20;
  uint64_t multifault_pages = 16;
  uint64_t spf_test_areas = 64;
  uint64_t spf_test_pages = 16;
  double swap_ratio = 2;              // swap: working set / resident budget
  unsigned swap_hot_pct = 0;          // swap: 0 uniform, else % of accesses to (100 - it)% of pages
  bool swap_mapper = false;           // swap: worker 0 maps, touches and unmaps elsewhere instead
  uint64_t cow_bytes = 128ULL << 20;  // cow: the region forked, split between the workers
  uint64_t fork_vmas = 10000;         // fork: one-page mappings of the parent
  uint64_t fork_fault_pages = 256;    // fork: pages each faulting worker writes and zaps
  uint64_t uffd_pages = 64;           // uffd: registered pages each faulting worker walks
  unsigned uffd_resolvers = 2;        // uffd: threads that resolve the faults
  bool uffd_mapper = true;            // uffd: one thread maps and unmaps elsewhere
  std::string mapbench_mode = "local";  // mapbench: local | pipeline | global
  uint64_t mapbench_pages = 1;          // mapbench: pages per region (global: per thread)
};

// Throws Error for an unknown workload or bad workload options.
std::unique_ptr<Workload> MakeWorkload(const WorkloadOptions& options);

struct RunConfig {
  unsigned threads = 1;
  double seconds = 1;
  uint64_t iterations = 0;  // per worker; 0: run for `seconds`
  std::vector<int> cpus;    // worker i runs on cpus[i % size]; empty: anywhere
  // Seconds of warm-up: a separate uncounted run before the measured one,
  // or, for a workload whose WarmupInRun(), the first seconds of the run,
  // whose samples are discarded.  Ignored with iterations.
  double warmup = 0;
  double sample_seconds = 1;  // records are sampled this often
  // Read the running kernel's own counters around the run (stock):
  // /proc/vmstat deltas and the page-faults software event.
  bool kernel_counters = false;
};

struct RunResult {
  double seconds = 0;  // from release of the workers to the last join
  double user_seconds = 0;
  double sys_seconds = 0;
  WorkerCounters total;
  std::vector<WorkerCounters> per_thread;
  shadowmm_stats before{};
  shadowmm_stats after{};
  // after - before for counters; the gauges are after's.
  shadowmm_stats delta{};
  // Records done in each sample_seconds interval, warm-up included, and how
  // many leading samples are warm-up.  With an in-run warm-up, total.records
  // and seconds cover the samples after it only; everything else (counters,
  // faults, user/sys, kernel) covers the whole run, run_seconds long.
  std::vector<uint64_t> samples;
  double sample_seconds = 0;
  unsigned warmup_samples = 0;
  double run_seconds = 0;
  // Kernel counters over the run (RunConfig::kernel_counters): /proc/vmstat
  // pgfault, pgmajfault and vma_lock_* deltas (those the kernel has), and
  // "perf_page_faults" (the page-faults software event of this process and
  // its threads and children) when perf_event_open allows it.
  std::map<std::string, uint64_t> kernel;
};

// Sets the workload up, runs it on config.threads workers and tears it
// down.  Throws Error (the first worker's, if one failed).
RunResult RunWorkload(Backend& backend, Workload& workload, const RunConfig& config);

// The same with every worker a process of its own, forked from this one
// (which must have no other threads: throws Error otherwise; the inproc
// core's RCU threads count, so fork before any inproc run), with its own
// address space: each
// makes its own backend from @backend (threads = 1: a forked process on
// stock, its own shadow space on module and inproc) and its own workload
// from @workload, as will-it-scale's *_processes do.
RunResult RunWorkloadProcesses(const BackendConfig& backend, const WorkloadOptions& workload,
                               const RunConfig& config);
// Threads of the calling process (/proc/self/status), for the check above.
unsigned ThreadsOfThisProcess();

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_WORKLOAD_H_
