// SPDX-License-Identifier: GPL-2.0
//
// Backend::Fork() against its contract, and the cow and fork workloads
// with exact counts on every backend (module: skipped without the module).
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <tuple>

#include "backend.h"
#include "test_util.h"
#include "workload.h"

extern "C" {
#include "smm_api.h"
}

namespace shadowmm {
namespace {

class ForkTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "module" && !ModuleAvailable())
      GTEST_SKIP() << CtlPath() << " is absent: load shadowmm.ko (runs in the VM)";
    backend_ = MakeBackend(Config(GetParam(), 2));
    page_ = backend_->PageSize();
  }
  std::unique_ptr<Backend> backend_;
  uint64_t page_ = 0;
};

TEST_P(ForkTest, ChildSeesTheParentsPagesAndWritesItsOwnCopies) {
  auto parent = backend_->Attach(1);
  uint64_t a = parent->Map(3 * page_, Prot::kReadWrite);
  for (uint64_t i = 0; i < 3; i++) parent->Fault(a + i * page_, Access::kWrite, 100 + i);
  shadowmm_stats parent_before = backend_->Stats();

  std::unique_ptr<Backend> child = backend_->Fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(child->PageSize(), page_);
  EXPECT_EQ(child->Geometry(), backend_->Geometry());
  EXPECT_EQ(child->GetMode(), backend_->GetMode());
  EXPECT_EQ(backend_->Stats().counter[SHADOWMM_EV_FORK] - parent_before.counter[SHADOWMM_EV_FORK],
            1u);

  auto t = child->Attach(1);
  for (uint64_t i = 0; i < 3; i++) EXPECT_EQ(t->Load(a + i * page_), 100 + i) << i;
  t->Fault(a + page_, Access::kWrite, 7);
  EXPECT_EQ(t->Load(a + page_), 7u);
  EXPECT_EQ(parent->Load(a + page_), 101u) << "a write in the child reached the parent";
  shadowmm_stats cst = child->Stats();
  EXPECT_EQ(cst.counter[SHADOWMM_EV_COW_FAULT], 1u);
  EXPECT_EQ(cst.counter[SHADOWMM_EV_COW_COPY], 1u);

  // The child's arenas hold what the parent's held: a new mapping in the
  // child does not land on the parent's.
  uint64_t b = t->Map(page_, Prot::kReadWrite);
  EXPECT_NE(b, a);
  EXPECT_EQ(t->Load(a), 100u);

  // A write in the parent does not reach the child either.
  parent->Fault(a + 2 * page_, Access::kWrite, 9);
  EXPECT_EQ(t->Load(a + 2 * page_), 102u);

  t.reset();
  child.reset();
  for (uint64_t i = 0; i < 3; i++)
    EXPECT_EQ(parent->Load(a + i * page_), i == 2 ? 9u : 100 + i) << i;
  parent->Unmap(a, 3 * page_);
}

INSTANTIATE_TEST_SUITE_P(Shadow, ForkTest, testing::Values("inproc", "module"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

TEST(Fork, StockIsThisProcessAndRefusesFork) {
  std::unique_ptr<Backend> stock = MakeBackend(Config("stock", 1));
  EXPECT_TRUE(stock->IsThisProcess());
  EXPECT_THROW(stock->Fork(), Error);
  std::unique_ptr<Backend> inproc = MakeBackend(Config("inproc", 1));
  EXPECT_FALSE(inproc->IsThisProcess());
}

TEST(Fork, ModuleWithoutTheModuleIsAnError) {
  if (ModuleAvailable()) GTEST_SKIP() << "the module is loaded";
  EXPECT_THROW(MakeBackend(Config("module", 1)), Error);
}

WorkloadOptions Cow(uint64_t bytes) {
  WorkloadOptions wo;
  wo.name = "cow";
  wo.cow_bytes = bytes;
  return wo;
}

WorkloadOptions ForkWorkload(uint64_t vmas, uint64_t fault_pages) {
  WorkloadOptions wo;
  wo.name = "fork";
  wo.fork_vmas = vmas;
  wo.fork_fault_pages = fault_pages;
  return wo;
}

class ShadowWorkloads : public testing::TestWithParam<std::tuple<std::string, Mode>> {
 protected:
  void SetUp() override {
    if (std::get<0>(GetParam()) == "module" && !ModuleAvailable())
      GTEST_SKIP() << CtlPath() << " is absent: load shadowmm.ko (runs in the VM)";
  }
};

TEST_P(ShadowWorkloads, CowWritesEveryPageOnceARound) {
  auto [name, mode] = GetParam();
  const uint64_t page = MakeBackend(Config(name, 1))->PageSize();
  const uint64_t pages = 37;  // not a multiple of the threads
  WorkloadRun run = RunWorkloadOn(name, Cow(pages * page), 2, 3, mode);
  const RunResult& r = run.result;
  EXPECT_EQ(r.total.records, 3 * pages);
  EXPECT_EQ(r.per_thread[0].records + r.per_thread[1].records, 3 * pages);
  EXPECT_EQ(r.per_thread[0].records, 3 * (pages / 2));
  EXPECT_EQ(Delta(r, SHADOWMM_EV_FORK), 3u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_FORK_PAGES), 3 * pages);
  // Every write was a COW fault in the parent, and with the child still
  // mapping the page, a copy: the counters of the space the table reports.
  EXPECT_EQ(Delta(r, SHADOWMM_EV_COW_FAULT), 3 * pages);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_COW_COPY), 3 * pages);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_COW_REUSE), 0u);
  EXPECT_EQ(run.results["rounds"], 3);
  EXPECT_NE(run.summary.find("forks 3"), std::string::npos) << run.summary;
}

