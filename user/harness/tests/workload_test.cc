// SPDX-License-Identifier: GPL-2.0
//
// Every workload on every backend, with a fixed number of iterations so
// that counts are exact, and the backends compared with one another.
#include "workload.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <thread>

#include "stock_memory.h"
#include "test_util.h"

namespace shadowmm {
namespace {

struct Outcome {
  RunResult result;
  shadowmm_stats end{};  // the space after teardown
};

Outcome RunOn(Backend& backend, const WorkloadOptions& wo, unsigned threads, uint64_t iterations) {
  std::unique_ptr<Workload> w = MakeWorkload(wo);
  RunConfig rc;
  rc.threads = threads;
  rc.iterations = iterations;
  Outcome run;
  run.result = RunWorkload(backend, *w, rc);
  run.end = backend.Stats();
  return run;
}

Outcome RunOn(const std::string& name, const WorkloadOptions& wo, unsigned threads,
              uint64_t iterations, Mode mode = Mode::kClassic, Submit submit = Submit::kIoctl) {
  BackendConfig c = Config(name, threads, submit);
  if (name != "stock") c.mode = mode;
  std::unique_ptr<Backend> backend = MakeBackend(c);
  return RunOn(*backend, wo, threads, iterations);
}

WorkloadOptions Ebizzy(const std::string& flags) {
  WorkloadOptions wo;
  wo.name = "ebizzy";
  wo.ebizzy = flags;
  return wo;
}

// Nothing left but each arena's PROT_NONE neighbour page (threads + 1).
void ExpectEmpty(const shadowmm_stats& st, unsigned threads) {
  EXPECT_EQ(st.pages_live, 0u);
  EXPECT_EQ(st.vmas_live, threads + 1u);
}

TEST(Workload, EbizzyHeadlineInproc) {
  for (Mode mode : kShadowModes) {
    SCOPED_TRACE(ModeName(mode));
    Outcome run = RunOn("inproc", Ebizzy("-mTRp -n 4 -s 65536"), 2, 25, mode);
    const RunResult& r = run.result;
    EXPECT_EQ(r.total.records, 50u);
    EXPECT_EQ(r.per_thread[0].records, 25u);
    // Every touched page of a fresh copy is a first fault.
    EXPECT_EQ(Delta(r, SHADOWMM_EV_FAULT), r.total.pages);
    EXPECT_EQ(*r.total.faults, r.total.pages);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_MAP), 50u);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_UNMAP), 50u);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_PAGE_ALLOC), Delta(r, SHADOWMM_EV_PAGE_FREE));
    ExpectEmpty(run.end, 2);
  }
}

TEST(Workload, EbizzyWithoutMmapReusesOneCopyPerThread) {
  // ebizzy's malloc: the copy's pages fault once per thread, then hit.
  Outcome run = RunOn("inproc", Ebizzy("-n 3 -s 16384"), 2, 5);
  EXPECT_EQ(run.result.total.records, 10u);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_FAULT), 2u * 4);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_OP_MAP), 2u);
  ExpectEmpty(run.end, 2);
}

TEST(Workload, EbizzyHolesAndPermissions) {
  Outcome run = RunOn("inproc", Ebizzy("-mTRpP -n 6 -s 8192"), 1, 10);
  EXPECT_EQ(run.result.total.records, 10u);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_FAULT), run.result.total.pages);
  ExpectEmpty(run.end, 1);
}

TEST(Workload, Ebizzy03RngCopiesOneRecord) {
  WorkloadOptions wo = Ebizzy("-mTR");
  wo.ebizzy_rng = "0.3";
  Outcome run = RunOn("inproc", wo, 1, 20);
  EXPECT_EQ(run.result.total.pages, 20u);  // one page per record
}

TEST(Workload, Pagefault) {
  WorkloadOptions wo;
  wo.name = "pagefault";
  wo.pagefault_bytes = 1 << 20;
  Outcome run = RunOn("inproc", wo, 2, 3);
  EXPECT_EQ(run.result.total.records, 2u * 3 * 256);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_FAULT), 2u * 3 * 256);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_OP_MAP), 6u);
  ExpectEmpty(run.end, 2);
}

TEST(Workload, Pft) {
  WorkloadOptions wo;
  wo.name = "pft";
  wo.pft_bytes = 2 << 20;
  Outcome run = RunOn("inproc", wo, 2, 3);
  EXPECT_EQ(run.result.total.records, 3u * 512);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_FAULT), 3u * 512);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_OP_ZAP), 6u);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_OP_MAP), 0u);  // one mapping, set up before
  ExpectEmpty(run.end, 2);
}

