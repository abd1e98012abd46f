// SPDX-License-Identifier: GPL-2.0
//
// cow: copy-on-write faults after fork, in the spirit of will-it-scale's
// page_fault2 and vm-scalability's anon-cow.  The parent maps --cow_size
// and writes every page before the clock starts; then in rounds: fork, the
// workers each write one word into every page of their share of the
// region in the child, the child is destroyed.  Every such write finds a
// page the parent still maps, so it is a COW fault that copies.  Records
// are pages written in a child, i.e. COW faults.
//
// Shadow backends fork the space (Backend::Fork()) and the workers attach
// to the child.  Stock forks the process: worker 0 calls fork(), and the
// child process runs one thread per worker, pinned where that worker is,
// which write the shares and count them in shared memory; the child exits
// and the workers add its counts once worker 0 has reaped it.  The
// parent's workers wait at a barrier meanwhile, so only the child's
// threads run.
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "workloads.h"

namespace shadowmm {
namespace {

constexpr uint64_t kParentValue = 0x5eed;
constexpr uint64_t kChildValue = 0xc0ffee;

// Counters in anonymous MAP_SHARED memory, which the child processes
// inherit: one per worker, each in its own cache line, constructed in
// place and destroyed with it.
class SharedCounters {
 public:
  explicit SharedCounters(unsigned n) : n_(n) {
    void* p = mmap(nullptr, Bytes(), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw SysError("mmap of the cow workload's shared counters", errno);
    slots_ = static_cast<Slot*>(p);
    for (unsigned i = 0; i < n_; i++) std::construct_at(&slots_[i]);
  }
  ~SharedCounters() {
    for (unsigned i = 0; i < n_; i++) std::destroy_at(&slots_[i]);
    munmap(slots_, Bytes());
  }
  SharedCounters(const SharedCounters&) = delete;
  SharedCounters& operator=(const SharedCounters&) = delete;
  RelaxedCounter& operator[](unsigned i) { return slots_[i].pages; }

 private:
  struct alignas(64) Slot {
    RelaxedCounter pages;
  };
  size_t Bytes() const { return n_ * sizeof(Slot); }
  unsigned n_;
  Slot* slots_ = nullptr;
};

uint64_t ChildrenFaults() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return static_cast<uint64_t>(ru.ru_minflt) + static_cast<uint64_t>(ru.ru_majflt);
}

class Cow : public Workload {
 public:
  explicit Cow(uint64_t bytes) : bytes_(bytes) {}

  std::string_view Name() const override { return "cow"; }
  std::string_view RecordUnit() const override { return "pages"; }
  // In-process, the first fork of a run without warm-up took 0.5-0.65 s
  // where the others took 33 ms (fork, 1 thread, 10,000 VMAs; with
  // --warmup=1 or in a second repetition the slowest was 48-64 ms),
  // presumably the core's first allocations growing the heap.
  double DefaultWarmupSeconds() const override { return 1; }
  std::map<std::string, std::string> Config() const override {
    std::map<std::string, std::string> config = {{"bytes", std::to_string(bytes_)}};
    if (rounds_) {
      config["rounds"] = std::to_string(rounds_);
      if (stock_) {
        config["children_faults"] = std::to_string(children_faults_);
      } else {
        config["child_cow_fault"] = std::to_string(child_cow_fault_);
        config["child_cow_copy"] = std::to_string(child_cow_copy_);
        config["child_cow_reuse"] = std::to_string(child_cow_reuse_);
      }
    }
    return config;
  }
  std::string Summary() const override {
    if (!rounds_) return {};
    if (stock_)
      return "forks " + std::to_string(rounds_) + ", child processes' faults " +
             std::to_string(children_faults_) + " (RUSAGE_CHILDREN)\n";
    return "forks " + std::to_string(rounds_) + ", child spaces' cow_fault " +
           std::to_string(child_cow_fault_) + " cow_copy " + std::to_string(child_cow_copy_) +
           " cow_reuse " + std::to_string(child_cow_reuse_) + "\n";
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    page_ = backend.PageSize();
    pages_ = RoundUp(bytes_, page_) / page_;
    if (pages_ < threads)
      throw Error("cow workload: --cow_size of " + std::to_string(pages_) +
                  " pages gives some of the " + std::to_string(threads) + " threads none");
    stock_ = backend.IsThisProcess();
    threads_ = threads;
    rounds_ = 0;
    child_cow_fault_ = child_cow_copy_ = child_cow_reuse_ = 0;
    phase_ = 0;
    done_ = false;
    want_stop_ = false;
    child_failed_ = false;
    if (stock_) {
      shared_ = std::make_unique<SharedCounters>(threads);
      cpus_.assign(threads, cpu_set_t{});
      children_faults_ = ChildrenFaults();
    }
    base_ = main.Map(pages_ * page_, Prot::kReadWrite);
    main.Touch(base_, pages_ * page_, page_, Access::kWrite, kParentValue);
    barrier_ = std::make_unique<std::barrier<Completion>>(threads, Completion{this});
  }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    try {
      if (stock_ && sched_getaffinity(0, sizeof(cpu_set_t), &cpus_[ctx.index]) != 0)
        throw SysError("sched_getaffinity", errno);
      Vote(ctx);
      barrier_->arrive_and_wait();
      while (!done_.load(std::memory_order_relaxed)) {
        if (ctx.index == 0) {
          t.Flush();
          if (stock_)
            RunChildProcess(backend);
          else
            child_ = backend.Fork();
          rounds_++;
        }
        barrier_->arrive_and_wait();
        if (!stock_ && !child_) {
          // Worker 0 failed to fork and left: its error is the run's.
          barrier_->arrive_and_drop();
          return;
        }
        uint64_t written;
        if (stock_) {
          written = (*shared_)[ctx.index].load();
          (*shared_)[ctx.index] = 0;
        } else {
          std::unique_ptr<BackendThread> ct = child_->Attach(ctx.index + 1);
          written = WriteShare(*ct, ctx.index);
          ct->Flush();
        }
        ctx.counters.records += written;
        ctx.counters.pages += written;
        Vote(ctx);
        barrier_->arrive_and_wait();
        if (ctx.index == 0 && child_) {
          shadowmm_stats st = child_->Stats();
          child_cow_fault_ += st.counter[SHADOWMM_EV_COW_FAULT];
          child_cow_copy_ += st.counter[SHADOWMM_EV_COW_COPY];
          child_cow_reuse_ += st.counter[SHADOWMM_EV_COW_REUSE];
          child_.reset();
        }
      }
    } catch (...) {
      // The others must not wait for this thread at the next barrier.
      want_stop_ = true;
      barrier_->arrive_and_drop();
      throw;
    }
  }

