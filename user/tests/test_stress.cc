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
constexpr uint64_t kSlots = 32;  // 1024 pages: 2 PTE tables of 4 KiB pages, 32 of 64 KiB

struct StressParam {
  unsigned mode;
  unsigned long inject;
  unsigned geometry = SHADOWMM_GEOM_4K;
  unsigned tlb = SHADOWMM_TLB_RCU;
};

void PrintTo(const StressParam& p, std::ostream* os) {
  *os << mode_name(p.mode) << (p.inject ? " with race injection" : "") << " "
      << smm_geometry_name(p.geometry) << " tlb " << smm_tlb_policy_name(p.tlb);
}

class Stress : public CoreTest, public ::testing::WithParamInterface<StressParam> {};

TEST_P(Stress, FaultersAgainstWriters) {
  const auto [mode, inject, geometry, tlb] = GetParam();
  Space s(mode, {}, geometry);
  ASSERT_EQ(s.set_tlb_policy(tlb), 0);
  const uint64_t psize = s.page_size();
  smm_set_race_injection(inject);
  std::atomic<uint64_t> bad{0};
  Workers threads;

  auto slot_addr = [psize](uint64_t slot, uint64_t page) {
    return kRegion + (slot * kSlotPages + page) * psize;
  };
  for (int t = 0; t < 3; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t + 1);
      while (!threads.stopping()) {
        uint64_t a = slot_addr(rng() % kSlots, rng() % kSlotPages) + (rng() % (psize / 8)) * 8;
        int ret = s.fault(a, rng() % 2, rng());
        if (ret != 0 && ret != -EFAULT) bad++;
      }
    });
  }
  threads.spawn([&] {  // maps and unmaps
    std::mt19937_64 rng(100);
    while (!threads.stopping()) {
      uint64_t slot = rng() % kSlots, page = rng() % kSlotPages;
      uint64_t len = (1 + rng() % (kSlotPages - page)) * psize;
      int ret = rng() % 2 ? s.map(slot_addr(slot, 0), kSlotPages * psize, rng() % 3 ? kRW : kRO)
                          : s.unmap(slot_addr(slot, page), len);
      if (ret != 0 && ret != -EEXIST) bad++;
    }
  });
  threads.spawn([&] {  // protects and zaps
    std::mt19937_64 rng(200);
    while (!threads.stopping()) {
      uint64_t slot = rng() % kSlots, page = rng() % kSlotPages;
      uint64_t len = (1 + rng() % (2 * kSlotPages)) * psize;
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

// Modes switched under load, so speculative faults (spf, mmseq) and vmalock
// faults populating tables run at once, against writers that unmap, zap
// and re-protect in the same 2 MiB spans.  This is where a writer's walk
// to the tables it must change meets a table populated meanwhile (the
// store-buffering case pt_sync_populators() closes).  The checker looks
// for pages outside every VMA and PTEs whose rights differ from their
// VMA's; the gauges, read concurrently, must never go below zero.
class ModeSwitch : public CoreTest, public ::testing::WithParamInterface<unsigned long> {};

TEST_P(ModeSwitch, FaultersWritersAndSwitches) {
  const unsigned long inject = GetParam();
  Space s(SHADOWMM_MODE_SPF);
  smm_set_race_injection(inject);
  std::atomic<uint64_t> bad{0}, negative{0};
  Workers threads;
  // Small slots: neighbouring VMAs share PTE tables and upper levels.
  constexpr uint64_t kPages = 8, kNr = 8;
  auto addr = [](uint64_t slot, uint64_t page) { return kRegion + (slot * kPages + page) * kPage; };
  for (int t = 0; t < 2; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t + 1);
      while (!threads.stopping()) {
        int ret = s.fault(addr(rng() % kNr, rng() % kPages), rng() % 2, rng());
        if (ret != 0 && ret != -EFAULT) bad++;
      }
    });
  }
  threads.spawn([&] {  // unmaps and remaps whole slots, zaps
    std::mt19937_64 rng(100);
    while (!threads.stopping()) {
      uint64_t slot = rng() % kNr;
      int ret;
      switch (rng() % 3) {
        case 0:
          ret = s.unmap(addr(slot, 0), kPages * kPage);
          break;
        case 1:
          ret = s.map(addr(slot, 0), kPages * kPage, kRW);
          if (ret == -EEXIST) ret = 0;
          break;
        default:
          ret = s.zap(addr(slot, 0), kPages * kPage);
          if (ret == -ENOMEM) ret = 0;  // a hole: unmapped meanwhile
          break;
      }
      if (ret) bad++;
    }
  });
  threads.spawn([&] {  // re-protects single pages
    std::mt19937_64 rng(200);
    while (!threads.stopping()) {
      uint64_t slot = rng() % kNr, page = rng() % kPages;
      int ret = s.protect(addr(slot, page), kPage, rng() % 2 ? kRW : kRO);
      if (ret && ret != -ENOMEM) bad++;
    }
  });
  threads.spawn([&] {  // switches modes, mostly between spf/mmseq and vmalock
    const unsigned modes[] = {SHADOWMM_MODE_SPF, SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ,
                              SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_CLASSIC};
    for (unsigned i = 0; !threads.stopping(); i++) {
      smm_set_mode(s.get(), modes[i % std::size(modes)]);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  threads.spawn([&] {  // the gauges, read under load
    while (!threads.stopping()) {
      auto st = s.stats();
      for (uint64_t g : {st.pages_live, st.tables_live, st.vmas_live})
        if (g > (1ULL << 62)) negative++;
    }
  });

  // Both kinds of fault must run: on a loaded machine (TSan, injection,
  // shootdowns) the run goes on, up to four times as long, until they did.
  auto both_ran = [&s] {
    auto st = s.stats();
    return st.counter[SHADOWMM_EV_SPF_ATTEMPT] + st.counter[SHADOWMM_EV_MMSEQ_ATTEMPT] > 0 &&
           st.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS] > 0;
  };
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + std::chrono::milliseconds(stress_ms(800));
  const auto last_chance = start + 4 * std::chrono::milliseconds(stress_ms(800));
  for (auto now = start; now < deadline || (now < last_chance && !both_ran());
       now = std::chrono::steady_clock::now()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ASSERT_EQ(s.validate(), "");
  }
  threads.stop();
  EXPECT_EQ(bad.load(), 0u) << "an operation returned an unexpected errno";
  EXPECT_EQ(negative.load(), 0u) << "a gauge went below zero";
  EXPECT_EQ(s.validate(), "");
  auto st = s.stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT], faults_accounted(st));
  // Both kinds of fault really ran.
  EXPECT_GT(st.counter[SHADOWMM_EV_SPF_ATTEMPT] + st.counter[SHADOWMM_EV_MMSEQ_ATTEMPT], 0u);
  EXPECT_GT(st.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS], 0u);
}

