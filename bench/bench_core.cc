// SPDX-License-Identifier: GPL-2.0
//
// Microbenchmarks of the shadow mm core built in-process: lockless VMA
// lookup at 1,000 and 100,000 VMAs, the cost of one fault per page for
// each fault path (one thread, and several threads faulting one space,
// in real time), map+unmap at a given VMA count, and one UNMAP or PROTECT
// over every VMA of a space with 1,000 or 65,530 one-page VMAs.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

extern "C" {
#include "shim_test.h"
#include "smm_api.h"
}

namespace {

// Spaces here have the 4K geometry on every host, so layouts are comparable.
constexpr uint64_t kPage = SHADOWMM_PAGE_SIZE_MIN;
constexpr uint64_t kBase = 0x100000000;
constexpr uint64_t kRW = SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE;
constexpr uint64_t kRO = SHADOWMM_PROT_READ;

struct MmDeleter {
  void operator()(smm_mm* mm) const { smm_mm_destroy(mm); }
};
using MmPtr = std::unique_ptr<smm_mm, MmDeleter>;

MmPtr make_mm(unsigned mode) {
  static const bool initialised = smm_core_init() == 0;
  smm_mm* mm = nullptr;
  smm_limits limits{};
  if (!initialised || smm_mm_create(&limits, mode, SHADOWMM_GEOM_4K, &mm)) return nullptr;
  return MmPtr(mm);
}

int exec(smm_mm* mm, shadowmm_cmd cmd) { return smm_exec(mm, &cmd); }

int map_fixed(smm_mm* mm, uint64_t addr, uint64_t len, uint64_t prot = kRW) {
  return exec(mm, {.op = SHADOWMM_OP_MAP, .addr = addr, .len = len, .prot = prot,
                   .flags = SHADOWMM_MAP_FIXED});
}

// One-page VMAs with one-page holes between them: nothing merges.
MmPtr mm_with_vmas(uint64_t n) {
  MmPtr mm = make_mm(SHADOWMM_MODE_CLASSIC);
  for (uint64_t i = 0; mm && i < n; i++)
    if (map_fixed(mm.get(), kBase + 2 * i * kPage, kPage)) return nullptr;
  return mm;
}

void BM_VmaLookup(benchmark::State& state) {
  const uint64_t n = state.range(0);
  MmPtr mm = mm_with_vmas(n);
  if (!mm) return state.SkipWithError("setup failed");
  std::mt19937_64 rng(1);
  std::vector<uint64_t> addrs(4096);
  for (auto& a : addrs) a = kBase + 2 * (rng() % n) * kPage + (rng() % kPage);
  size_t i = 0, found = 0;
  for (auto _ : state) {
    smm_vma_info info;
    found += smm_mm_lookup(mm.get(), addrs[i++ & (addrs.size() - 1)], &info);
  }
  if (found != static_cast<size_t>(state.iterations())) state.SkipWithError("lookup missed a VMA");
  state.SetLabel(std::to_string(n) + " VMAs");
}
BENCHMARK(BM_VmaLookup)->Arg(1000)->Arg(100000);

// Shared by the threads of one run; thread 0 sets it up before the timing
// loop, which every thread enters together.
MmPtr g_fault_mm;
constexpr uint64_t kRegionPages = 8192;  // 32 MiB per thread

// One write fault on a new page per iteration; a zap every kRegionPages
// (outside the timing) empties the thread's region again.
void BM_FaultPerPage(benchmark::State& state) {
  const unsigned mode = static_cast<unsigned>(state.range(0));
  if (state.thread_index() == 0) {
    g_fault_mm = make_mm(mode);
    for (int t = 0; g_fault_mm && t < state.threads(); t++)
      map_fixed(g_fault_mm.get(), kBase + t * kRegionPages * kPage, kRegionPages * kPage);
  }
  smm_mm* mm = nullptr;
  uint64_t region = kBase + state.thread_index() * kRegionPages * kPage, page = 0;
  for (auto _ : state) {
    if (!mm) mm = g_fault_mm.get();
    if (page == kRegionPages) {
      state.PauseTiming();
      exec(mm, {.op = SHADOWMM_OP_ZAP, .addr = region, .len = kRegionPages * kPage});
      page = 0;
      state.ResumeTiming();
    }
    shadowmm_cmd cmd{.op = SHADOWMM_OP_FAULT, .addr = region + page++ * kPage,
                     .flags = SHADOWMM_ACCESS_WRITE, .value = 1};
    if (smm_exec(mm, &cmd) || !cmd.out_faults) {
      state.SkipWithError("fault failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(smm_mode_name(mode));
  if (state.thread_index() == 0) {
    shadowmm_stats st;
    smm_mm_stats(g_fault_mm.get(), &st);
    const uint64_t faults = st.counter[SHADOWMM_EV_FAULT];
    const uint64_t spec = st.counter[SHADOWMM_EV_SPF_SUCCESS] +
                          st.counter[SHADOWMM_EV_MMSEQ_SUCCESS] +
                          st.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS];
    state.counters["lockless_pct"] = faults ? 100.0 * spec / faults : 0;
    g_fault_mm.reset();
  }
}
BENCHMARK(BM_FaultPerPage)
    ->ArgName("mode")
    ->DenseRange(0, SHADOWMM_NR_MODES - 1)
    ->Threads(1)
    ->Threads(2)
    ->Threads(4)
    ->UseRealTime();

void BM_MapUnmap(benchmark::State& state) {
  MmPtr mm = mm_with_vmas(state.range(0));
  if (!mm) return state.SkipWithError("setup failed");
  const uint64_t addr = kBase - 16 * kPage;
  for (auto _ : state) {
    if (map_fixed(mm.get(), addr, kPage) ||
        exec(mm.get(), {.op = SHADOWMM_OP_UNMAP, .addr = addr, .len = kPage})) {
      state.SkipWithError("map/unmap failed");
      break;
    }
  }
  state.SetLabel(std::to_string(state.range(0)) + " VMAs");
}
BENCHMARK(BM_MapUnmap)->Arg(0)->Arg(1000)->Arg(100000);

// One call over all k one-page VMAs of a space: UNMAP of k VMAs with holes
// between them, or PROTECT of k adjacent VMAs of alternating protection,
// which then all merge into one.  Building the space is not timed.  The
// counter is what the call allocated (index nodes: the reserve beyond the
// few nodes each space keeps between calls; no VMA is allocated here).
void BM_RangeOp(benchmark::State& state) {
  const uint64_t k = state.range(0);
  const bool protect = state.range(1);
  double allocs = 0;
  for (auto _ : state) {
    MmPtr mm = make_mm(SHADOWMM_MODE_CLASSIC);
    for (uint64_t i = 0; mm && i < k; i++) {
      const uint64_t addr = kBase + (protect ? i : 2 * i) * kPage;
      if (map_fixed(mm.get(), addr, kPage, protect && i % 2 ? kRO : kRW)) mm.reset();
    }
    if (!mm) {
      state.SkipWithError("setup failed");
      break;
    }
    const uint64_t len = (protect ? k : 2 * k) * kPage;
    const shadowmm_cmd cmd =
        protect ? shadowmm_cmd{.op = SHADOWMM_OP_PROTECT, .addr = kBase, .len = len, .prot = kRW}
                : shadowmm_cmd{.op = SHADOWMM_OP_UNMAP, .addr = kBase, .len = len};
    const long before = smm_shim_allocs_total();
    const auto t0 = std::chrono::steady_clock::now();
    const int ret = exec(mm.get(), cmd);
    const auto t1 = std::chrono::steady_clock::now();
    allocs += static_cast<double>(smm_shim_allocs_total() - before);
    smm_vma_info info[2];
    if (ret || smm_mm_vmas(mm.get(), info, 2) != (protect ? 1 : 0)) {
      state.SkipWithError("range operation failed");
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t1 - t0).count());
  }
  state.counters["allocs"] = benchmark::Counter(allocs, benchmark::Counter::kAvgIterations);
  state.SetLabel(std::to_string(k) + (protect ? " VMAs, protect+merge" : " VMAs, unmap"));
}
BENCHMARK(BM_RangeOp)
    ->ArgNames({"vmas", "protect"})
    ->ArgsProduct({{1000, 65530}, {0, 1}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