  void Teardown(Backend&, BackendThread& main) override {
    child_.reset();
    main.Unmap(base_, pages_ * page_);
    barrier_.reset();
    if (stock_) {
      shared_.reset();
      children_faults_ = ChildrenFaults() - children_faults_;
    }
  }

 private:
  // Runs once per phase, by the last thread to arrive, before any leaves:
  // every even phase (after the votes) decides for all of them.
  struct Completion {
    Cow* self;
    void operator()() noexcept {
      if (self->phase_++ % 2 == 0) self->done_.store(self->want_stop_.load());
    }
  };

  void Vote(WorkerContext& ctx) {
    if (!ctx.Next()) want_stop_.store(true);
  }

  // Worker @index's share: pages [first, last) of the region.
  uint64_t WriteShare(BackendThread& t, unsigned index) const {
    uint64_t first = pages_ * index / threads_;
    uint64_t last = pages_ * (index + 1) / threads_;
    t.Touch(base_ + first * page_, (last - first) * page_, page_, Access::kWrite, kChildValue);
    return last - first;
  }

  // fork(): the child process writes every share, a thread per worker,
  // and exits; this (worker 0) reaps it.  The child calls only what is
  // safe after a multi-threaded fork in glibc (thread creation, the
  // stores), and leaves by _exit() without running the parent's
  // destructors.
  void RunChildProcess(Backend& backend) {
    pid_t pid = fork();
    if (pid < 0) throw SysError("fork", errno);
    if (pid == 0) _exit(ChildProcess(backend));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) throw SysError("waitpid", errno);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      throw Error("cow workload: the child process failed (" +
                  std::string(WIFEXITED(status)
                                  ? "exit status " + std::to_string(WEXITSTATUS(status))
                                  : strsignal(WTERMSIG(status))) +
                  ")");
  }

  int ChildProcess(Backend& backend) {
    try {
      std::vector<std::thread> threads;
      for (unsigned i = 1; i < threads_; i++) {
        threads.emplace_back([this, &backend, i] {
          try {
            sched_setaffinity(0, sizeof(cpu_set_t), &cpus_[i]);
            std::unique_ptr<BackendThread> t = backend.Attach(i + 1);
            (*shared_)[i] = WriteShare(*t, i);
          } catch (...) {
            child_failed_ = true;
          }
        });
      }
      std::unique_ptr<BackendThread> t = backend.Attach(1);
      (*shared_)[0] = WriteShare(*t, 0);
      for (std::thread& th : threads) th.join();
    } catch (...) {
      return 1;
    }
    return child_failed_ ? 1 : 0;
  }

  uint64_t bytes_;
  uint64_t page_ = 0;
  uint64_t pages_ = 0;
  uint64_t base_ = 0;
  unsigned threads_ = 1;
  bool stock_ = false;
  uint64_t rounds_ = 0;
  uint64_t child_cow_fault_ = 0;
  uint64_t child_cow_copy_ = 0;
  uint64_t child_cow_reuse_ = 0;
  uint64_t children_faults_ = 0;
  std::unique_ptr<Backend> child_;          // this round's child space (shadow)
  std::unique_ptr<SharedCounters> shared_;  // stock: pages each child thread wrote
  std::vector<cpu_set_t> cpus_;             // stock: where each worker runs
  std::atomic<bool> child_failed_{false};
  uint64_t phase_ = 0;
  std::atomic<bool> done_{false};
  std::atomic<bool> want_stop_{false};
  std::unique_ptr<std::barrier<Completion>> barrier_;
};

}  // namespace

std::unique_ptr<Workload> MakeCow(const WorkloadOptions& options) {
  if (options.cow_bytes == 0) throw Error("--cow_size must be positive");
  return std::make_unique<Cow>(options.cow_bytes);
}

}  // namespace shadowmm
