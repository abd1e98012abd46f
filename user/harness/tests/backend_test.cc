// SPDX-License-Identifier: GPL-2.0
//
// Each backend against the Backend contract, on a few pages.
#include "backend.h"

#include <gtest/gtest.h>

#include <tuple>

#include "arena.h"
#include "test_util.h"

extern "C" {
#include "smm_api.h"
}

namespace shadowmm {
namespace {

struct Case {
  std::string backend;
  Submit submit;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.backend << "/" << SubmitName(c.submit); }

std::string CaseName(const testing::TestParamInfo<Case>& info) {
  std::string name = info.param.backend;
  if (info.param.backend == "module") name += "_" + std::string(SubmitName(info.param.submit));
  return name;
}

class BackendTest : public testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    if (GetParam().backend == "module" && !ModuleAvailable())
      GTEST_SKIP() << CtlPath() << " is absent: load shadowmm.ko (runs in the VM)";
    backend_ = MakeBackend(Config(GetParam().backend, kThreads, GetParam().submit));
    page_ = backend_->PageSize();
  }
  bool shadow() const { return GetParam().backend != "stock"; }
  static constexpr unsigned kThreads = 2;

  std::unique_ptr<Backend> backend_;
  uint64_t page_ = 0;
};

TEST_P(BackendTest, TouchStoresAndLoadReads) {
  auto t = backend_->Attach(1);
  uint64_t a = t->Map(4 * page_, Prot::kReadWrite);
  if (shadow()) {
    // Arena 1's first page is its neighbour mapping (arena.h).
    EXPECT_EQ(a, AddressArenas::kBase + AddressArenas::kArenaSize + page_);
  }
  t->Touch(a, 4 * page_, page_, Access::kWrite, 42);
  EXPECT_EQ(t->Load(a), 42u);
  EXPECT_EQ(t->Load(a + 3 * page_), 42u);
  EXPECT_EQ(t->Load(a + 8), 0u);  // between the strides: never stored to
  t->Fault(a + 16, Access::kWrite, 7);
  EXPECT_EQ(t->Load(a + 16), 7u);
  t->Unmap(a, 4 * page_);
  t->Flush();
}

TEST_P(BackendTest, ZapDropsThePagesKeepsTheMapping) {
  auto t = backend_->Attach(1);
  uint64_t a = t->Map(2 * page_, Prot::kReadWrite);
  t->Touch(a, 2 * page_, page_, Access::kWrite, 5);
  t->Zap(a, 2 * page_);
  EXPECT_EQ(t->Load(a), 0u);
  t->Touch(a, 2 * page_, page_, Access::kWrite, 6);
  EXPECT_EQ(t->Load(a + page_), 6u);
  t->Unmap(a, 2 * page_);
  t->Flush();
}

TEST_P(BackendTest, FaultsAreCounted) {
  auto t = backend_->Attach(1);
  uint64_t a = t->Map(8 * page_, Prot::kReadWrite);
  t->Flush();
  shadowmm_stats before = backend_->Stats();
  std::optional<uint64_t> f0 = t->Faults();
  t->Touch(a, 8 * page_, page_, Access::kWrite, 1);
  t->Touch(a, 8 * page_, page_, Access::kWrite, 2);  // present: no more faults
  t->Flush();
  std::optional<uint64_t> f1 = t->Faults();
  shadowmm_stats after = backend_->Stats();
  uint64_t faults = after.counter[SHADOWMM_EV_FAULT] - before.counter[SHADOWMM_EV_FAULT];
  if (shadow()) {
    EXPECT_EQ(faults, 8u);
    EXPECT_EQ(after.counter[SHADOWMM_EV_ACCESS] - before.counter[SHADOWMM_EV_ACCESS], 16u);
    EXPECT_EQ(after.pages_live, 8u);
  } else {
    EXPECT_GE(faults, 8u);  // the process's own: a few more are fine
  }
  if (GetParam().backend == "module" && GetParam().submit != Submit::kIoctl) {
    EXPECT_FALSE(f1.has_value());  // batched: only the counters know
  } else {
    ASSERT_TRUE(f0 && f1);
    if (shadow())
      EXPECT_EQ(*f1 - *f0, 8u);
    else
      EXPECT_GE(*f1 - *f0, 8u);
  }
  t->Unmap(a, 8 * page_);
  t->Flush();
  if (shadow()) {
    EXPECT_EQ(backend_->Stats().pages_live, 0u);
  }
}

