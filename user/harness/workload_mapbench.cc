// SPDX-License-Identifier: GPL-2.0
//
// mapbench: after RadixVM's (Clements, Kaashoek, Zeldovich, EuroSys 2013;
// bin/mapbench.cc in sv6), mmap, page faults and munmap under three
// sharing patterns, to see what an unmap costs in TLB shootdowns:
//  - local: each thread maps --mapbench_pages pages, writes every page
//    and unmaps them, again.  No other thread ever touches them, so a VM
//    system that knew which CPUs cached a page would shoot down nothing.
//  - pipeline: thread i maps and writes a region and hands it to thread
//    i + 1 (the last to 0), which writes every page too and unmaps it, so
//    every unmap must reach the CPU that wrote the region first.  One
//    region in flight per pair, as sv6's pipeline_width of 1.
//  - global: in rounds, every thread writes every page of one shared
//    region of threads x --mapbench_pages pages; barrier; thread 0 unmaps
//    it and maps a new one; barrier.  Every unmap reaches every thread.
//    (sv6's global differs: each thread maps its own part afresh, FIXED
//    over the old one, and writes random pages of the whole.  Here one
//    unmap per round takes the whole region, every page written.)
// Records are page touches (each thread's own writes: pipeline counts a
// region twice, once per thread, as sv6 does).  An iteration is a region's
// life (local: map, write, unmap; pipeline: a region taken over, written
// and unmapped) or a round (global).  The workload counts its unmaps and
// reads the TLB counters of the space around the run (tlb_shootdown,
// tlb_ipi) or, on stock, the TLB line of /proc/interrupts: shootdowns
// per unmap in the summary and in the JSON's results.
#include <sched.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "arena.h"
#include "workloads.h"

namespace shadowmm {
namespace {

enum class MapbenchMode : uint8_t { kLocal, kPipeline, kGlobal };

std::optional<MapbenchMode> ParseMapbenchMode(std::string_view name) {
  if (name == "local") return MapbenchMode::kLocal;
  if (name == "pipeline") return MapbenchMode::kPipeline;
  if (name == "global") return MapbenchMode::kGlobal;
  return std::nullopt;
}

std::string_view MapbenchModeName(MapbenchMode mode) {
  switch (mode) {
    case MapbenchMode::kLocal:
      return "local";
    case MapbenchMode::kPipeline:
      return "pipeline";
    case MapbenchMode::kGlobal:
      return "global";
  }
  return "?";
}

// A spin-wait's pause: lets the sibling hyperthread run and keeps the
// wait from flooding the memory system with loads.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield" ::: "memory");
#endif
}

// CPUs this process may run on (taskset, --node); not what --cpus pins
// the workers to, which the workload does not see.
unsigned CpusAllowed() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 1;
  return static_cast<unsigned>(CPU_COUNT(&set));
}

// TLB shootdown interrupts every CPU has taken so far: the "TLB:" line of
// /proc/interrupts (x86), summed.  Machine-wide: other processes' count
// too.  nullopt where the kernel has no such line.
std::optional<uint64_t> TlbInterrupts() {
  std::ifstream in("/proc/interrupts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    if (name != "TLB:") continue;
    uint64_t sum = 0, n = 0;
    while (fields >> n) sum += n;
    return sum;
  }
  return std::nullopt;
}

// What the TLBs did over the run, read at its edges: the space's counters
// on a shadow backend, the kernel's interrupt count on stock.
struct TlbReading {
  std::optional<uint64_t> shootdowns;  // flushes that interrupted another CPU
  std::optional<uint64_t> ipis;        // CPUs interrupted
};

TlbReading ReadTlb(Backend& backend) {
  if (backend.IsThisProcess()) return {std::nullopt, TlbInterrupts()};
  const shadowmm_stats st = backend.Stats();
  return {st.counter[SHADOWMM_EV_TLB_SHOOTDOWN], st.counter[SHADOWMM_EV_TLB_IPI]};
}

class Mapbench : public Workload {
 public:
  Mapbench(MapbenchMode mode, uint64_t pages) : mode_(mode), pages_(pages) {}

  std::string_view Name() const override { return "mapbench"; }
  std::string_view RecordUnit() const override { return "touches"; }
  // sv6's: 5 s after 1 s of warm-up.
  double DefaultSeconds() const override { return 5; }
  double DefaultWarmupSeconds() const override { return 1; }

  std::map<std::string, std::string> Config() const override {
    return {{"mapbench", std::string(MapbenchModeName(mode_))}, {"pages", std::to_string(pages_)}};
  }

  std::map<std::string, double> Results() const override {
    std::map<std::string, double> out;
    if (!measured_) return out;
    const uint64_t unmaps = unmaps_.load();
    out["unmaps"] = static_cast<double>(unmaps);
    if (mode_ == MapbenchMode::kPipeline)
      out["underflows"] = static_cast<double>(underflows_.load());
    if (unmaps == 0) return out;
    if (shootdowns_) out["shootdowns_per_unmap"] = static_cast<double>(*shootdowns_) / unmaps;
    if (ipis_) out["ipis_per_unmap"] = static_cast<double>(*ipis_) / unmaps;
    return out;
  }

