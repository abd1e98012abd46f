// SPDX-License-Identifier: GPL-2.0
// Concurrent stress: faulting threads against threads that map, unmap,
// protect and zap the same region, in every mode, with and without race
// injection, for a bounded time (SMM_STRESS_MS per run).  Invariants are
// checked while it runs and after: the space validates (no page outside a
// live VMA, index and tables consistent), every fault is accounted to
// exactly one outcome, and teardown frees everything (CoreTest).
#include <atomic>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "smm_test.h"

namespace smm_test {
namespace {

constexpr uint64_t kRegion = 0x50000000;
constexpr uint64_t kSlotPages = 32;
constexpr uint64_t kSlots = 32;  // 4 MiB: two PTE tables

struct StressParam {
  unsigned mode;
  unsigned long inject;
};

void PrintTo(const StressParam& p, std::ostream* os) {
  *os << mode_name(p.mode) << (p.inject ? " with race injection" : "");
}

class Stress : public CoreTest, public ::testing::WithParamInterface<StressParam> {};

TEST_P(Stress, FaultersAgainstWriters) {
  const auto [mode, inject] = GetParam();
  Space s(mode);
  smm_set_race_injection(inject);
  std::atomic<uint64_t> bad{0};
  Workers threads;

  auto slot_addr = [](uint64_t slot, uint64_t page) {
    return kRegion + (slot * kSlotPages + page) * kPage;
  };
  for (int t = 0; t < 3; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t + 1);
      while (!threads.stopping()) {
        uint64_t a = slot_addr(rng() % kSlots, rng() % kSlotPages) + (rng() % 512) * 8;
        int ret = s.fault(a, rng() % 2, rng());
        if (ret != 0 && ret != -EFAULT) bad++;
      }
    });
  }
  threads.spawn([&] {  // maps and unmaps
    std::mt19937_64 rng(100);
    while (!threads.stopping()) {
      uint64_t slot = rng() % kSlots, page = rng() % kSlotPages;
      uint64_t len = (1 + rng() % (kSlotPages - page)) * kPage;
      int ret = rng() % 2 ? s.map(slot_addr(slot, 0), kSlotPages * kPage, rng() % 3 ? kRW : kRO)
                          : s.unmap(slot_addr(slot, page), len);
      if (ret != 0 && ret != -EEXIST) bad++;
    }
  });
  threads.spawn([&] {  // protects and zaps
    std::mt19937_64 rng(200);
    while (!threads.stopping()) {
      uint64_t slot = rng() % kSlots, page = rng() % kSlotPages;
      uint64_t len = (1 + rng() % (2 * kSlotPages)) * kPage;
      int ret = rng() % 2 ? s.protect(slot_addr(slot, page), len, rng() % 2 ? kRW : kRO)
                          : s.zap(slot_addr(slot, page), len);
      if (ret != 0 && ret != -ENOMEM) bad++;
    }
  });

  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(stress_ms(800));
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_EQ(s.validate(), "");
  }
  threads.stop();
  EXPECT_EQ(bad.load(), 0u) << "an operation returned an unexpected errno";
  EXPECT_EQ(s.validate(), "");
  auto st = s.stats();
  EXPECT_GT(st.counter[SHADOWMM_EV_FAULT], 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT], faults_accounted(st));
}

constexpr unsigned long kAllWindows = (1UL << SMM_NR_RACE_WINDOWS) - 1;

INSTANTIATE_TEST_SUITE_P(
    Modes, Stress,
    ::testing::Values(StressParam{SHADOWMM_MODE_CLASSIC, 0}, StressParam{SHADOWMM_MODE_SPF, 0},
                      StressParam{SHADOWMM_MODE_VMALOCK, 0}, StressParam{SHADOWMM_MODE_MMSEQ, 0},
                      StressParam{SHADOWMM_MODE_SPF, kAllWindows},
                      StressParam{SHADOWMM_MODE_VMALOCK, kAllWindows},
                      StressParam{SHADOWMM_MODE_MMSEQ, kAllWindows}),
    [](const auto& info) {
      return std::string(mode_name(info.param.mode)) + (info.param.inject ? "_injected" : "");
    });

}  // namespace
}  // namespace smm_test