TEST_P(BackendTest, ProtectAndUnmapAreEnforced) {
  auto t = backend_->Attach(1);
  uint64_t a = t->Map(2 * page_, Prot::kReadWrite);
  t->Touch(a, 2 * page_, page_, Access::kWrite, 9);
  t->Protect(a, page_, Prot::kRead);
  EXPECT_EQ(t->Load(a), 9u);
  t->Flush();
  if (shadow()) {  // the stock backend would take a real SIGSEGV
    EXPECT_THROW(
        {
          t->Fault(a, Access::kWrite, 1);
          t->Flush();
        },
        SysError);
    EXPECT_EQ(t->Load(a), 9u);
  }
  t->Unmap(a, 2 * page_);
  t->Flush();
  if (shadow()) {
    EXPECT_THROW(t->Load(a), SysError);
    shadowmm_stats st = backend_->Stats();
    EXPECT_EQ(st.vmas_live, kThreads + 1u);  // the neighbour pages
    EXPECT_EQ(st.pages_live, 0u);
  }
}

TEST_P(BackendTest, ThreadsShareTheSpace) {
  auto main = backend_->Attach(0);
  uint64_t a = main->Map(page_, Prot::kReadWrite);
  main->Touch(a, page_, page_, Access::kWrite, 77);
  main->Flush();
  auto worker = backend_->Attach(2);
  EXPECT_EQ(worker->Load(a), 77u);
  // Any thread may unmap what another mapped.
  worker->Unmap(a, page_);
  worker->Flush();
  uint64_t b = main->Map(page_, Prot::kReadWrite);
  if (shadow()) {
    EXPECT_EQ(b, a);  // the range went back to arena 0
  }
  main->Unmap(b, page_);
  main->Flush();
}

TEST_P(BackendTest, Modes) {
  if (!shadow()) {
    EXPECT_EQ(backend_->GetMode(), Mode::kStock);
    EXPECT_THROW(backend_->SetMode(Mode::kSpf), Error);
    return;
  }
  for (Mode m : kShadowModes) {
    backend_->SetMode(m);
    EXPECT_EQ(backend_->GetMode(), m);
    EXPECT_EQ(backend_->Stats().mode, static_cast<uint64_t>(m));
  }
  EXPECT_THROW(backend_->SetMode(Mode::kStock), Error);
}

INSTANTIATE_TEST_SUITE_P(All, BackendTest,
                         testing::Values(Case{"stock", Submit::kIoctl},
                                         Case{"inproc", Submit::kIoctl},
                                         Case{"module", Submit::kIoctl},
                                         Case{"module", Submit::kWrite},
                                         Case{"module", Submit::kUring}),
                         CaseName);

TEST(Backend, NamesAgreeWithTheCore) {
  for (unsigned m = 0; m < SHADOWMM_NR_MODES; m++)
    EXPECT_EQ(ModeName(static_cast<Mode>(m)), smm_mode_name(m));
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
    EXPECT_EQ(CounterName(i), smm_counter_name(i));
  EXPECT_EQ(ParseMode("vmalock"), Mode::kVmalock);
  EXPECT_FALSE(ParseMode("turbo").has_value());
}

TEST(Backend, StockRefusesShadowModes) {
  BackendConfig c = Config("stock");
  c.mode = Mode::kSpf;
  EXPECT_THROW(MakeBackend(c), Error);
  c.mode = Mode::kClassic;  // the kernel's own path, reported as stock
  EXPECT_EQ(MakeBackend(c)->GetMode(), Mode::kStock);
}

TEST(Backend, MissingModuleIsOneActionableLine) {
  BackendConfig c = Config("module");
  c.ctl_path = "/nonexistent/shadowmm/ctl";
  try {
    MakeBackend(c);
    FAIL() << "opened a file that does not exist";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("/nonexistent/shadowmm/ctl"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  if (!ModuleAvailable() && CtlPath() == kDefaultCtlPath) {
    c.ctl_path = kDefaultCtlPath;
    try {
      MakeBackend(c);
      FAIL();
    } catch (const Error& e) {
      std::string what = e.what();
      EXPECT_TRUE(what.find("insmod") != std::string::npos ||
                  what.find("mount -t debugfs") != std::string::npos ||
                  what.find("root") != std::string::npos)
          << what;
    }
  }
}

TEST(Backend, UnknownBackend) { EXPECT_THROW(MakeBackend(Config("qemu")), Error); }

}  // namespace
}  // namespace shadowmm
