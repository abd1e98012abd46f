// SPDX-License-Identifier: GPL-2.0
//
// uffd: missing faults resolved by other threads, after the kernel's
// tools/testing/selftests/mm/uffd-stress.  Before the clock one mapping of
// --uffd_pages pages per faulting thread is registered for missing
// faults.  Faulting threads walk their own pages: each read faults,
// waits until a resolver has installed the page, checks that it holds the
// page's pattern, and zaps the page so the next read faults again.
// Resolver threads (--uffd_resolvers) read events and copy in a page of
// the pattern (on EEXIST, where another resolver came first, they wake the
// fault).  With --uffd_mapper one more thread maps, writes and unmaps
// elsewhere in the space meanwhile, an mmap_lock writer for the policies
// that retry under it.  Threads are faulting threads first, then the
// resolvers, then the mapper.  Records are resolved faults; the summary
// gives how long a fault waited (the read that faulted, to its return),
// median and p99.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <vector>

#include "workloads.h"

namespace shadowmm {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t Pattern(uint64_t addr) { return 0x0ffd000000000000ULL ^ addr; }

class Uffd : public Workload {
 public:
  Uffd(uint64_t pages, unsigned resolvers, bool mapper)
      : pages_(pages), resolvers_(resolvers), mapper_(mapper) {}

  std::string_view Name() const override { return "uffd"; }
  std::string_view RecordUnit() const override { return "faults"; }
  // uffd-stress's shape on this terms: 4 faulting threads, 2
  // resolvers and the mapper.
  unsigned DefaultThreads() const override { return 4 + resolvers_ + (mapper_ ? 1 : 0); }

  std::map<std::string, std::string> Config() const override {
    std::map<std::string, std::string> config = {{"pages", std::to_string(pages_)},
                                                 {"resolvers", std::to_string(resolvers_)},
                                                 {"mapper", mapper_ ? "1" : "0"}};
    if (faulters_) config["faulters"] = std::to_string(faulters_);
    return config;
  }
  std::map<std::string, double> Results() const override {
    if (wait_ns_.empty()) return {};
    return {{"wait_ns_p50", static_cast<double>(Percentile(50))},
            {"wait_ns_p99", static_cast<double>(Percentile(99))},
            {"copies", static_cast<double>(copies_.load())},
            {"copies_eexist", static_cast<double>(eexist_.load())},
            {"mapper_maps", static_cast<double>(maps_.load())}};
  }

  std::string Summary() const override {
    if (wait_ns_.empty()) return {};
    char buf[256];
    std::snprintf(buf, sizeof(buf),
                  "userfault wait median %.1f us p99 %.1f us of %zu faults; %llu copies "
                  "(%llu EEXIST); mapper %llu maps\n",
                  Percentile(50) / 1e3, Percentile(99) / 1e3, wait_ns_.size(),
                  static_cast<unsigned long long>(copies_.load()),
                  static_cast<unsigned long long>(eexist_.load()),
                  static_cast<unsigned long long>(maps_.load()));
    return buf;
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    if (threads < resolvers_ + (mapper_ ? 1u : 0u) + 1)
      throw Error("uffd workload: " + std::to_string(threads) + " threads leave none to fault (" +
                  std::to_string(resolvers_) + " resolvers" + (mapper_ ? ", a mapper" : "") + ")");
    page_ = backend.PageSize();
    faulters_ = threads - resolvers_ - (mapper_ ? 1 : 0);
    faulters_done_ = 0;
    copies_ = eexist_ = maps_ = 0;
    wait_ns_.clear();
    per_thread_ns_.assign(faulters_, {});
    error_.clear();
    bytes_ = faulters_ * pages_ * page_;
    base_ = main.Map(bytes_, Prot::kReadWrite);
    channel_ = backend.OpenUserfaults();
    channel_->Register(base_, bytes_);
  }

  void Run(Backend&, WorkerContext& ctx) override {
    if (ctx.index < faulters_) {
      Fault(ctx);
    } else if (ctx.index < faulters_ + resolvers_) {
      Resolve();
    } else {
      Map(ctx.thread);
    }
  }

