// SPDX-License-Identifier: GPL-2.0
//
// cow: copy-on-write faults after fork, in the spirit of will-it-scale's
// page_fault2 and vm-scalability's anon-cow.  The parent maps --cow_size
// and writes every page before the clock starts; then in rounds: fork,
// the workers each write one word into every page of their share of the
// region in the parent, the child goes away.  The child still maps every
// page while they write, so every write is a COW fault that copies (the
// kernel's refcount is two; after the child is gone the parent's new
// pages are its own again, and the next fork shares them anew).  Records
// are pages written, i.e. COW faults.
//
// The writers are the parent's, not the child's, so the workers keep the
// threads and the space they were attached to, and a stock child process
// needs no threads of its own: after fork() in a multi-threaded process
// it only waits on a pipe and _exit()s (async-signal-safe, and TSan
// refuses threads started in such a child).  Either way round a write
// finds a page two spaces map, so the fault is the same.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cerrno>
#include <cstring>
#include <memory>

#include "workloads.h"

namespace shadowmm {
namespace {

constexpr uint64_t kParentValue = 0x5eed;
constexpr uint64_t kRoundValue = 0xc0ffee;

// Faults this thread has taken, minor and major (stock only).
uint64_t ThreadFaults() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
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
    return {{"bytes", std::to_string(bytes_)}};
  }
  std::map<std::string, double> Results() const override {
    if (!rounds_) return {};
    std::map<std::string, double> out = {{"rounds", static_cast<double>(rounds_)}};
    if (stock_) out["writers_faults"] = static_cast<double>(writers_faults_.load());
    return out;
  }
  std::string Summary() const override {
    if (!rounds_) return {};
    std::string line = "forks " + std::to_string(rounds_);
    if (stock_)
      line +=
          ", the writers' faults " + std::to_string(writers_faults_.load()) + " (RUSAGE_THREAD)";
    return line + "\n";
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
    writers_faults_ = 0;
    phase_ = 0;
    done_ = false;
    want_stop_ = false;
    base_ = main.Map(pages_ * page_, Prot::kReadWrite);
    main.Touch(base_, pages_ * page_, page_, Access::kWrite, kParentValue);
    barrier_ = std::make_unique<std::barrier<Completion>>(threads, Completion{this});
  }

  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    try {
      Vote(ctx);
      barrier_->arrive_and_wait();
      while (!done_.load(std::memory_order_relaxed)) {
        if (ctx.index == 0) {
          t.Flush();
          if (stock_)
            StartChildProcess();
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
        const uint64_t faults_before = stock_ ? ThreadFaults() : 0;
        const uint64_t written = WriteShare(t, ctx.index);
        if (stock_) writers_faults_ += ThreadFaults() - faults_before;
        ctx.counters.records += written;
        ctx.counters.pages += written;
        Vote(ctx);
        barrier_->arrive_and_wait();
        if (ctx.index == 0) {
          if (stock_)
            EndChildProcess();
          else
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
    if (child_pid_ > 0) EndChildProcess();
    main.Unmap(base_, pages_ * page_);
    barrier_.reset();
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
    t.Touch(base_ + first * page_, (last - first) * page_, page_, Access::kWrite, kRoundValue);
    return last - first;
  }

  // fork(): the child keeps the parent's pages mapped until the pipe
  // closes, calling nothing but close(), read() and _exit().
  void StartChildProcess() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw SysError("pipe2", errno);
    pid_t pid = fork();
    if (pid < 0) {
      int err = errno;
      close(fds[0]);
      close(fds[1]);
      throw SysError("fork", err);
    }
    if (pid == 0) {
      char c;
      close(fds[1]);
      while (read(fds[0], &c, 1) < 0 && errno == EINTR) {
      }
      _exit(0);
    }
    close(fds[0]);
    child_pid_ = pid;
    child_pipe_ = fds[1];
  }

  void EndChildProcess() {
    close(child_pipe_);
    child_pipe_ = -1;
    pid_t pid = child_pid_;
    child_pid_ = -1;
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

  uint64_t bytes_;
  uint64_t page_ = 0;
  uint64_t pages_ = 0;
  uint64_t base_ = 0;
  unsigned threads_ = 1;
  bool stock_ = false;
  uint64_t rounds_ = 0;
  std::atomic<uint64_t> writers_faults_{0};  // stock: faults taken in WriteShare()
  std::unique_ptr<Backend> child_;           // this round's child space (shadow)
  pid_t child_pid_ = -1;                     // this round's child process (stock)
  int child_pipe_ = -1;                      // its end closes when the round ends
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
