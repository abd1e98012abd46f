// SPDX-License-Identifier: GPL-2.0
//
// The mapbench workload: exact counts of every mode in-process, a short
// timed run of every mode on inproc and stock, and the shootdowns an
// unmap costs where another thread wrote the region (pipeline).
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"
#include "workload.h"

namespace shadowmm {
namespace {

WorkloadOptions Mapbench(const std::string& mode, uint64_t pages) {
  WorkloadOptions wo;
  wo.name = "mapbench";
  wo.mapbench_mode = mode;
  wo.mapbench_pages = pages;
  return wo;
}

struct Outcome {
  WorkloadRun run;
  shadowmm_stats end{};  // the space after teardown
  std::map<std::string, double> results;
};

// With @iterations 0, a run of @seconds.
Outcome RunMapbench(const std::string& backend_name, const WorkloadOptions& wo, unsigned threads,
                    uint64_t iterations, double seconds = 0,
                    std::optional<unsigned> tlb_policy = std::nullopt,
                    std::optional<uint64_t> model = std::nullopt) {
  BackendConfig c = Config(backend_name, threads);
  c.tlb_policy = tlb_policy;
  c.model = model;
  std::unique_ptr<Backend> backend = MakeBackend(c);
  std::unique_ptr<Workload> w = MakeWorkload(wo);
  RunConfig rc;
  rc.threads = threads;
  rc.iterations = iterations;
  rc.seconds = seconds;
  Outcome out;
  out.run.result = RunWorkload(*backend, *w, rc);
  out.run.config = w->Config();
  out.run.summary = w->Summary();
  out.results = w->Results();
  out.end = backend->Stats();
  return out;
}

// Nothing left but each arena's PROT_NONE neighbour page (threads + 1).
void ExpectEmpty(const shadowmm_stats& st, unsigned threads) {
  EXPECT_EQ(st.pages_live, 0u);
  EXPECT_EQ(st.vmas_live, threads + 1u);
}

TEST(Mapbench, LocalCountsInproc) {
  Outcome o = RunMapbench("inproc", Mapbench("local", 3), 2, 7);
  const RunResult& r = o.run.result;
  EXPECT_EQ(r.total.records, 2u * 7 * 3);
  EXPECT_EQ(r.total.iterations, 2u * 7);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_MAP), 2u * 7);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_UNMAP), 2u * 7);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_FAULT), 2u * 7 * 3);  // every write a first fault
  EXPECT_EQ(o.results["unmaps"], 14);
  EXPECT_EQ(o.run.config["mapbench"], "local");
  EXPECT_EQ(o.run.config["pages"], "3");
  ExpectEmpty(o.end, 2);
}

// Each region is mapped and written by one thread, written again and
// unmapped by the next: two touches of each page, one fault.
TEST(Mapbench, PipelineCountsInproc) {
  for (unsigned threads : {1u, 2u, 3u}) {
    SCOPED_TRACE(threads);
    Outcome o = RunMapbench("inproc", Mapbench("pipeline", 2), threads, 6);
    const RunResult& r = o.run.result;
    EXPECT_EQ(r.total.records, threads * 6u * 2 * 2);
    EXPECT_EQ(r.total.iterations, threads * 6u);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_MAP), threads * 6u);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_UNMAP), threads * 6u);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_FAULT), threads * 6u * 2);
    EXPECT_EQ(o.results["unmaps"], threads * 6.0);
    for (unsigned i = 0; i < threads; i++) EXPECT_EQ(r.per_thread[i].records, 6u * 2 * 2);
    ExpectEmpty(o.end, threads);
  }
}

// A thread waiting for the mmap lock stays in the space's CPU mask: the
// mask these exact counts need (by default it leaves, as a sleeping
// thread's lazy CPU in Linux; see PipelineOfTwoSkipsAWaitingThread).
constexpr uint64_t kWaitersStay = uint64_t{1} << SHADOWMM_MODEL_TLB_WAITERS_STAY;

