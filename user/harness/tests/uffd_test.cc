// SPDX-License-Identifier: GPL-2.0
//
// Backend::OpenUserfaults() and the uffd workload: on inproc in every mode
// and vmalock policy, on the module (skipped without it) and on stock with
// the real userfaultfd(2) (skipped where the kernel refuses it): every
// read a resolved userfault, each counted once.
#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "backend.h"
#include "test_util.h"
#include "workload.h"

namespace shadowmm {
namespace {

WorkloadOptions UffdWorkload(uint64_t pages, unsigned resolvers, bool mapper) {
  WorkloadOptions wo;
  wo.name = "uffd";
  wo.uffd_pages = pages;
  wo.uffd_resolvers = resolvers;
  wo.uffd_mapper = mapper;
  return wo;
}

// The channel alone: a fault on another thread waits for our Copy().
TEST(Userfaults, ResolveOneFaultOnEveryBackend) {
  for (const char* name : {"inproc", "module", "stock"}) {
    SCOPED_TRACE(name);
    if (std::string(name) == "module" && !ModuleAvailable()) continue;
    std::unique_ptr<Backend> backend = MakeBackend(Config(name, 2));
    const uint64_t page = backend->PageSize();
    std::unique_ptr<Userfaults> uf;
    try {
      uf = backend->OpenUserfaults();
    } catch (const Skip& e) {
      std::printf("skip %s: %s\n", name, e.what());
      continue;
    }
    auto main = backend->Attach(0);
    const uint64_t a = main->Map(2 * page, Prot::kReadWrite);
    uf->Register(a, 2 * page);
    uint64_t got = 0;
    std::thread faulter([&] {
      auto t = backend->Attach(1);
      got = t->Load(a + page + 16);
    });
    std::vector<UserfaultEvent> ev;
    for (int i = 0; i < 500 && ev.empty(); i++) ev = uf->Read(4, 20);
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].addr, a + page);
    EXPECT_FALSE(ev[0].write);
    std::vector<uint64_t> buf(page / 8, 0x77);
    EXPECT_TRUE(uf->Copy(a + page, buf.data()));
    faulter.join();
    EXPECT_EQ(got, 0x77u);
    // Onto the page now there: false, nothing changed.
    std::vector<uint64_t> other(page / 8, 0x88);
    EXPECT_FALSE(uf->Copy(a + page, other.data()));
    EXPECT_EQ(main->Load(a + page), 0x77u);
    uf.reset();
    main->Unmap(a, 2 * page);
  }
}

TEST(Userfaults, SecondChannelOfASpaceIsAnError) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 1));
  auto uf = backend->OpenUserfaults();
  EXPECT_THROW(backend->OpenUserfaults(), Error);
}

class UffdWorkloadModes : public testing::TestWithParam<std::tuple<Mode, unsigned>> {};

// 2 faulting threads x 12 reads, each one resolved fault.
TEST_P(UffdWorkloadModes, EveryReadIsOneResolvedFault) {
  auto [mode, policy] = GetParam();
  WorkloadRun run = RunWorkloadOn("inproc", UffdWorkload(5, 1, true), 4, 12, mode, policy);
  const RunResult& r = run.result;
  EXPECT_EQ(r.total.records, 24u);
  EXPECT_EQ(r.per_thread[0].records, 12u);
  EXPECT_EQ(r.per_thread[2].records, 0u);  // the resolver
  EXPECT_EQ(Delta(r, SHADOWMM_EV_UFFD_MISSING), 24u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_UFFD_COPY), 24u);
  EXPECT_EQ(Delta(r, SHADOWMM_EV_UFFD_WAIT), Delta(r, SHADOWMM_EV_UFFD_WAIT_DONE));
  EXPECT_EQ(run.config["faulters"], "2");
  EXPECT_EQ(run.results["copies"], 24);
  EXPECT_LE(run.results["wait_ns_p50"], run.results["wait_ns_p99"]);
  EXPECT_NE(run.summary.find("of 24 faults"), std::string::npos) << run.summary;
  if (mode == Mode::kVmalock && policy == SHADOWMM_SWAP_VMA_RETRY) {
    EXPECT_EQ(Delta(r, SHADOWMM_EV_VMA_LOCK_UFFD_VMA_RETRY), 24u);
  }
  if (mode == Mode::kVmalock && policy == SHADOWMM_SWAP_DROP_RETRY) {
    EXPECT_EQ(Delta(r, SHADOWMM_EV_VMA_LOCK_UFFD_DROP_RETRY), 24u);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Inproc, UffdWorkloadModes,
    testing::Values(std::make_tuple(Mode::kClassic, unsigned{SHADOWMM_SWAP_DROP_RETRY}),
                    std::make_tuple(Mode::kSpf, unsigned{SHADOWMM_SWAP_DROP_RETRY}),
                    std::make_tuple(Mode::kMmseq, unsigned{SHADOWMM_SWAP_DROP_RETRY}),
                    std::make_tuple(Mode::kVmalock, unsigned{SHADOWMM_SWAP_FALLBACK}),
                    std::make_tuple(Mode::kVmalock, unsigned{SHADOWMM_SWAP_DROP_RETRY}),
                    std::make_tuple(Mode::kVmalock, unsigned{SHADOWMM_SWAP_VMA_RETRY})),
    [](const testing::TestParamInfo<std::tuple<Mode, unsigned>>& info) {
      std::string n = std::string(ModeName(std::get<0>(info.param))) + "_" +
                      std::to_string(std::get<1>(info.param));
      return n;
    });

TEST(UffdWorkload, RunsOnTheModuleAndStock) {
  for (const char* name : {"module", "stock"}) {
    SCOPED_TRACE(name);
    if (std::string(name) == "module" && !ModuleAvailable()) continue;
    WorkloadRun run;
    try {
      run = RunWorkloadOn(name, UffdWorkload(4, 1, true), 3, 10);
    } catch (const Skip& e) {
      std::printf("skip %s: %s\n", name, e.what());
      continue;
    }
    EXPECT_EQ(run.result.total.records, 10u);
    EXPECT_EQ(run.results["copies"], 10);
  }
}

TEST(UffdWorkload, TooFewThreadsIsAnError) {
  EXPECT_THROW(RunWorkloadOn("inproc", UffdWorkload(4, 2, true), 3, 1), Error);
}

}  // namespace
}  // namespace shadowmm
