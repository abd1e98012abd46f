// SPDX-License-Identifier: GPL-2.0
// Reclaim, the shadow swap store and swap-in faults: contents survive a
// round trip in every mode and swap policy, each strategy retries or
// aborts as its original did (counted), a budget reclaims instead of
// failing, slots never leak, and the rmap stays exact while reclaim races
// faults, splits and merges.  The consistency checker runs after each.
#include <atomic>
#include <random>
#include <thread>
#include <vector>

#include "model_compare.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x50000000;

uint64_t slots_live(const Space& s) {
  auto st = s.stats();
  return st.counter[SHADOWMM_EV_SWAP_SLOT_ALLOC] - st.counter[SHADOWMM_EV_SWAP_SLOT_FREE];
}

int set_memory(const Space& s, uint64_t max_pages, uint64_t slots, uint64_t latency_us = 0) {
  shadowmm_memory mem{.max_pages = max_pages, .swap_slots = slots, .swap_latency_us = latency_us};
  return smm_set_memory(s.get(), &mem);
}

int reclaim(const Space& s, uint64_t pages, uint64_t* got = nullptr, uint64_t addr = 0,
            uint64_t len = 0) {
  shadowmm_cmd cmd{.op = SHADOWMM_OP_RECLAIM, .addr = addr, .len = len, .value = pages};
  int ret = s.exec(cmd);
  if (got) *got = cmd.out_value;
  return ret;
}

uint64_t pattern(uint64_t page) { return 0x5eed0000ULL + page * 7919; }

class SwapPaths : public CoreTest,
                  public ::testing::WithParamInterface<std::tuple<unsigned, unsigned>> {
 protected:
  unsigned mode() const { return std::get<0>(GetParam()); }
  unsigned policy() const { return std::get<1>(GetParam()); }
};

// Every page out and back, each fault a major one that slept, with the
// strategy's own way of waiting.
TEST_P(SwapPaths, RoundTripKeepsContents) {
  constexpr uint64_t kPages = 256;
  Space s(mode());
  ASSERT_EQ(smm_set_swap_policy(s.get(), policy()), 0);
  ASSERT_EQ(set_memory(s, 0, 2 * kPages, 20), 0);
  ASSERT_EQ(s.map(kBase, kPages * kPage, kRW), 0);
  for (uint64_t i = 0; i < kPages; i++)
    ASSERT_EQ(s.fault(kBase + i * kPage + 8, true, pattern(i)), 0);
  // First turn of the clock clears the young bits, the second takes all.
  uint64_t got = 0;
  ASSERT_EQ(reclaim(s, 0, &got), 0);
  EXPECT_EQ(got, kPages);
  EXPECT_EQ(s.stats().pages_live, 0u);
  EXPECT_EQ(slots_live(s), kPages);
  EXPECT_EQ(s.counter(SHADOWMM_EV_PSWPOUT), kPages);
  EXPECT_EQ(s.validate(), "");
  const auto before = s.stats();
  for (uint64_t i = 0; i < kPages; i++) {
    uint64_t v = 0;
    ASSERT_EQ(s.fault(kBase + i * kPage + 8, false, 0, &v), 0);
    ASSERT_EQ(v, pattern(i)) << "page " << i;
  }
  const auto st = s.stats();
  auto delta = [&](shadowmm_counter c) { return st.counter[c] - before.counter[c]; };
  EXPECT_EQ(delta(SHADOWMM_EV_PSWPIN), kPages);
  EXPECT_EQ(delta(SHADOWMM_EV_PGMAJFAULT), kPages);
  EXPECT_EQ(slots_live(s), 0u) << "a swap-in frees its slot";
  EXPECT_EQ(st.pages_live, kPages);
  switch (mode()) {
    case SHADOWMM_MODE_SPF:
    case SHADOWMM_MODE_MMSEQ:
      EXPECT_EQ(delta(mode() == SHADOWMM_MODE_SPF ? SHADOWMM_EV_SPF_ABORT_SWAP
                                                  : SHADOWMM_EV_MMSEQ_ABORT_SWAP),
                kPages);
      EXPECT_EQ(delta(SHADOWMM_EV_FAULT_RETRY), kPages);
      break;
    case SHADOWMM_MODE_VMALOCK:
      if (policy() == SHADOWMM_SWAP_FALLBACK) {
        EXPECT_EQ(delta(SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK), kPages);
        EXPECT_EQ(delta(SHADOWMM_EV_FAULT_RETRY), kPages);
      } else if (policy() == SHADOWMM_SWAP_DROP_RETRY) {
        // Waited without the VMA lock, then once under mmap_lock: TRIED.
        EXPECT_EQ(delta(SHADOWMM_EV_VMA_LOCK_SWAP_DROP_RETRY), kPages);
        EXPECT_EQ(delta(SHADOWMM_EV_FAULT_RETRY), 0u);
        EXPECT_EQ(delta(SHADOWMM_EV_FAULT_CLASSIC), kPages);
      } else {
        EXPECT_EQ(delta(SHADOWMM_EV_VMA_LOCK_SWAP_VMA_RETRY), kPages);
        EXPECT_EQ(delta(SHADOWMM_EV_VMA_LOCK_SUCCESS), kPages);
        EXPECT_EQ(delta(SHADOWMM_EV_FAULT_CLASSIC), 0u);
      }
      break;
    default:
      EXPECT_EQ(delta(SHADOWMM_EV_FAULT_RETRY), kPages);
  }
  EXPECT_EQ(s.validate(), "");
}