// With two threads every unmap is of a region the other thread wrote
// (and both CPUs are in the space's mask): each flush interrupts exactly
// the other thread.  An unmap flushes once per gather batch of 64 pages:
// measured 1.000 per unmap for 1 to 64 pages (page by page up to 33, by
// generation above), 2 for 65, 4 for 200; 200 unmaps each.  Except at
// the very end: a thread done with its regions leaves the space
// (TLB_LEAVE), and the other may still have the last region it passed
// on to unmap (the channel holds one).
TEST(Mapbench, PipelineOfTwoShootsDownTheOtherThreadOncePerBatch) {
  for (auto [pages, flushes] : {std::pair<uint64_t, uint64_t>{1, 1}, {64, 1}, {65, 2}}) {
    SCOPED_TRACE(pages);
    Outcome o =
        RunMapbench("inproc", Mapbench("pipeline", pages), 2, 100, 0, std::nullopt, kWaitersStay);
    const RunResult& r = o.run.result;
    EXPECT_EQ(o.results["unmaps"], 200);
    EXPECT_LE(Delta(r, SHADOWMM_EV_TLB_SHOOTDOWN), 200 * flushes);
    EXPECT_GE(Delta(r, SHADOWMM_EV_TLB_SHOOTDOWN), 199 * flushes);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_TLB_IPI), Delta(r, SHADOWMM_EV_TLB_SHOOTDOWN));
    EXPECT_NEAR(o.results["shootdowns_per_unmap"], flushes, 0.02);
    EXPECT_NEAR(o.results["ipis_per_unmap"], flushes, 0.02);
    if (pages == 1) {
      EXPECT_NE(o.run.summary.find(" shootdowns and "), std::string::npos) << o.run.summary;
      EXPECT_NE(o.run.summary.find(" CPUs interrupted per unmap"), std::string::npos)
          << o.run.summary;
    }
  }
}

// Without a TLB there is nothing to shoot down; with tlb_policy ipi a
// one-page unmap frees no table, so no more than with rcu.
TEST(Mapbench, PipelineOfTwoUnderEachTlbPolicy) {
  for (auto [policy, per_unmap] : {std::pair<unsigned, double>{SHADOWMM_TLB_NONE, 0},
                                   {SHADOWMM_TLB_RCU, 1},
                                   {SHADOWMM_TLB_IPI, 1}}) {
    SCOPED_TRACE(TlbPolicyName(policy));
    Outcome o = RunMapbench("inproc", Mapbench("pipeline", 1), 2, 50, 0, policy, kWaitersStay);
    EXPECT_EQ(o.results["unmaps"], 100);
    // (The last unmap may find the other thread gone: see above.)
    EXPECT_NEAR(o.results["shootdowns_per_unmap"], per_unmap, 0.02);
    EXPECT_NEAR(o.results["ipis_per_unmap"], per_unmap, 0.02);
  }
}

// By default a thread that waits for the mmap lock leaves the mask (the
// other thread's unmap then interrupts nobody, and the leave counts), so
// an unmap interrupts the other thread at most once per batch, and the
// leaves account for every flush it skipped.
TEST(Mapbench, PipelineOfTwoSkipsAWaitingThread) {
  Outcome o = RunMapbench("inproc", Mapbench("pipeline", 1), 2, 100);
  const RunResult& r = o.run.result;
  EXPECT_EQ(o.results["unmaps"], 200);
  const uint64_t shootdowns = Delta(r, SHADOWMM_EV_TLB_SHOOTDOWN);
  EXPECT_LE(shootdowns, 200u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_TLB_IPI), shootdowns);
  // A skipped flush needs a leave before it; the runner's and the
  // workers' own leaves when done (Deschedule()) add up to 3.
  EXPECT_LE(200 - shootdowns, Delta(r, SHADOWMM_EV_TLB_LEAVE));
}

// One thread alone has nobody to interrupt.
TEST(Mapbench, OneThreadShootsDownNobody) {
  for (const char* mode : {"local", "pipeline", "global"}) {
    SCOPED_TRACE(mode);
    Outcome o = RunMapbench("inproc", Mapbench(mode, 2), 1, 10);
    EXPECT_EQ(o.results["unmaps"], 10);
    EXPECT_EQ(Delta(o.run.result, SHADOWMM_EV_TLB_SHOOTDOWN), 0u);
    EXPECT_EQ(o.results["shootdowns_per_unmap"], 0);
  }
}