TEST(Workload, Multifault) {
  WorkloadOptions wo;
  wo.name = "multifault";
  wo.multifault_pages = 4;
  Outcome run = RunOn("inproc", wo, 3, 5);
  EXPECT_EQ(run.result.total.records, 3u * 5 * 4);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_FAULT), 3u * 5 * 4);
  EXPECT_EQ(Delta(run.result, SHADOWMM_EV_OP_ZAP), 5u);
  ExpectEmpty(run.end, 3);
}

TEST(Workload, MultifaultFailureDoesNotHang) {
  // A page budget smaller than one round: a worker's TOUCH fails, the
  // others must not wait for it at the barrier.
  WorkloadOptions wo;
  wo.name = "multifault";
  wo.multifault_pages = 4;
  BackendConfig c = Config("inproc", 3);
  c.max_pages = 6;
  std::unique_ptr<Backend> backend = MakeBackend(c);
  EXPECT_THROW(RunOn(*backend, wo, 3, 100), Error);
  ExpectEmpty(backend->Stats(), 3);
}

TEST(Workload, RunsForADuration) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 2));
  std::unique_ptr<Workload> w = MakeWorkload(Ebizzy("-mTRp -s 65536"));
  RunConfig rc;
  rc.threads = 2;
  rc.seconds = 0.2;
  RunResult r = RunWorkload(*backend, *w, rc);
  EXPECT_GT(r.total.records, 0u);
  EXPECT_GE(r.seconds, 0.2);
  EXPECT_LT(r.seconds, 5.0);
}

TEST(Workload, PinsWorkers) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 2));
  std::unique_ptr<Workload> w = MakeWorkload(Ebizzy("-mTRp -s 65536"));
  RunConfig rc;
  rc.threads = 2;
  rc.iterations = 3;
  rc.cpus = {0};
  EXPECT_EQ(RunWorkload(*backend, *w, rc).total.records, 6u);
}

class Throws : public Workload {
 public:
  std::string_view Name() const override { return "throws"; }
  void Run(Backend&, WorkerContext& ctx) override {
    while (ctx.Next())
      if (ctx.index == 1) throw Error("worker 1 gave up");
  }
};

TEST(Workload, AWorkersErrorIsTheRunsError) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 3));
  Throws w;
  RunConfig rc;
  rc.threads = 3;
  rc.seconds = 30;  // the failure must cut the sleep short
  try {
    RunWorkload(*backend, w, rc);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "worker 1 gave up");
  }
}

TEST(Workload, StockRunsEveryWorkload) {
  std::vector<WorkloadOptions> all = {Ebizzy("-mTRp -n 4 -s 65536"), Ebizzy("-n 2 -s 8192")};
  WorkloadOptions wo;
  wo.name = "pagefault";
  wo.pagefault_bytes = 1 << 20;
  all.push_back(wo);
  wo.name = "pft";
  wo.pft_bytes = 1 << 20;
  all.push_back(wo);
  wo.name = "multifault";
  wo.multifault_pages = 2;
  all.push_back(wo);
  for (const WorkloadOptions& w : all) {
    SCOPED_TRACE(w.name + " " + w.ebizzy);
    Outcome run = RunOn("stock", w, 2, 4);
    EXPECT_GT(run.result.total.records, 0u);
    if (w.ebizzy.find('m') != std::string::npos || w.name != "ebizzy") {
      EXPECT_GE(Delta(run.result, SHADOWMM_EV_FAULT), run.result.total.pages / 2)
          << "the kernel took fewer faults than pages first-touched";
    }
    ASSERT_TRUE(run.result.total.faults.has_value());
  }
}

// The acceptance check of issue 5: the same deterministic workload through
// inproc and through the module leaves identical counters of pages faulted.
class ModuleMatchesInproc : public testing::TestWithParam<Submit> {};