// A budget with swap behind it: faults reclaim directly instead of failing,
// and resident pages never exceed it.  The background reclaimer is paused:
// pages_live sums frees before allocations, so a page it frees between the
// two reads counts as live and the gauge reads one high (TSan, 1 run in
// ~400: 65 of a budget of 64), while the faults alone must keep it exact.
TEST_P(SwapPaths, BudgetReclaimsInsteadOfFailing) {
  constexpr uint64_t kBudget = 64, kPages = 200;
  smm_shim_background_reclaim(false);
  Space s(mode());
  ASSERT_EQ(smm_set_swap_policy(s.get(), policy()), 0);
  ASSERT_EQ(set_memory(s, kBudget, 4 * kPages), 0);
  ASSERT_EQ(s.map(kBase, kPages * kPage, kRW), 0);
  for (int round = 0; round < 2; round++)
    for (uint64_t i = 0; i < kPages; i++) {
      uint64_t v = 0;
      if (round == 0) {
        ASSERT_EQ(s.fault(kBase + i * kPage, true, pattern(i)), 0) << i;
      } else {
        ASSERT_EQ(s.fault(kBase + i * kPage, false, 0, &v), 0) << i;
        ASSERT_EQ(v, pattern(i)) << i;
      }
      ASSERT_LE(s.stats().pages_live, kBudget);
    }
  EXPECT_GT(s.counter(SHADOWMM_EV_RECLAIM_DIRECT), 0u);
  EXPECT_GT(s.counter(SHADOWMM_EV_PSWPIN), 0u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT_OOM), 0u);
  EXPECT_EQ(s.validate(), "");
}

INSTANTIATE_TEST_SUITE_P(
    Policies, SwapPaths,
    ::testing::Values(std::make_tuple(SHADOWMM_MODE_CLASSIC, SHADOWMM_SWAP_DROP_RETRY),
                      std::make_tuple(SHADOWMM_MODE_SPF, SHADOWMM_SWAP_DROP_RETRY),
                      std::make_tuple(SHADOWMM_MODE_MMSEQ, SHADOWMM_SWAP_DROP_RETRY),
                      std::make_tuple(SHADOWMM_MODE_VMALOCK, SHADOWMM_SWAP_FALLBACK),
                      std::make_tuple(SHADOWMM_MODE_VMALOCK, SHADOWMM_SWAP_DROP_RETRY),
                      std::make_tuple(SHADOWMM_MODE_VMALOCK, SHADOWMM_SWAP_VMA_RETRY)),
    [](const auto& info) {
      std::string n = std::string(mode_name(std::get<0>(info.param))) + "_" +
                      smm_swap_policy_name(std::get<1>(info.param));
      for (char& c : n)
        if (c == '-') c = '_';
      return n;
    });

