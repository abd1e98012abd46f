// SPDX-License-Identifier: GPL-2.0
//
// The runner's will-it-scale conventions and the spf_test workload: worker
// processes with spaces of their own, per-interval samples with an in-run
// warm-up, the kernel's own counters around stock runs.  Counts are exact
// (fixed iterations) or structural (how many samples), never timings.
#include <gtest/gtest.h>

#include <numeric>

#include "test_util.h"
#include "workload.h"

namespace shadowmm {
namespace {

// Worker processes fork from a single-threaded process; an earlier test in
// the same process may have left the inproc core's RCU threads behind
// (ctest runs every test in a process of its own, so there they run).
#define SKIP_UNLESS_SINGLE_THREADED()                                                \
  if (ThreadsOfThisProcess() > 1)                                                    \
  GTEST_SKIP() << "forks worker processes: needs a single-threaded process (run it " \
                  "alone, as ctest does)"

WorkloadOptions Pagefault(uint64_t bytes = 1 << 20) {
  WorkloadOptions wo;
  wo.name = "pagefault";
  wo.pagefault_bytes = bytes;
  return wo;
}

WorkloadOptions SpfTest(uint64_t areas, uint64_t pages) {
  WorkloadOptions wo;
  wo.name = "spf_test";
  wo.spf_test_areas = areas;
  wo.spf_test_pages = pages;
  return wo;
}

TEST(SpfTest, MapsFaultsAndTimesEveryArea) {
  for (Mode mode : kShadowModes) {
    SCOPED_TRACE(std::string(ModeName(mode)));
    BackendConfig c = Config("inproc", 2);
    c.mode = mode;
    std::unique_ptr<Backend> backend = MakeBackend(c);
    std::unique_ptr<Workload> w = MakeWorkload(SpfTest(4, 8));
    RunConfig rc;
    rc.threads = 2;
    rc.iterations = 3;
    RunResult r = RunWorkload(*backend, *w, rc);
    EXPECT_EQ(r.total.records, 2u * 3 * 4 * 8);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_FAULT), 2u * 3 * 4 * 8);
    EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_MAP), 2u * 3 * 4);
    // Each area loses its guard page, then is unmapped itself.
    EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_UNMAP), 2u * 3 * 4 * 2);
    EXPECT_GT(r.total.timed_ns, 0u);
    shadowmm_stats end = backend->Stats();
    EXPECT_EQ(end.pages_live, 0u);
    EXPECT_EQ(end.vmas_live, 3u);  // the arenas' neighbour pages only
  }
}

TEST(SpfTest, Stock) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("stock", 2));
  std::unique_ptr<Workload> w = MakeWorkload(SpfTest(3, 4));
  RunConfig rc;
  rc.threads = 2;
  rc.iterations = 2;
  RunResult r = RunWorkload(*backend, *w, rc);
  EXPECT_EQ(r.total.records, 2u * 2 * 3 * 4);
  EXPECT_GE(*r.total.faults, 2u * 2 * 3 * 4);
}

TEST(SpfTest, RefusesEmptyAreas) {
  EXPECT_THROW(MakeWorkload(SpfTest(0, 4)), Error);
  EXPECT_THROW(MakeWorkload(SpfTest(4, 0)), Error);
}

TEST(Processes, EachWorkerItsOwnSpace) {
  SKIP_UNLESS_SINGLE_THREADED();
  RunConfig rc;
  rc.threads = 2;
  rc.iterations = 3;
  RunResult r = RunWorkloadProcesses(Config("inproc", 2), Pagefault(), rc);
  EXPECT_EQ(r.total.records, 2u * 3 * 256);
  ASSERT_EQ(r.per_thread.size(), 2u);
  EXPECT_EQ(r.per_thread[0].records, 3u * 256);
  EXPECT_EQ(r.per_thread[1].iterations, 3u);
  // Two spaces' counters, summed; each space was emptied by its worker.
  EXPECT_EQ(Delta(r, SHADOWMM_EV_FAULT), 2u * 3 * 256);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_OP_MAP), 2u * 3);
  EXPECT_EQ(r.after.pages_live, 0u);
}