// Rounds: every thread writes every page of the shared region (threads x
// pages), barrier, thread 0 unmaps and maps it again, barrier.
TEST(Mapbench, GlobalCountsInproc) {
  Outcome o = RunMapbench("inproc", Mapbench("global", 2), 3, 5);
  const RunResult& r = o.run.result;
  const uint64_t region = 3 * 2;
  EXPECT_EQ(r.total.records, 5u * 3 * region);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_UNMAP), 5u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_MAP), 5u);  // the first is the setup's
  // A page two threads fault at once may count twice.
  EXPECT_GE(Delta(r, SHADOWMM_EV_FAULT), 5u * region);
  EXPECT_LE(Delta(r, SHADOWMM_EV_FAULT), 5u * 3 * region);
  EXPECT_EQ(o.results["unmaps"], 5);
  // Each unmap reaches the two threads that did not unmap.
  EXPECT_GE(o.results["ipis_per_unmap"], 1.0);
  EXPECT_LE(o.results["ipis_per_unmap"], 2.0);
  ExpectEmpty(o.end, 3);
}

// What the tests above count, by the running kernel: every mode runs,
// writes what it should, and reads the kernel's TLB interrupts.
TEST(Mapbench, StockCounts) {
  struct Case {
    const char* mode;
    uint64_t records, unmaps;
  };
  for (const Case& c : {Case{"local", 2 * 4 * 2, 8}, Case{"pipeline", 2 * 4 * 2 * 2, 8},
                        Case{"global", 4 * 2 * 2 * 2, 4}}) {
    SCOPED_TRACE(c.mode);
    Outcome o = RunMapbench("stock", Mapbench(c.mode, 2), 2, 4);
    EXPECT_EQ(o.run.result.total.records, c.records);
    EXPECT_EQ(o.results["unmaps"], c.unmaps);
    EXPECT_EQ(o.results.count("shootdowns_per_unmap"), 0u);  // the kernel tells CPUs, not flushes
    if (o.results.count("ipis_per_unmap")) {
      EXPECT_NE(o.run.summary.find("/proc/interrupts"), std::string::npos) << o.run.summary;
    }
  }
}

// The brief's rate check: a short timed run of every mode makes progress.
TEST(Mapbench, EveryModeHasARateOnInprocAndStock) {
  for (const char* backend : {"inproc", "stock"}) {
    for (const char* mode : {"local", "pipeline", "global"}) {
      SCOPED_TRACE(std::string(backend) + " " + mode);
      Outcome o = RunMapbench(backend, Mapbench(mode, 4), 2, 0, 0.2);
      EXPECT_GT(o.run.result.total.records, 0u);
      EXPECT_GT(o.run.result.total.records / o.run.result.seconds, 0);
      EXPECT_GT(o.results["unmaps"], 0);
      if (std::string(backend) == "inproc") {
        ExpectEmpty(o.end, 2);
      }
    }
  }
}

TEST(Mapbench, Refusals) {
  EXPECT_THROW(MakeWorkload(Mapbench("random", 1)), Error);
  EXPECT_THROW(MakeWorkload(Mapbench("local", 0)), Error);
  EXPECT_THROW(MakeWorkload(Mapbench("local", 1 << 17)), Error);
}

// The same deterministic runs leave the same counts on the module.
TEST(Mapbench, ModuleMatchesInproc) {
  if (!ModuleAvailable()) GTEST_SKIP() << CtlPath() << " is absent: load shadowmm.ko";
  for (const char* mode : {"local", "pipeline", "global"}) {
    SCOPED_TRACE(mode);
    Outcome a = RunMapbench("inproc", Mapbench(mode, 2), 2, 5);
    Outcome b = RunMapbench("module", Mapbench(mode, 2), 2, 5);
    EXPECT_EQ(a.run.result.total.records, b.run.result.total.records);
    EXPECT_EQ(Delta(a.run.result, SHADOWMM_EV_OP_UNMAP), Delta(b.run.result, SHADOWMM_EV_OP_UNMAP));
    EXPECT_EQ(a.results["unmaps"], b.results["unmaps"]);
    ExpectEmpty(b.end, 2);
  }
}

}  // namespace
}  // namespace shadowmm