class Swap : public CoreTest {};

TEST_F(Swap, BadInputChangesNothing) {
  Space s;
  shadowmm_memory bad{.max_pages = 10, .wmark_high = 5, .wmark_low = 6};
  EXPECT_EQ(smm_set_memory(s.get(), &bad), -EINVAL);
  bad = {.max_pages = 10, .wmark_high = 11, .wmark_low = 1};
  EXPECT_EQ(smm_set_memory(s.get(), &bad), -EINVAL);
  EXPECT_EQ(smm_set_swap_policy(s.get(), SHADOWMM_NR_SWAP_POLICIES), -EINVAL);
  shadowmm_cmd cmd{.op = SHADOWMM_OP_SET_SWAP_POLICY, .value = 1ULL << 32};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  ASSERT_EQ(s.map(kBase, 8 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 8 * kPage, kPage, true), 0);
  EXPECT_EQ(reclaim(s, 0), -ENOSPC) << "no swap";
  cmd = {.op = SHADOWMM_OP_RECLAIM, .addr = kBase + 1, .len = kPage};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  cmd = {.op = SHADOWMM_OP_RECLAIM, .flags = 1};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  ASSERT_EQ(set_memory(s, 0, 16), 0);
  uint64_t got = 0;
  ASSERT_EQ(reclaim(s, 0, &got), 0);
  EXPECT_EQ(got, 8u);
  EXPECT_EQ(set_memory(s, 0, 32), -EBUSY) << "slots in use";
  EXPECT_EQ(set_memory(s, 0, 16), 0) << "the same count is no change";
  EXPECT_EQ(s.validate(), "");
  shadowmm_info info{};
  smm_mm_info(s.get(), &info);
  EXPECT_EQ(info.swap_slots, 16u);
  EXPECT_EQ(info.swap_policy, uint64_t{SHADOWMM_SWAP_DROP_RETRY});
}

// RECLAIM of a range takes only pages mapped there; a full store stops it.
TEST_F(Swap, RangeAndFullStore) {
  Space s;
  ASSERT_EQ(set_memory(s, 0, 4), 0);
  ASSERT_EQ(s.map(kBase, 16 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 16 * kPage, kPage, true), 0);
  uint64_t got = 0;
  ASSERT_EQ(reclaim(s, 0, &got, kBase + 8 * kPage, 2 * kPage), 0);
  EXPECT_EQ(got, 2u);
  ASSERT_EQ(reclaim(s, 0, &got), 0);
  EXPECT_EQ(got, 2u) << "four slots in all";
  EXPECT_GT(s.counter(SHADOWMM_EV_SWAP_FULL), 0u);
  EXPECT_EQ(reclaim(s, 0, &got), -ENOSPC);
  EXPECT_EQ(s.validate(), "");
}

// Zap and unmap free the slots of swapped pages; teardown leaves none.
TEST_F(Swap, ZapAndUnmapFreeSlots) {
  Space s;
  ASSERT_EQ(set_memory(s, 0, 64), 0);
  ASSERT_EQ(s.map(kBase, 32 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 32 * kPage, kPage, true), 0);
  ASSERT_EQ(reclaim(s, 0), 0);
  ASSERT_EQ(slots_live(s), 32u);
  ASSERT_EQ(s.zap(kBase, 8 * kPage), 0);
  EXPECT_EQ(slots_live(s), 24u);
  ASSERT_EQ(s.protect(kBase + 8 * kPage, 8 * kPage, SHADOWMM_PROT_READ), 0);  // split
  EXPECT_EQ(s.validate(), "");
  ASSERT_EQ(s.unmap(kBase + 12 * kPage, 8 * kPage), 0);
  EXPECT_EQ(slots_live(s), 16u);
  uint64_t v = 1;
  ASSERT_EQ(s.fault(kBase, false, 0, &v), 0);
  EXPECT_EQ(v, 0u) << "zapped: a new zero page";
  EXPECT_EQ(s.validate(), "");
}