TEST(Processes, StockWithKernelCounters) {
  SKIP_UNLESS_SINGLE_THREADED();
  RunConfig rc;
  rc.threads = 2;
  rc.iterations = 2;
  rc.kernel_counters = true;
  RunResult r = RunWorkloadProcesses(Config("stock", 2), Pagefault(), rc);
  EXPECT_EQ(r.total.records, 2u * 2 * 256);
  EXPECT_GE(*r.total.faults, 2u * 2 * 256);
  // /proc/vmstat counts every fault of the machine, so at least these.
  ASSERT_TRUE(r.kernel.count("pgfault"));
  EXPECT_GE(r.kernel.at("pgfault"), 2u * 2 * 256);
  EXPECT_TRUE(r.kernel.count("pgmajfault"));
  // The page-faults event, where perf_event_open is allowed, inherits into
  // the worker processes.
  if (r.kernel.count("perf_page_faults")) {
    EXPECT_GE(r.kernel.at("perf_page_faults"), 2u * 2 * 256);
  }
}

TEST(Processes, AWorkersErrorIsTheRunsError) {
  SKIP_UNLESS_SINGLE_THREADED();
  BackendConfig c = Config("inproc", 2);
  c.max_pages = 16;  // a 256-page round cannot fit
  RunConfig rc;
  rc.threads = 2;
  rc.iterations = 1;
  try {
    RunWorkloadProcesses(c, Pagefault(), rc);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("Cannot allocate memory"), std::string::npos) << e.what();
  }
}

TEST(Processes, BadWorkloadOptionsFailBeforeForking) {
  SKIP_UNLESS_SINGLE_THREADED();
  RunConfig rc;
  rc.threads = 2;
  rc.iterations = 1;
  EXPECT_THROW(RunWorkloadProcesses(Config("inproc", 2), SpfTest(0, 1), rc), Error);
}

// The samples' count follows from the duration and interval alone; what
// they hold is whatever the workers did.
void ExpectSampledWarmup(const RunResult& r) {
  ASSERT_EQ(r.samples.size(), 3u);  // 0.1 s of warm-up, then 0.2 s
  EXPECT_EQ(r.warmup_samples, 1u);
  EXPECT_EQ(r.total.records, r.samples[1] + r.samples[2]);
  EXPECT_GT(r.run_seconds, r.seconds);
}

RunConfig SampledWarmup() {
  RunConfig rc;
  rc.threads = 1;
  rc.seconds = 0.2;
  rc.warmup = 0.1;
  rc.sample_seconds = 0.1;
  return rc;
}

TEST(Sampling, PagefaultDiscardsWarmupSamples) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 1));
  std::unique_ptr<Workload> w = MakeWorkload(Pagefault());
  ExpectSampledWarmup(RunWorkload(*backend, *w, SampledWarmup()));
}

TEST(Sampling, PagefaultDiscardsWarmupSamplesInProcesses) {
  SKIP_UNLESS_SINGLE_THREADED();
  ExpectSampledWarmup(RunWorkloadProcesses(Config("inproc", 1), Pagefault(), SampledWarmup()));
}

TEST(Sampling, OtherWorkloadsWarmUpApartAndSampleTheWholeRun) {
  RunConfig rc;
  rc.threads = 2;
  rc.seconds = 0.25;
  rc.warmup = 0.05;
  rc.sample_seconds = 0.1;
  WorkloadOptions wo;
  wo.name = "pft";
  wo.pft_bytes = 1 << 20;
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 2));
  std::unique_ptr<Workload> w = MakeWorkload(wo);
  RunResult r = RunWorkload(*backend, *w, rc);
  ASSERT_EQ(r.samples.size(), 3u);  // at 0.1, 0.2 and the end, 0.25
  EXPECT_EQ(r.warmup_samples, 0u);
  // Records done between the last sample and the join are counted too.
  EXPECT_GE(r.total.records, std::accumulate(r.samples.begin(), r.samples.end(), uint64_t{0}));
}

TEST(RelaxedCounter, ActsAsANumber) {
  WorkerCounters c;
  c.records += 5;
  c.records++;
  ++c.records;
  EXPECT_EQ(c.records, 7u);
  WorkerCounters copy = c;
  EXPECT_EQ(copy.records.load(), 7u);
}

}  // namespace
}  // namespace shadowmm