INSTANTIATE_TEST_SUITE_P(Injection, ModeSwitch, ::testing::Values(0UL, kAllWindows),
                         [](const auto& info) { return info.param ? "injected" : "plain"; });

INSTANTIATE_TEST_SUITE_P(
    Modes, Stress,
    ::testing::Values(
        StressParam{SHADOWMM_MODE_CLASSIC, 0}, StressParam{SHADOWMM_MODE_SPF, 0},
        StressParam{SHADOWMM_MODE_VMALOCK, 0}, StressParam{SHADOWMM_MODE_MMSEQ, 0},
        StressParam{SHADOWMM_MODE_SPF, kAllWindows},
        StressParam{SHADOWMM_MODE_VMALOCK, kAllWindows},
        StressParam{SHADOWMM_MODE_MMSEQ, kAllWindows},
        // The 64K geometry (on any host: ASan and TSan cover it).
        StressParam{SHADOWMM_MODE_CLASSIC, 0, SHADOWMM_GEOM_64K},
        StressParam{SHADOWMM_MODE_SPF, 0, SHADOWMM_GEOM_64K},
        StressParam{SHADOWMM_MODE_VMALOCK, 0, SHADOWMM_GEOM_64K},
        StressParam{SHADOWMM_MODE_MMSEQ, 0, SHADOWMM_GEOM_64K},
        StressParam{SHADOWMM_MODE_SPF, kAllWindows, SHADOWMM_GEOM_64K},
        StressParam{SHADOWMM_MODE_VMALOCK, kAllWindows, SHADOWMM_GEOM_64K},
        StressParam{SHADOWMM_MODE_MMSEQ, kAllWindows, SHADOWMM_GEOM_64K},
        // Tables freed after an IPI round, speculative walks
        // with interrupts off; and no TLB at all.
        StressParam{SHADOWMM_MODE_CLASSIC, 0, SHADOWMM_GEOM_4K, SHADOWMM_TLB_IPI},
        StressParam{SHADOWMM_MODE_SPF, kAllWindows, SHADOWMM_GEOM_4K, SHADOWMM_TLB_IPI},
        StressParam{SHADOWMM_MODE_VMALOCK, kAllWindows, SHADOWMM_GEOM_4K, SHADOWMM_TLB_IPI},
        StressParam{SHADOWMM_MODE_MMSEQ, kAllWindows, SHADOWMM_GEOM_64K, SHADOWMM_TLB_IPI},
        StressParam{SHADOWMM_MODE_SPF, kAllWindows, SHADOWMM_GEOM_4K, SHADOWMM_TLB_NONE}),
    [](const auto& info) {
      return std::string(mode_name(info.param.mode)) + (info.param.inject ? "_injected" : "") +
             (info.param.geometry == SHADOWMM_GEOM_64K ? "_64k" : "") +
             (info.param.tlb == SHADOWMM_TLB_RCU
                  ? ""
                  : std::string("_tlb_") + smm_tlb_policy_name(info.param.tlb));
    });

}  // namespace
}  // namespace smm_test