// Reclaim (on demand and in the background) racing faults and the splits
// and merges of a protect that comes and goes, with the fault windows
// widened: every page keeps what its owner wrote, and the rmap, the
// swap counts and the LRU stay exact.
TEST_F(Swap, ReclaimRacesFaultsSplitsAndMerges) {
  for (unsigned mode :
       {SHADOWMM_MODE_CLASSIC, SHADOWMM_MODE_SPF, SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ}) {
    constexpr uint64_t kPages = 512, kThreads = 2;
    Space s(mode);
    ASSERT_EQ(set_memory(s, kPages / 2, 2 * kPages, 5), 0);
    ASSERT_EQ(s.map(kBase, kPages * kPage, kRW), 0);
    smm_set_race_injection(1UL << SMM_RW_SPF_AFTER_SNAPSHOT | 1UL << SMM_RW_VMA_LOCKED |
                           1UL << SMM_RW_WRITER_SECTION);
    std::atomic<long> bad{0};
    std::string first_bad;
    std::vector<std::vector<uint64_t>> want(kThreads, std::vector<uint64_t>(kPages / kThreads));
    {
      Workers w;
      for (uint64_t t = 0; t < kThreads; t++)
        w.spawn([&, t] {
          std::mt19937_64 rng(t + 1);
          auto& mine = want[t];
          while (!w.stopping()) {
            uint64_t i = rng() % mine.size(), page = i * kThreads + t;
            uint64_t addr = kBase + page * kPage + 8 * t, v = 0;
            if (rng() % 2) {
              // A write may meet the read-only phase: then nothing changed.
              if (s.fault(addr, true, mine[i] + 1) == 0) mine[i]++;
            } else if (int r = s.fault(addr, false, 0, &v); r != 0 || v != mine[i]) {
              if (bad++ == 0)
                first_bad = "page " + std::to_string(page) + ": " + std::to_string(r) + ", read " +
                            std::to_string(v) + " wrote " + std::to_string(mine[i]);
            }
          }
        });
      w.spawn([&] {
        std::mt19937_64 rng(99);
        while (!w.stopping()) {
          uint64_t a = kBase + (rng() % (kPages - 16)) * kPage;
          s.protect(a, 16 * kPage, SHADOWMM_PROT_READ);
          s.protect(a, 16 * kPage, kRW);
        }
      });
      w.spawn([&] {
        std::mt19937_64 rng(7);
        while (!w.stopping()) {
          uint64_t a = kBase + (rng() % kPages) * kPage;
          reclaim(s, 8, nullptr, a, std::min<uint64_t>(64, kPages - (a - kBase) / kPage) * kPage);
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(stress_ms(1500)));
    }
    smm_set_race_injection(0);
    EXPECT_EQ(bad.load(), 0) << mode_name(mode) << ": " << first_bad;
    EXPECT_GT(s.counter(SHADOWMM_EV_PSWPIN), 0u) << mode_name(mode);
    EXPECT_EQ(s.validate(), "") << mode_name(mode);
    for (uint64_t t = 0; t < kThreads; t++)
      for (uint64_t i = 0; i < want[t].size(); i++) {
        uint64_t v = 0;
        ASSERT_EQ(s.fault(kBase + (i * kThreads + t) * kPage + 8 * t, false, 0, &v), 0);
        ASSERT_EQ(v, want[t][i]) << mode_name(mode) << " page " << i * kThreads + t;
      }
  }
}

}  // namespace
}  // namespace smm_test
