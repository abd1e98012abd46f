// SPDX-License-Identifier: GPL-2.0
//
// Microbenchmarks of the shadow mm core built in-process: lockless VMA
// lookup at 1,000 and 100,000 VMAs, the cost of one fault per page for
// each fault path (one thread, and several threads faulting one space,
// in real time), and map+unmap at a given VMA count.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

extern "C" {
#include "smm_api.h"
}

namespace {

constexpr uint64_t kPage = SHADOWMM_PAGE_SIZE;
constexpr uint64_t kBase = 0x100000000;
constexpr uint64_t kRW = SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE;

struct MmDeleter {
  void operator()(smm_mm* mm) const { smm_mm_destroy(mm); }
};
using MmPtr = std::unique_ptr<smm_mm, MmDeleter>;

MmPtr make_mm(unsigned mode) {
  static const bool initialised = smm_core_init() == 0;
  smm_mm* mm = nullptr;
  smm_limits limits{};
  if (!initialised || smm_mm_create(&limits, mode, &mm)) return nullptr;
  return MmPtr(mm);
}

int exec(smm_mm* mm, shadowmm_cmd cmd) { return smm_exec(mm, &cmd); }

int map_fixed(smm_mm* mm, uint64_t addr, uint64_t len) {
  return exec(mm, {.op = SHADOWMM_OP_MAP, .addr = addr, .len = len, .prot = kRW,
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
  if (found != state.iterations()) state.SkipWithError("lookup missed a VMA");
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

}  // namespace

BENCHMARK_MAIN();