  std::string Summary() const override {
    if (!measured_) return {};
    const uint64_t unmaps = unmaps_.load();
    char buf[320];
    int n = std::snprintf(buf, sizeof(buf), "mapbench %s: %llu unmaps",
                          std::string(MapbenchModeName(mode_)).c_str(),
                          static_cast<unsigned long long>(unmaps));
    auto per_unmap = [&](uint64_t count) {
      return unmaps ? static_cast<double>(count) / unmaps : 0;
    };
    if (shootdowns_ && ipis_) {
      n += std::snprintf(buf + n, sizeof(buf) - n,
                         ", %.3f shootdowns and %.3f CPUs interrupted per unmap "
                         "(tlb_shootdown, tlb_ipi)",
                         per_unmap(*shootdowns_), per_unmap(*ipis_));
    } else if (ipis_) {
      n += std::snprintf(buf + n, sizeof(buf) - n,
                         ", %.3f TLB shootdown interrupts per unmap (/proc/interrupts, all "
                         "CPUs, machine-wide)",
                         per_unmap(*ipis_));
    } else {
      n += std::snprintf(buf + n, sizeof(buf) - n, ", shootdowns not known here");
    }
    if (mode_ == MapbenchMode::kPipeline)
      std::snprintf(buf + n, sizeof(buf) - n, "; %llu underflows",
                    static_cast<unsigned long long>(underflows_.load()));
    return std::string(buf) + "\n";
  }

  void Setup(Backend& backend, BackendThread& main, unsigned threads) override {
    page_ = backend.PageSize();
    region_ = pages_ * page_;
    if (mode_ == MapbenchMode::kGlobal) region_ *= threads;
    // Shadow threads map from an arena of their own.
    if (region_ > AddressArenas::kArenaSize / 2)
      throw Error("mapbench workload: a region of " + std::to_string(region_ / page_) +
                  " pages does not fit a thread's arena (lower --mapbench_pages)");
    threads_ = threads;
    spin_ = threads <= CpusAllowed();
    unmaps_ = 0;
    underflows_ = 0;
    measured_ = false;
    phase_ = 0;
    done_ = false;
    want_stop_ = false;
    channels_ = std::vector<Channel>(threads);
    if (mode_ == MapbenchMode::kGlobal) {
      shared_ = main.Map(region_, Prot::kReadWrite);
      barrier_ = std::make_unique<std::barrier<Completion>>(threads, Completion{this});
    }
    main.Flush();
    before_ = ReadTlb(backend);
  }

  void Run(Backend&, WorkerContext& ctx) override {
    switch (mode_) {
      case MapbenchMode::kLocal:
        RunLocal(ctx);
        break;
      case MapbenchMode::kPipeline:
        RunPipeline(ctx);
        break;
      case MapbenchMode::kGlobal:
        RunGlobal(ctx);
        break;
    }
  }

  void Teardown(Backend& backend, BackendThread& main) override {
    // Before the teardown's own unmaps, which are not the run's.
    const TlbReading after = ReadTlb(backend);
    auto delta = [](std::optional<uint64_t> a,
                    std::optional<uint64_t> b) -> std::optional<uint64_t> {
      if (!a || !b || *b < *a) return std::nullopt;
      return *b - *a;
    };
    shootdowns_ = delta(before_.shootdowns, after.shootdowns);
    ipis_ = delta(before_.ipis, after.ipis);
    measured_ = true;
    // A region handed over that its taker never took: the run stopped.
    for (Channel& c : channels_)
      if (uint64_t addr = c.region.exchange(0)) main.Unmap(addr, region_);
    if (shared_) main.Unmap(shared_, region_);
    shared_ = 0;
    barrier_.reset();
  }

 private:
  // How long an idle pipeline thread spins before it yields, when every
  // thread may have a CPU of its own.
  static constexpr std::chrono::microseconds kSpinLimit{50};

  // Thread i's incoming region (thread i - 1 fills it): 0 when empty.
  // Its own cache line, as sv6's channels: the pair spins on it.
  struct alignas(64) Channel {
    std::atomic<uint64_t> region{0};
  };

  // Runs once per phase, by the last thread to arrive, before any leaves:
  // every even phase (after the votes) decides for all of them.
  struct Completion {
    Mapbench* self;
    void operator()() noexcept {
      if (self->phase_++ % 2 == 0) self->done_.store(self->want_stop_.load());
    }
  };

  void Write(BackendThread& t, uint64_t addr, uint64_t len, WorkerContext& ctx) {
    t.Touch(addr, len, page_, Access::kWrite, ctx.index);
    ctx.counters.records += len / page_;
    ctx.counters.pages += len / page_;
  }

  void RunLocal(WorkerContext& ctx) {
    BackendThread& t = ctx.thread;
    uint64_t unmaps = 0;
    while (ctx.Next()) {
      const uint64_t addr = t.Map(region_, Prot::kReadWrite);
      Write(t, addr, region_, ctx);
      t.Unmap(addr, region_);
      unmaps++;
    }
    t.Flush();
    unmaps_ += unmaps;
  }

