// SPDX-License-Identifier: GPL-2.0
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <functional>
#include <latch>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "workload.h"

namespace shadowmm {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

Clock::duration ToDuration(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

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
  bool WaitUntil(Clock::time_point until) {
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

// /proc/vmstat lines a fault-path comparison wants: every fault, major
// faults, pages swapped in and out, and the per-VMA lock outcomes
// (CONFIG_PER_VMA_LOCK_STATS).
std::map<std::string, uint64_t> ReadVmstat() {
  std::map<std::string, uint64_t> out;
  std::ifstream in("/proc/vmstat");
  std::string name;
  uint64_t value = 0;
  while (in >> name >> value)
    if (name == "pgfault" || name == "pgmajfault" || name == "pswpin" || name == "pswpout" ||
        name.rfind("vma_lock_", 0) == 0)
      out[name] = value;
  return out;
}

// The page-faults software event of this process, counting the threads and
// processes it creates from now on (inherit), as `perf stat -e page-faults`
// does for a command.  Silent when the kernel does not allow it.
class PageFaultEvent {
 public:
  PageFaultEvent() {
    perf_event_attr attr{};
    attr.size = sizeof(attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_PAGE_FAULTS;
    attr.inherit = 1;
    attr.exclude_kernel = 0;
    fd_ = static_cast<int>(syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC));
  }
  ~PageFaultEvent() {
    if (fd_ >= 0) close(fd_);
  }
  PageFaultEvent(const PageFaultEvent&) = delete;
  PageFaultEvent& operator=(const PageFaultEvent&) = delete;

  std::optional<uint64_t> Read() const {
    uint64_t v = 0;
    if (fd_ < 0 || read(fd_, &v, sizeof(v)) != sizeof(v)) return std::nullopt;
    return v;
  }

 private:
  int fd_ = -1;
};

// The kernel's own counters around a run: the event is opened before the
// workers exist, so that it inherits into all of them; Start() reads the
// baselines at the start line, after the workers' setup and warm-up (a
// read includes the counts of live children).
class KernelCounters {
 public:
  explicit KernelCounters(bool enabled) : enabled_(enabled) {
    if (enabled_) event_ = std::make_unique<PageFaultEvent>();
  }
  void Start() {
    if (!enabled_) return;
    vmstat0_ = ReadVmstat();
    event0_ = event_->Read();
  }
  std::map<std::string, uint64_t> Delta() const {
    std::map<std::string, uint64_t> out;
    if (!enabled_) return out;
    for (const auto& [name, after] : ReadVmstat()) {
      auto before = vmstat0_.find(name);
      if (before != vmstat0_.end()) out[name] = after - before->second;
    }
    std::optional<uint64_t> event1 = event_->Read();
    if (event0_ && event1) out["perf_page_faults"] = *event1 - *event0_;
    return out;
  }

 private:
  bool enabled_;
  std::unique_ptr<PageFaultEvent> event_;
  std::map<std::string, uint64_t> vmstat0_;
  std::optional<uint64_t> event0_;
};

// will-it-scale's main loop: sleep an interval, sum every worker's count,
// keep the difference; with an in-run warm-up the first samples are
// discarded.  @records sums the workers' live counts; @wait sleeps until a
// time point and returns true if the run failed meanwhile.
struct Sampled {
  std::vector<uint64_t> samples;
  unsigned warmup_samples = 0;
  uint64_t measured_records = 0;  // over the samples after the warm-up
  double measured_seconds = 0;
};

Sampled SampleRun(const RunConfig& config, Clock::time_point t0,
                  const std::function<uint64_t()>& records,
                  const std::function<bool(Clock::time_point)>& wait) {
  Sampled s;
  const double interval = config.sample_seconds > 0 ? config.sample_seconds : 1;
  const double warmup = config.warmup;
  // In-run warm-up: whole samples, rounded up, then the run's duration.
  if (warmup > 0) s.warmup_samples = static_cast<unsigned>(std::ceil(warmup / interval - 1e-9));
  const double total = s.warmup_samples * interval + config.seconds;
  const Clock::time_point end = t0 + ToDuration(total);
  uint64_t prev = 0, at_warm_end = 0;
  Clock::time_point warm_end = t0;
  for (unsigned n = 1;; n++) {
    Clock::time_point next = t0 + ToDuration(n * interval);
    if (next > end) next = end;
    if (wait(next)) break;
    uint64_t now = records();
    s.samples.push_back(now - prev);
    prev = now;
    if (n == s.warmup_samples) {
      at_warm_end = now;
      warm_end = next;
    }
    if (next >= end) {
      s.measured_records = now - at_warm_end;
      s.measured_seconds = std::chrono::duration<double>(next - warm_end).count();
      break;
    }
  }
  return s;
}

void Fill(RunResult& result, const Sampled& s, bool warmup_in_run) {
  result.samples = s.samples;
  if (!warmup_in_run) return;
  result.warmup_samples = s.warmup_samples;
  result.total.records = s.measured_records;
  result.seconds = s.measured_seconds;
}

void SumWorkers(RunResult& result, bool keep_records) {
  bool faults_known = true;
  uint64_t faults = 0, records = 0;
  for (const WorkerCounters& c : result.per_thread) {
    records += c.records;
    result.total.pages += c.pages;
    result.total.iterations += c.iterations;
    result.total.timed_ns += c.timed_ns;
    if (c.faults)
      faults += *c.faults;
    else
      faults_known = false;
  }
  if (!keep_records) result.total.records = records;
  if (faults_known) result.total.faults = faults;
}

}  // namespace

unsigned Workload::DefaultThreads() const {
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<unsigned>(cpus) : 1;
}

RunResult RunWorkload(Backend& backend, Workload& workload, const RunConfig& config) {
  if (config.threads == 0) throw Error("--threads must be at least 1");
  const bool sampled_warmup = workload.WarmupInRun() && config.iterations == 0;
  if (config.warmup > 0 && config.iterations == 0 && !sampled_warmup) {
    RunConfig warm = config;
    warm.seconds = config.warmup;
    warm.warmup = 0;
    warm.kernel_counters = false;
    RunWorkload(backend, workload, warm);
  }
  RunConfig run_config = config;
  if (!sampled_warmup) run_config.warmup = 0;

  RunResult result;
  result.per_thread.resize(config.threads);
  result.sample_seconds = config.sample_seconds;

  std::unique_ptr<BackendThread> main = backend.Attach(0);
  workload.Setup(backend, *main, config.threads);
  main->Flush();
  // The runner only waits from here to the teardown: it runs no more in
  // the space, and on Linux its CPU would not take the workers' shootdowns.
  main->Deschedule();

  KernelCounters kernel(config.kernel_counters);
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
        thread->Deschedule();
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
  kernel.Start();
  result.before = backend.Stats();
  rusage ru0{}, ru1{};
  getrusage(RUSAGE_SELF, &ru0);
  auto t0 = Clock::now();
  go.count_down();
  Sampled sampled;
  if (config.iterations == 0) {
    sampled = SampleRun(
        run_config, t0,
        [&] {
          uint64_t sum = 0;
          for (const WorkerCounters& c : result.per_thread) sum += c.records.load();
          return sum;
        },
        [&](Clock::time_point until) { return failure.WaitUntil(until); });
    stop = true;
  }
  for (std::thread& t : workers) t.join();
  auto t1 = Clock::now();
  getrusage(RUSAGE_SELF, &ru1);
  result.after = backend.Stats();
  result.kernel = kernel.Delta();

  result.seconds = result.run_seconds = std::chrono::duration<double>(t1 - t0).count();
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

  SumWorkers(result, false);
  Fill(result, sampled, sampled_warmup);

  result.delta = result.after;
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
    result.delta.counter[i] = result.after.counter[i] - result.before.counter[i];
  return result;
}

namespace {

// What a worker process shares with the parent: its counters, written only
// by it, read by the parent's sampler; its space's counters before and
// after; and the first line of its error.
struct ProcessSlot {
  WorkerCounters counters;
  shadowmm_stats before{};
  shadowmm_stats after{};
  double user_seconds = 0;  // getrusage of the worker over the run
  double sys_seconds = 0;
  bool failed = false;
  char error[256] = {};
};

struct ProcessShared {
  std::atomic<bool> stop{false};
};

// Anonymous MAP_SHARED memory for @n slots and the flag, inherited across
// fork(); the objects are constructed in place and destroyed with it.
class SharedArea {
 public:
  explicit SharedArea(unsigned n) : n_(n) {
    bytes_ = sizeof(ProcessShared) + 64 + n * sizeof(ProcessSlot);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw SysError("mmap of the workers' shared counters", errno);
    base_ = static_cast<char*>(p);
    shared_ = std::construct_at(reinterpret_cast<ProcessShared*>(base_));
    slots_ = reinterpret_cast<ProcessSlot*>(base_ + 64 * ((sizeof(ProcessShared) + 63) / 64));
    for (unsigned i = 0; i < n; i++) std::construct_at(&slots_[i]);
  }
  ~SharedArea() {
    for (unsigned i = 0; i < n_; i++) std::destroy_at(&slots_[i]);
    std::destroy_at(shared_);
    munmap(base_, bytes_);
  }
  SharedArea(const SharedArea&) = delete;
  SharedArea& operator=(const SharedArea&) = delete;

  ProcessShared& shared() { return *shared_; }
  ProcessSlot& slot(unsigned i) { return slots_[i]; }

 private:
  unsigned n_;
  size_t bytes_ = 0;
  char* base_ = nullptr;
  ProcessShared* shared_ = nullptr;
  ProcessSlot* slots_ = nullptr;
};

class Pipe {
 public:
  Pipe() {
    if (pipe2(fds_, O_CLOEXEC)) throw SysError("pipe", errno);
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  int read_fd() const { return fds_[0]; }
  int write_fd() const { return fds_[1]; }
  void CloseRead() {
    if (fds_[0] >= 0) close(fds_[0]);
    fds_[0] = -1;
  }
  void CloseWrite() {
    if (fds_[1] >= 0) close(fds_[1]);
    fds_[1] = -1;
  }

 private:
  int fds_[2] = {-1, -1};
};

void CopyError(ProcessSlot& slot, const char* what) {
  slot.failed = true;
  std::snprintf(slot.error, sizeof(slot.error), "%s", what);
}

// One worker process: its own backend and workload, set up, then the start
// line (the parent closes @go), the run, the teardown.  Never returns.
[[noreturn]] void WorkerProcess(unsigned index, const BackendConfig& backend_config,
                                const WorkloadOptions& workload_options, const RunConfig& config,
                                bool separate_warmup, ProcessShared& shared, ProcessSlot& slot,
                                Pipe& ready, Pipe& go) {
  ready.CloseRead();
  go.CloseWrite();
  char byte = 0;
  bool signalled = false;
  try {
    if (!config.cpus.empty()) PinTo(config.cpus[index % config.cpus.size()]);
    BackendConfig bc = backend_config;
    bc.threads = 1;
    std::unique_ptr<Backend> backend = MakeBackend(bc);
    std::unique_ptr<Workload> workload = MakeWorkload(workload_options);
    if (separate_warmup) {
      RunConfig warm;
      warm.threads = 1;
      warm.seconds = config.warmup;
      warm.sample_seconds = config.sample_seconds;
      RunWorkload(*backend, *workload, warm);
    }
    std::unique_ptr<BackendThread> main = backend->Attach(0);
    workload->Setup(*backend, *main, 1);
    main->Flush();
    std::unique_ptr<BackendThread> thread = backend->Attach(1);
    slot.before = backend->Stats();
    signalled = write(ready.write_fd(), &byte, 1) == 1;
    // The parent closes its end of @go to release every worker at once.
    while (read(go.read_fd(), &byte, 1) < 0 && errno == EINTR) {
    }
    rusage ru0{}, ru1{};
    getrusage(RUSAGE_SELF, &ru0);
    if (!shared.stop.load()) {
      std::optional<uint64_t> faults0 = thread->Faults();
      WorkerContext ctx(0, 1, *thread, slot.counters, shared.stop, config.iterations);
      try {
        workload->Run(*backend, ctx);
        thread->Flush();
      } catch (...) {
        shared.stop = true;
        throw;
      }
      std::optional<uint64_t> faults1 = thread->Faults();
      if (faults0 && faults1) slot.counters.faults = *faults1 - *faults0;
    }
    getrusage(RUSAGE_SELF, &ru1);
    slot.user_seconds = Seconds(ru1.ru_utime) - Seconds(ru0.ru_utime);
    slot.sys_seconds = Seconds(ru1.ru_stime) - Seconds(ru0.ru_stime);
    slot.after = backend->Stats();
    workload->Teardown(*backend, *main);
    main->Flush();
  } catch (const std::exception& e) {
    CopyError(slot, e.what());
    shared.stop = true;
  }
  if (!signalled) (void)!write(ready.write_fd(), &byte, 1);
  _exit(slot.failed ? 1 : 0);
}

}  // namespace

unsigned ThreadsOfThisProcess() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("Threads:", 0) == 0) return static_cast<unsigned>(std::stoul(line.substr(8)));
  return 1;
}

RunResult RunWorkloadProcesses(const BackendConfig& backend_config,
                               const WorkloadOptions& workload_options, const RunConfig& config) {
  if (config.threads == 0) throw Error("--threads must be at least 1");
  // A child gets only the forking thread: a lock another thread held, or an
  // RCU reader it was, would stay so in the child forever.
  if (unsigned n = ThreadsOfThisProcess(); n > 1)
    throw Error("worker processes must be forked from a single-threaded process (this one has " +
                std::to_string(n) + " threads)");
  // Validates the options in this process, so a bad one fails here, once.
  const bool warmup_in_run = MakeWorkload(workload_options)->WarmupInRun();
  const bool sampled_warmup = warmup_in_run && config.iterations == 0 && config.warmup > 0;
  const bool separate_warmup = !warmup_in_run && config.iterations == 0 && config.warmup > 0;
  RunConfig run_config = config;
  if (!sampled_warmup) run_config.warmup = 0;

  SharedArea area(config.threads);
  Pipe ready, go;
  KernelCounters kernel(config.kernel_counters);
  std::fflush(nullptr);
  std::vector<pid_t> pids;
  for (unsigned i = 0; i < config.threads; i++) {
    pid_t pid = fork();
    if (pid < 0) {
      area.shared().stop = true;
      go.CloseWrite();
      for (pid_t p : pids) waitpid(p, nullptr, 0);
      throw SysError("fork", errno);
    }
    if (pid == 0)
      WorkerProcess(i, backend_config, workload_options, config, separate_warmup, area.shared(),
                    area.slot(i), ready, go);
    pids.push_back(pid);
  }
  ready.CloseWrite();
  go.CloseRead();

  // Every worker says it is ready (or failed) once; a worker killed before
  // that closes its end, so the read ends early instead of hanging.
  auto any_failed = [&] {
    for (unsigned i = 0; i < config.threads; i++)
      if (area.slot(i).failed) return true;
    return false;
  };
  char bytes[64];
  for (unsigned got = 0; got < config.threads;) {
    ssize_t n = read(ready.read_fd(), bytes, std::min<size_t>(sizeof(bytes), config.threads - got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<unsigned>(n);
  }
  if (any_failed()) area.shared().stop = true;
  kernel.Start();
  auto t0 = Clock::now();
  go.CloseWrite();

  RunResult result;
  result.sample_seconds = config.sample_seconds;
  Sampled sampled;
  if (config.iterations == 0 && !area.shared().stop.load()) {
    sampled = SampleRun(
        run_config, t0,
        [&] {
          uint64_t sum = 0;
          for (unsigned i = 0; i < config.threads; i++) sum += area.slot(i).counters.records.load();
          return sum;
        },
        [&](Clock::time_point until) {
          // Wakes every 50 ms to notice a failed worker, as Failure does
          // for threads.
          while (Clock::now() < until) {
            if (area.shared().stop.load() || any_failed()) return true;
            std::this_thread::sleep_for(
                std::min<Clock::duration>(until - Clock::now(), std::chrono::milliseconds(50)));
          }
          return false;
        });
  }
  // With --iterations the workers stop by themselves (or at a failure,
  // which raises the flag).
  if (config.iterations == 0) area.shared().stop = true;
  std::string crashed;
  for (unsigned i = 0; i < pids.size(); i++) {
    int status = 0;
    while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) && crashed.empty())
      crashed = "worker process " + std::to_string(i) + " killed by signal " +
                std::to_string(WTERMSIG(status));
  }
  auto t1 = Clock::now();
  result.kernel = kernel.Delta();
  for (unsigned i = 0; i < config.threads; i++)
    if (area.slot(i).failed) throw Error(area.slot(i).error);
  if (!crashed.empty()) throw Error(crashed);

  result.seconds = result.run_seconds = std::chrono::duration<double>(t1 - t0).count();
  result.per_thread.reserve(config.threads);
  // Counters of the processes' spaces, summed: each before/after pair is
  // one space's.  Gauges: the sum at each worker's end.
  for (unsigned i = 0; i < config.threads; i++) {
    const ProcessSlot& slot = area.slot(i);
    result.per_thread.push_back(slot.counters);
    result.user_seconds += slot.user_seconds;
    result.sys_seconds += slot.sys_seconds;
    for (unsigned c = 0; c < SHADOWMM_NR_COUNTERS; c++) {
      result.before.counter[c] += slot.before.counter[c];
      result.after.counter[c] += slot.after.counter[c];
    }
    result.after.pages_live += slot.after.pages_live;
    result.after.tables_live += slot.after.tables_live;
    result.after.vmas_live += slot.after.vmas_live;
    result.after.mms_live += slot.after.mms_live;
    result.after.nr_counters = slot.after.nr_counters;
  }
  SumWorkers(result, false);
  Fill(result, sampled, sampled_warmup);
  result.delta = result.after;
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
    result.delta.counter[i] = result.after.counter[i] - result.before.counter[i];
  return result;
}

}  // namespace shadowmm