  void Teardown(Backend&, BackendThread& main) override {
    channel_.reset();
    main.Unmap(base_, bytes_);
    for (auto& v : per_thread_ns_) wait_ns_.insert(wait_ns_.end(), v.begin(), v.end());
    std::sort(wait_ns_.begin(), wait_ns_.end());
    if (!error_.empty()) throw Error(error_);
  }

 private:
  // Counts a faulting thread out however it leaves, so that resolvers
  // and the mapper stop once none is left to wait for them.
  struct Done {
    std::atomic<unsigned>& n;
    ~Done() { n++; }
  };

  void Fault(WorkerContext& ctx) {
    Done done{faulters_done_};
    BackendThread& t = ctx.thread;
    const uint64_t slice = base_ + ctx.index * pages_ * page_;
    std::vector<uint64_t>& ns = per_thread_ns_[ctx.index];
    uint64_t i = 0;
    while (ctx.Next()) {
      const uint64_t addr = slice + (i++ % pages_) * page_;
      auto t0 = Clock::now();
      const uint64_t v = t.Load(addr + 8);
      ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
      if (v != Pattern(addr)) {
        char buf[128];
        std::snprintf(buf, sizeof(buf), "uffd workload: page %#llx read %#llx, expected %#llx",
                      static_cast<unsigned long long>(addr), static_cast<unsigned long long>(v),
                      static_cast<unsigned long long>(Pattern(addr)));
        throw Error(buf);
      }
      t.Zap(addr, page_);
      ctx.counters.records++;
      ctx.counters.pages++;
    }
    t.Flush();
  }

  void Resolve() {
    std::vector<uint64_t> buf(page_ / sizeof(uint64_t));
    while (faulters_done_.load() < faulters_) {
      std::vector<UserfaultEvent> events;
      try {
        events = channel_->Read(16, 20);
        for (const UserfaultEvent& e : events) {
          std::fill(buf.begin(), buf.end(), Pattern(e.addr));
          if (channel_->Copy(e.addr, buf.data()))
            copies_++;
          else
            eexist_++;
        }
      } catch (const Error& e) {
        // Faults wait on us: note it, and go on resolving what we can.
        std::lock_guard<std::mutex> g(error_lock_);
        if (error_.empty()) error_ = std::string("uffd resolver: ") + e.what();
      }
    }
  }

  void Map(BackendThread& t) {
    while (faulters_done_.load() < faulters_) {
      const uint64_t addr = t.Map(4 * page_, Prot::kReadWrite);
      t.Touch(addr, 4 * page_, page_, Access::kWrite, 1);
      t.Unmap(addr, 4 * page_);
      maps_++;
    }
    t.Flush();
  }

  uint64_t Percentile(unsigned p) const {
    size_t rank = (wait_ns_.size() * p + 99) / 100;
    return wait_ns_[std::max<size_t>(rank, 1) - 1];
  }

  const uint64_t pages_;
  const unsigned resolvers_;
  const bool mapper_;
  uint64_t page_ = 0;
  unsigned faulters_ = 0;
  uint64_t base_ = 0;
  uint64_t bytes_ = 0;
  std::unique_ptr<Userfaults> channel_;
  std::atomic<unsigned> faulters_done_{0};
  std::atomic<uint64_t> copies_{0}, eexist_{0}, maps_{0};
  std::vector<std::vector<uint64_t>> per_thread_ns_;
  std::vector<uint64_t> wait_ns_;  // all of them, sorted after the run
  std::mutex error_lock_;
  std::string error_;
};

}  // namespace

std::unique_ptr<Workload> MakeUffd(const WorkloadOptions& options) {
  if (options.uffd_pages == 0) throw Error("--uffd_pages must be positive");
  return std::make_unique<Uffd>(options.uffd_pages, options.uffd_resolvers, options.uffd_mapper);
}

}  // namespace shadowmm