TEST_P(ShadowWorkloads, ForkCountsForksAndTheOthersFaults) {
  auto [name, mode] = GetParam();
  WorkloadRun run = RunWorkloadOn(name, ForkWorkload(100, 8), 3, 4, mode);
  const RunResult& r = run.result;
  EXPECT_EQ(r.total.records, 4u);
  EXPECT_EQ(r.per_thread[0].records, 4u);
  EXPECT_EQ(r.per_thread[1].records, 0u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_FORK), 4u);
  // Two faulting workers, 4 rounds of 8 write faults each.
  EXPECT_EQ(r.total.pages, 2u * 4 * 8);
  EXPECT_EQ(run.results["faulters_faults"], 64);
  EXPECT_GE(Delta(r, SHADOWMM_EV_FAULT), 64u);
  // 100 VMAs of one page each, written: each fork shares 50 writable
  // pages and the 50 read-only ones (written before mprotect).
  // (and whatever the faulting workers had written when it forked).
  EXPECT_GE(Delta(r, SHADOWMM_EV_FORK_PAGES), 4u * 100);
  EXPECT_TRUE(run.results.count("fork_ns_median"));
  EXPECT_LE(run.results["fork_ns_median"], run.results["fork_ns_p99"]);
  EXPECT_NE(run.summary.find("of 4 forks"), std::string::npos) << run.summary;
}

INSTANTIATE_TEST_SUITE_P(All, ShadowWorkloads,
                         testing::Combine(testing::Values("inproc", "module"),
                                          testing::ValuesIn(kShadowModes)),
                         [](const testing::TestParamInfo<std::tuple<std::string, Mode>>& info) {
                           return std::get<0>(info.param) + "_" +
                                  std::string(ModeName(std::get<1>(info.param)));
                         });

TEST(ForkWorkloads, CowOnStockForksTheProcess) {
  const uint64_t page = MakeBackend(Config("stock", 1))->PageSize();
  const uint64_t pages = 64;
  WorkloadRun run = RunWorkloadOn("stock", Cow(pages * page), 2, 3);
  EXPECT_EQ(run.result.total.records, 3 * pages);
  EXPECT_EQ(run.result.per_thread[1].records, 3 * (pages - pages / 2));
  EXPECT_EQ(run.results["rounds"], 3);
  // The writers took at least a fault per page they wrote each round.
  ASSERT_TRUE(run.results.count("writers_faults"));
  EXPECT_GE(run.results["writers_faults"], 3 * pages);
}

TEST(ForkWorkloads, ForkOnStockForksTheProcess) {
  WorkloadRun run = RunWorkloadOn("stock", ForkWorkload(1000, 8), 2, 5);
  EXPECT_EQ(run.result.total.records, 5u);
  EXPECT_EQ(run.result.total.pages, 5u * 8);
  EXPECT_EQ(run.results["faulters_faults"], 40);
  EXPECT_GT(run.results["fork_ns_median"], 0);
}

TEST(ForkWorkloads, RunForADurationOnInprocAndStock) {
  for (const char* name : {"inproc", "stock"}) {
    for (const WorkloadOptions& wo : {Cow(4 << 20), ForkWorkload(2000, 16)}) {
      SCOPED_TRACE(std::string(name) + " " + wo.name);
      BackendConfig c = Config(name, 2);
      std::unique_ptr<Backend> backend = MakeBackend(c);
      std::unique_ptr<Workload> w = MakeWorkload(wo);
      RunConfig rc;
      rc.threads = 2;
      rc.seconds = 0.5;
      RunResult r = RunWorkload(*backend, *w, rc);
      EXPECT_GT(r.total.records, 0u);
      EXPECT_FALSE(w->Summary().empty());
    }
  }
}

TEST(ForkWorkloads, CowNeedsAPagePerThread) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 4));
  std::unique_ptr<Workload> w = MakeWorkload(Cow(backend->PageSize()));
  RunConfig rc;
  rc.threads = 4;
  rc.iterations = 1;
  EXPECT_THROW(RunWorkload(*backend, *w, rc), Error);
}

// --bugs sets the in-process core's knobs for the runs and puts the mask
// back after, whatever it was.
TEST(ForkWorkloads, InprocBugsComeBackOff) {
  const unsigned long fork_bug = 1UL << SHADOWMM_BUG_FORK_NO_VMA_LOCK;
  ASSERT_EQ(smm_get_bugs(), 0UL);
  {
    InprocBugs on(fork_bug);
    EXPECT_EQ(smm_get_bugs(), fork_bug);
  }
  EXPECT_EQ(smm_get_bugs(), 0UL);
  EXPECT_THROW(InprocBugs(1UL << SHADOWMM_NR_BUGS), SysError);
  EXPECT_EQ(smm_get_bugs(), 0UL);
}

TEST(ForkWorkloads, RefuseEmptySizes) {
  EXPECT_THROW(MakeWorkload(Cow(0)), Error);
  EXPECT_THROW(MakeWorkload(ForkWorkload(0, 1)), Error);
  EXPECT_THROW(MakeWorkload(ForkWorkload(1, 0)), Error);
}

}  // namespace
}  // namespace shadowmm
