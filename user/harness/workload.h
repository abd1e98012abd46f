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

// One worker's counters; only that worker writes them until it is joined.
struct alignas(64) WorkerCounters {
  uint64_t records = 0;  // the workload's unit of work (see each workload)
  uint64_t pages = 0;    // pages its accesses covered
  uint64_t iterations = 0;
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
};

struct WorkloadOptions {
  std::string name = "ebizzy";
  std::string ebizzy = "-mTRp";    // ebizzy's own flags, see ebizzy.h
  std::string ebizzy_rng = "lcg";  // lcg | 0.3
  uint64_t pagefault_bytes = 128ULL << 20;
  uint64_t pft_bytes = 256ULL << 20;
  uint64_t multifault_pages = 16;
};

// Throws Error for an unknown workload or bad workload options.
std::unique_ptr<Workload> MakeWorkload(const WorkloadOptions& options);

struct RunConfig {
  unsigned threads = 1;
  double seconds = 1;
  uint64_t iterations = 0;  // per worker; 0: run for `seconds`
  std::vector<int> cpus;    // worker i runs on cpus[i % size]; empty: anywhere
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
};

// Sets the workload up, runs it on config.threads workers and tears it
// down.  Throws Error (the first worker's, if one failed).
RunResult RunWorkload(Backend& backend, Workload& workload, const RunConfig& config);

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_WORKLOAD_H_