  // Produces into the next thread's channel whenever it is empty, takes
  // from its own whenever it is full; never waits for one while the other
  // has work, as sv6 does, which spins meanwhile (here the spin is bounded,
  // below).  With --iterations each thread produces and takes exactly that
  // many regions; on a stop, regions left in a channel are the teardown's.
  void RunPipeline(WorkerContext& ctx) {
    BackendThread& t = ctx.thread;
    Channel& in = channels_[ctx.index];
    Channel& out = channels_[(ctx.index + 1) % threads_];
    const uint64_t limit = ctx.iterations_limit();
    uint64_t produced = 0, taken = 0, underflows = 0;
    bool idle = false;
    std::chrono::steady_clock::time_point idle_since;
    for (;;) {
      bool progress = false;
      if (out.region.load(std::memory_order_acquire) == 0 && (limit == 0 || produced < limit) &&
          !ctx.StopRequested()) {
        const uint64_t addr = t.Map(region_, Prot::kReadWrite);
        Write(t, addr, region_, ctx);
        // The taker's commands must find the region mapped and written.
        t.Flush();
        out.region.store(addr, std::memory_order_release);
        produced++;
        progress = true;
      }
      if (const uint64_t addr = in.region.load(std::memory_order_acquire)) {
        if (!ctx.Next()) break;
        Write(t, addr, region_, ctx);
        t.Unmap(addr, region_);
        // Done before the producer maps again: on a shadow backend its
        // FIXED map may reuse these addresses, and would fail on them.
        t.Flush();
        in.region.store(0, std::memory_order_release);
        taken++;
        progress = true;
      }
      if (ctx.StopRequested() || (limit != 0 && produced == limit && taken == limit)) break;
      if (progress) {
        idle = false;
      } else {
        underflows++;
        // Spin first when each thread can have a CPU: sched_yield() on
        // a machine with other load hands the CPU to a neighbour's task
        // just when the region comes (in-process, 2 pinned threads on
        // this 2-CPU guest under a load of 6: 11-14k touches/s yielding
        // at once, 30-33k spinning up to 50 or 1000 us).  With more
        // threads than CPUs the thread we wait for may need ours: yield
        // at once (both threads on one CPU: 36k spinning 0 us, 19k
        // spinning 50 us; stock 155k and 22k).
        const auto now = std::chrono::steady_clock::now();
        if (!idle) {
          idle = true;
          idle_since = now;
        }
        if (spin_ && now - idle_since < kSpinLimit) {
          for (int i = 0; i < 64; i++) CpuRelax();
        } else {
          std::this_thread::yield();
        }
      }
    }
    unmaps_ += taken;
    underflows_ += underflows;
  }

  void RunGlobal(WorkerContext& ctx) {
    BackendThread& t = ctx.thread;
    try {
      Vote(ctx);
      barrier_->arrive_and_wait();
      while (!done_.load(std::memory_order_relaxed)) {
        // Each thread starts at its own share, so that the first fault of
        // every page is not the same thread's and they do not all queue on
        // one page table lock in step.
        const uint64_t start = ctx.index * pages_ * page_;
        Write(t, shared_ + start, region_ - start, ctx);
        if (start) Write(t, shared_, start, ctx);
        t.Flush();
        barrier_->arrive_and_wait();
        if (ctx.index == 0) {
          t.Unmap(shared_, region_);
          unmaps_++;
          shared_ = t.Map(region_, Prot::kReadWrite);
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

  void Vote(WorkerContext& ctx) {
    if (!ctx.Next()) want_stop_.store(true);
  }

  const MapbenchMode mode_;
  const uint64_t pages_;
  uint64_t page_ = 0;
  uint64_t region_ = 0;  // bytes of each region (global: of the shared one)
  unsigned threads_ = 1;
  bool spin_ = false;              // pipeline: threads wait spinning (no more threads than CPUs)
  std::vector<Channel> channels_;  // pipeline
  uint64_t shared_ = 0;            // global: the region; only thread 0 moves it, between barriers
  std::atomic<uint64_t> unmaps_{0};
  std::atomic<uint64_t> underflows_{0};
  TlbReading before_;
  std::optional<uint64_t> shootdowns_, ipis_;  // over the run
  bool measured_ = false;
  uint64_t phase_ = 0;
  std::atomic<bool> done_{false};
  std::atomic<bool> want_stop_{false};
  std::unique_ptr<std::barrier<Completion>> barrier_;
};

}  // namespace

std::unique_ptr<Workload> MakeMapbench(const WorkloadOptions& options) {
  std::optional<MapbenchMode> mode = ParseMapbenchMode(options.mapbench_mode);
  if (!mode)
    throw Error("--mapbench: unknown mode '" + options.mapbench_mode + "' (local|pipeline|global)");
  if (options.mapbench_pages == 0 || options.mapbench_pages > (1u << 16))
    throw Error("--mapbench_pages must be 1..65536");
  return std::make_unique<Mapbench>(*mode, options.mapbench_pages);
}

}  // namespace shadowmm