TEST_P(ModuleMatchesInproc, SameCounters) {
  if (!ModuleAvailable()) GTEST_SKIP() << CtlPath() << " is absent: load shadowmm.ko";
  WorkloadOptions multifault;
  multifault.name = "multifault";
  multifault.multifault_pages = 3;
  for (const WorkloadOptions& wo :
       {Ebizzy("-mTRp -n 4 -s 65536"), Ebizzy("-n 3 -s 16384"), multifault}) {
    SCOPED_TRACE(wo.name + " " + wo.ebizzy);
    Outcome in = RunOn("inproc", wo, 2, 20);
    Outcome mod = RunOn("module", wo, 2, 20, Mode::kClassic, GetParam());
    for (shadowmm_counter c :
         {SHADOWMM_EV_ACCESS, SHADOWMM_EV_ACCESS_HIT, SHADOWMM_EV_FAULT, SHADOWMM_EV_PAGE_ALLOC,
          SHADOWMM_EV_PAGE_FREE, SHADOWMM_EV_OP_MAP, SHADOWMM_EV_OP_UNMAP, SHADOWMM_EV_OP_PROTECT,
          SHADOWMM_EV_OP_ZAP, SHADOWMM_EV_OP_COPY, SHADOWMM_EV_COPY_BYTES, SHADOWMM_EV_OP_SEARCH,
          SHADOWMM_EV_SEARCH_COMPARE}) {
      EXPECT_EQ(in.end.counter[c], mod.end.counter[c]) << CounterName(c);
      EXPECT_EQ(Delta(in.result, c), Delta(mod.result, c)) << CounterName(c);
    }
    EXPECT_EQ(in.result.total.records, mod.result.total.records);
    ExpectEmpty(mod.end, 2);
  }
}

INSTANTIATE_TEST_SUITE_P(Submit, ModuleMatchesInproc,
                         testing::Values(Submit::kIoctl, Submit::kWrite, Submit::kUring),
                         [](const testing::TestParamInfo<Submit>& info) {
                           return std::string(SubmitName(info.param));
                         });

WorkloadOptions SwapWorkload(unsigned hot_pct = 0) {
  WorkloadOptions wo;
  wo.name = "swap";
  wo.swap_ratio = 2;
  wo.swap_hot_pct = hot_pct;
  return wo;
}

struct SwapCase {
  Mode mode;
  unsigned policy;
};

void PrintTo(const SwapCase& c, std::ostream* os) {
  *os << ModeName(c.mode) << "/" << SwapPolicyName(c.policy);
}

std::string SwapCaseName(const testing::TestParamInfo<SwapCase>& info) {
  std::string name =
      std::string(ModeName(info.param.mode)) + "_" + std::string(SwapPolicyName(info.param.policy));
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

// The swap workload in-process: a working set twice the budget really
// reclaims and swaps back in, every load finds its page's own value (the
// workload checks), each strategy takes the way out a swap-in gives it,
// and teardown leaves no page and no slot.
class SwapInproc : public testing::TestWithParam<SwapCase> {};

TEST_P(SwapInproc, ReclaimsSwapsInAndKeepsContents) {
  constexpr uint64_t kBudget = 128;
  constexpr unsigned kThreads = 2;
  BackendConfig c = Config("inproc", kThreads);
  c.mode = GetParam().mode;
  c.max_pages = kBudget;
  c.swap_slots = 2 * kBudget;
  c.swap_latency_us = 20;
  c.swap_policy = GetParam().policy;
  std::unique_ptr<Backend> backend = MakeBackend(c);
  ASSERT_EQ(backend->SwapPolicy(), GetParam().policy);
  Outcome run = RunOn(*backend, SwapWorkload(), kThreads, 400);
  const RunResult& r = run.result;
  EXPECT_EQ(r.total.records, kThreads * 400u);
  EXPECT_GT(Delta(r, SHADOWMM_EV_PSWPOUT), 0u);
  EXPECT_GT(Delta(r, SHADOWMM_EV_PSWPIN), 0u);
  EXPECT_GT(Delta(r, SHADOWMM_EV_PGMAJFAULT), 0u);
  EXPECT_GT(Delta(r, SHADOWMM_EV_PGSTEAL), 0u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_FAULT_OOM), 0u);
  EXPECT_LE(r.after.pages_live, kBudget);
  // How each strategy got out of a fault that must sleep.
  shadowmm_counter way = SHADOWMM_EV_FAULT_RETRY;
  if (GetParam().mode == Mode::kSpf) way = SHADOWMM_EV_SPF_ABORT_SWAP;
  if (GetParam().mode == Mode::kMmseq) way = SHADOWMM_EV_MMSEQ_ABORT_SWAP;
  if (GetParam().mode == Mode::kVmalock) {
    way = GetParam().policy == SHADOWMM_SWAP_FALLBACK     ? SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK
          : GetParam().policy == SHADOWMM_SWAP_DROP_RETRY ? SHADOWMM_EV_VMA_LOCK_SWAP_DROP_RETRY
                                                          : SHADOWMM_EV_VMA_LOCK_SWAP_VMA_RETRY;
  }
  EXPECT_GT(Delta(r, way), 0u) << CounterName(way);
  // The background reclaimer may still hold a page it was writing out
  // when the teardown unmapped it: it lets go within its I/O's latency.
  shadowmm_stats end = run.end;
  auto busy = [](const shadowmm_stats& st) {
    return st.pages_live ||
           st.counter[SHADOWMM_EV_SWAP_SLOT_ALLOC] != st.counter[SHADOWMM_EV_SWAP_SLOT_FREE];
  };
  for (int i = 0; i < 200 && busy(end); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    end = backend->Stats();
  }
  ExpectEmpty(end, kThreads);
  EXPECT_EQ(end.counter[SHADOWMM_EV_SWAP_SLOT_ALLOC], end.counter[SHADOWMM_EV_SWAP_SLOT_FREE]);
}

