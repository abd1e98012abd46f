// SPDX-License-Identifier: GPL-2.0
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <latch>
#include <mutex>
#include <thread>

#include "workload.h"

namespace shadowmm {
namespace {

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

void PinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
    throw SysError("pinning a worker to CPU " + std::to_string(cpu), err);
}

// The first error of any thread, and a wake-up for the main thread's sleep.
class Failure {
 public:
  void Set(std::string message) {
    std::lock_guard guard(lock_);
    if (!message_) message_ = std::move(message);
    cond_.notify_all();
  }
  // Sleeps until @until or until a failure; true if one happened.
  bool WaitUntil(std::chrono::steady_clock::time_point until) {
    std::unique_lock guard(lock_);
    return cond_.wait_until(guard, until, [&] { return message_.has_value(); });
  }
  std::optional<std::string> message() {
    std::lock_guard guard(lock_);
    return message_;
  }

 private:
  std::mutex lock_;
  std::condition_variable cond_;
  std::optional<std::string> message_;
};

}  // namespace

unsigned Workload::DefaultThreads() const {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<unsigned>(cpus) : 1;
}

RunResult RunWorkload(Backend& backend, Workload& workload, const RunConfig& config) {
  if (config.threads == 0) throw Error("--threads must be at least 1");
  RunResult result;
  result.per_thread.resize(config.threads);

  std::unique_ptr<BackendThread> main = backend.Attach(0);
  workload.Setup(backend, *main, config.threads);
  main->Flush();

  std::atomic<bool> stop{false};
  std::latch ready(config.threads);
  std::latch go(1);
  Failure failure;
  std::vector<std::thread> workers;
  workers.reserve(config.threads);

  for (unsigned i = 0; i < config.threads; i++) {
    workers.emplace_back([&, i] {
      WorkerCounters& counters = result.per_thread[i];
      std::unique_ptr<BackendThread> thread;
      try {
        if (!config.cpus.empty()) PinTo(config.cpus[i % config.cpus.size()]);
        thread = backend.Attach(i + 1);
      } catch (const Error& e) {
        failure.Set(e.what());
        stop = true;
      }
      ready.count_down();
      go.wait();
      // A worker that could not attach raised stop before the start line,
      // so none starts: a workload's barriers never miss a party.
      if (!thread || stop) return;
      try {
        std::optional<uint64_t> faults0 = thread->Faults();
        WorkerContext ctx(i, config.threads, *thread, counters, stop, config.iterations);
        workload.Run(backend, ctx);
        thread->Flush();
        std::optional<uint64_t> faults1 = thread->Faults();
        if (faults0 && faults1) counters.faults = *faults1 - *faults0;
      } catch (const Error& e) {
        failure.Set(e.what());
        stop = true;
      } catch (const std::exception& e) {
        failure.Set(std::string("worker: ") + e.what());
        stop = true;
      }
    });
  }

  ready.wait();
  result.before = backend.Stats();
  rusage ru0{}, ru1{};
  getrusage(RUSAGE_SELF, &ru0);
  auto t0 = std::chrono::steady_clock::now();
  go.count_down();
  if (config.iterations == 0) {
    failure.WaitUntil(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(config.seconds)));
    stop = true;
  }
  for (std::thread& t : workers) t.join();
  auto t1 = std::chrono::steady_clock::now();
  getrusage(RUSAGE_SELF, &ru1);
  result.after = backend.Stats();

  result.seconds = std::chrono::duration<double>(t1 - t0).count();
  result.user_seconds = Seconds(ru1.ru_utime) - Seconds(ru0.ru_utime);
  result.sys_seconds = Seconds(ru1.ru_stime) - Seconds(ru0.ru_stime);

  // Torn down even after a failure, so the space is left empty.
  try {
    workload.Teardown(backend, *main);
    main->Flush();
  } catch (const Error& e) {
    failure.Set(e.what());
  }
  if (auto message = failure.message()) throw Error(*message);

  bool faults_known = true;
  uint64_t faults = 0;
  for (const WorkerCounters& c : result.per_thread) {
    result.total.records += c.records;
    result.total.pages += c.pages;
    result.total.iterations += c.iterations;
    if (c.faults)
      faults += *c.faults;
    else
      faults_known = false;
  }
  if (faults_known) result.total.faults = faults;

  result.delta = result.after;
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
    result.delta.counter[i] = result.after.counter[i] - result.before.counter[i];
  return result;
}

}  // namespace shadowmm