INSTANTIATE_TEST_SUITE_P(Strategies, SwapInproc,
                         testing::Values(SwapCase{Mode::kClassic, SHADOWMM_SWAP_DROP_RETRY},
                                         SwapCase{Mode::kSpf, SHADOWMM_SWAP_DROP_RETRY},
                                         SwapCase{Mode::kMmseq, SHADOWMM_SWAP_DROP_RETRY},
                                         SwapCase{Mode::kVmalock, SHADOWMM_SWAP_FALLBACK},
                                         SwapCase{Mode::kVmalock, SHADOWMM_SWAP_DROP_RETRY},
                                         SwapCase{Mode::kVmalock, SHADOWMM_SWAP_VMA_RETRY}),
                         SwapCaseName);

// 90% of accesses to 10% of the pages keep most of them resident: far
// fewer major faults than the same accesses spread evenly.
TEST(Workload, SwapHotSetFaultsLess) {
  uint64_t majors[2];
  for (unsigned hot : {0u, 90u}) {
    BackendConfig c = Config("inproc", 1);
    c.max_pages = 128;
    c.swap_slots = 256;
    c.swap_latency_us = 0;
    std::unique_ptr<Backend> backend = MakeBackend(c);
    Outcome run = RunOn(*backend, SwapWorkload(hot), 1, 2000);
    majors[hot != 0] = Delta(run.result, SHADOWMM_EV_PGMAJFAULT);
  }
  EXPECT_GT(majors[0], 0u);
  EXPECT_LT(majors[1], majors[0] / 2) << "uniform " << majors[0] << ", hot set " << majors[1];
}

TEST(Workload, SwapNeedsABudget) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 1));
  try {
    RunOn(*backend, SwapWorkload(), 1, 1);
    ADD_FAILURE() << "ran without a budget";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--resident_pages"), std::string::npos) << e.what();
  }
}

// Whether this process is in a cgroup the stock backend made.
bool InBenchCgroup() {
  std::ifstream in("/proc/self/cgroup");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.find("shadowmm-bench.") != std::string::npos;
}

// The stock backend's budget: a memory cgroup and a swap device of the
// run's own, which the kernel really swaps to, and nothing of either left
// once the backend is gone.
TEST(Workload, SwapOnStockSwapsAndLeavesNothingBehind) {
  const uint64_t swap_before = SwapTotalBytes();
  BackendConfig c = Config("stock", 2);
  c.max_pages = 2048;
  c.swap_slots = 32768;  // room for whatever else (a sanitizer's shadow) the run charges
  std::unique_ptr<Backend> backend;
  try {
    backend = MakeBackend(c);
  } catch (const Skip& e) {
    GTEST_SKIP() << e.what();
  }
  const uint64_t page = backend->PageSize();
  EXPECT_TRUE(InBenchCgroup());
  // The device's first page is its header; it has room for the rest of
  // the process too.
  EXPECT_GE(SwapTotalBytes(), swap_before + (32768 - 1) * page);
  EXPECT_EQ(backend->Memory().max_pages, 2048u);
  EXPECT_NE(backend->MemoryNote().find("limit 8 MiB"), std::string::npos) << backend->MemoryNote();
  Outcome run = RunOn(*backend, SwapWorkload(), 2, 3000);
  EXPECT_GT(Delta(run.result, SHADOWMM_EV_PGMAJFAULT), 0u);
  backend.reset();
  EXPECT_FALSE(InBenchCgroup());
  EXPECT_EQ(SwapTotalBytes(), swap_before);
}

TEST(Workload, UnknownWorkload) {
  WorkloadOptions wo;
  wo.name = "kernbench";
  EXPECT_THROW(MakeWorkload(wo), Error);
}

}  // namespace
}  // namespace shadowmm
