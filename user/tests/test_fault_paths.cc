// SPDX-License-Identifier: GPL-2.0
// The fault-locking strategies, tested on their counters: which path
// handled each fault, which aborts happen when, and the race each one
// exists to close (a page must never be installed in a range that was
// unmapped under the faulting thread).
#include <atomic>
#include <barrier>
#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "model_compare.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x60000000;
constexpr auto kPatience = std::chrono::seconds(20);

class FaultPaths : public CoreTest {};

// Every fault in spf/mmseq is speculative except the first under each new
// PTE table, which finds no table and goes classic to allocate it, and the
// VMA's very first, which finds no anon_vma (the first under a table too).
TEST_F(FaultPaths, SpeculativeSingleThread) {
  for (unsigned mode : {SHADOWMM_MODE_SPF, SHADOWMM_MODE_MMSEQ}) {
    Space s(mode);
    constexpr uint64_t kTables = 4, kPages = kTables * 512;
    ASSERT_EQ(s.map(kBase, kTables * kTableSpan, kRW), 0);
    ASSERT_EQ(s.touch(kBase, kTables * kTableSpan, kPage, true), 0);
    auto st = s.stats();
    auto c = [&](shadowmm_counter spf, shadowmm_counter mmseq) {
      return st.counter[mode == SHADOWMM_MODE_SPF ? spf : mmseq];
    };
    EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT], kPages);
    EXPECT_EQ(c(SHADOWMM_EV_SPF_ATTEMPT, SHADOWMM_EV_MMSEQ_ATTEMPT), kPages);
    EXPECT_EQ(c(SHADOWMM_EV_SPF_SUCCESS, SHADOWMM_EV_MMSEQ_SUCCESS), kPages - kTables);
    EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_NO_ANON, SHADOWMM_EV_MMSEQ_ABORT_NO_ANON), 1u);
    EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_NO_TABLE, SHADOWMM_EV_MMSEQ_ABORT_NO_TABLE), kTables - 1);
    EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT_CLASSIC], kTables);
    EXPECT_EQ(st.counter[SHADOWMM_EV_FALLBACK], kTables);
    EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_SEQ, SHADOWMM_EV_MMSEQ_ABORT_SEQ), 0u);
    EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_PTL_BUSY, SHADOWMM_EV_MMSEQ_ABORT_PTL_BUSY), 0u);
    // An access error aborts and the classic path reports it.
    ASSERT_EQ(s.protect(kBase, kPage, kRO), 0);
    ASSERT_EQ(s.zap(kBase, kPage), 0);
    EXPECT_EQ(s.fault(kBase, true, 1), -EFAULT);
    EXPECT_EQ(s.counter(mode == SHADOWMM_MODE_SPF ? SHADOWMM_EV_SPF_ABORT_ACCESS
                                                  : SHADOWMM_EV_MMSEQ_ABORT_ACCESS),
              1u);
    EXPECT_EQ(s.validate(), "");
  }
}

TEST_F(FaultPaths, VmaLockSingleThread) {
  for (unsigned policy : {SHADOWMM_ANON_FALLBACK, SHADOWMM_ANON_TRYLOCK}) {
    SCOPED_TRACE(smm_anon_policy_name(policy));
    Space s(SHADOWMM_MODE_VMALOCK);
    ASSERT_EQ(smm_set_anon_policy(s.get(), policy), 0);
    ASSERT_EQ(s.map(kBase, 2 * kTableSpan, kRW), 0);
    ASSERT_EQ(s.touch(kBase, 2 * kTableSpan, kPage, true), 0);
    auto st = s.stats();
    // The first fault gives the VMA its anon_vma: under mmap_lock (6.4),
    // or under the VMA lock with mmap_lock trylocked (6.8+).
    const bool fallback = policy == SHADOWMM_ANON_FALLBACK;
    EXPECT_EQ(st.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS], fallback ? 1023u : 1024u);
    EXPECT_EQ(st.counter[SHADOWMM_EV_VMA_LOCK_NO_ANON], fallback ? 1u : 0u);
    EXPECT_EQ(st.counter[SHADOWMM_EV_VMA_LOCK_ANON_PREPARE], fallback ? 0u : 1u);
    EXPECT_EQ(st.counter[SHADOWMM_EV_VMA_LOCK_ABORT], 0u);
    EXPECT_EQ(st.counter[SHADOWMM_EV_VMA_LOCK_MISS], 0u);
    EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT_CLASSIC], fallback ? 1u : 0u);
    EXPECT_EQ(s.fault(kBase + 2 * kTableSpan, false), -EFAULT);  // no VMA: abort
    EXPECT_EQ(s.counter(SHADOWMM_EV_VMA_LOCK_ABORT), 1u);
    EXPECT_EQ(s.validate(), "");
  }
}

// 6.8's vmf_anon_prepare(): mmap_lock ranks above the VMA lock, so a
// fault that holds the VMA lock may only trylock it.  First faults of
// fresh VMAs while a writer keeps taking mmap_lock elsewhere: some make
// their anon_vma under the VMA lock, the others are redone under
// mmap_lock, and every one stores what it should.
TEST_F(FaultPaths, VmaLockAnonTrylockFallsBackWhenMmapLockIsTaken) {
  Space s(SHADOWMM_MODE_VMALOCK);
  ASSERT_EQ(s.map(kBase + kTableSpan, 2 * kPage, kRW), 0);
  smm_set_race_injection(1UL << SMM_RW_WRITER_SECTION);
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      s.protect(kBase + kTableSpan, kPage, kRO);
      s.protect(kBase + kTableSpan, kPage, kRW);
    }
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint64_t i = 0;
  while (
      std::chrono::steady_clock::now() < deadline &&
      (!s.counter(SHADOWMM_EV_VMA_LOCK_ANON_PREPARE) || !s.counter(SHADOWMM_EV_VMA_LOCK_NO_ANON))) {
    // A gap below keeps the VMA apart from the table's other mapping.
    ASSERT_EQ(s.map(kBase + kPage, kPage, kRW), 0);
    ASSERT_EQ(s.fault(kBase + kPage, true, ++i), 0);
    uint64_t v = 0;
    ASSERT_EQ(s.fault(kBase + kPage, false, 0, &v), 0);
    ASSERT_EQ(v, i);
    ASSERT_EQ(s.unmap(kBase + kPage, kPage), 0);
  }
  stop = true;
  writer.join();
  smm_set_race_injection(0);
  EXPECT_GT(s.counter(SHADOWMM_EV_VMA_LOCK_ANON_PREPARE), 0u) << i << " first faults";
  EXPECT_GT(s.counter(SHADOWMM_EV_VMA_LOCK_NO_ANON), 0u) << i << " first faults";
  EXPECT_EQ(s.validate(), "");
}

TEST_F(FaultPaths, VmaLockRetriesUnderMmapLockWhenOutOfMemory) {
  Space s(SHADOWMM_MODE_VMALOCK, smm_limits{.max_pages = 2, .max_vmas = 0});
  // One VMA: its first fault (classic) gives it an anon_vma.  Then a
  // budget of one page, and no swap: the second fault cannot have one.
  ASSERT_EQ(s.map(kBase, 2 * kPage, kRW), 0);
  ASSERT_EQ(s.fault(kBase, true, 1), 0);
  shadowmm_memory mem{.max_pages = 1};
  ASSERT_EQ(smm_set_memory(s.get(), &mem), 0);
  EXPECT_EQ(s.fault(kBase + kPage, true, 1), -ENOMEM);
  EXPECT_EQ(s.counter(SHADOWMM_EV_VMA_LOCK_RETRY), 1u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT_OOM), 1u);
}

TEST_F(FaultPaths, ClassicTakesMmapLockForAll) {
  Space s(SHADOWMM_MODE_CLASSIC);
  ASSERT_EQ(s.map(kBase, kTableSpan, kRW), 0);
  ASSERT_EQ(s.touch(kBase, kTableSpan, kPage, false), 0);
  auto st = s.stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT_CLASSIC], 512u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_SPF_ATTEMPT], 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_FALLBACK], 0u);
}

// Two faulters on one VMA while a writer splits and merges it: with the
// windows widened, sequence and PTE-lock aborts must happen, and once the
// writer restores the VMA the final state must still match the model.
TEST_F(FaultPaths, SpeculativeAbortsUnderConcurrentWriter) {
  for (unsigned mode : {SHADOWMM_MODE_SPF, SHADOWMM_MODE_MMSEQ}) {
    Space s(mode);
    constexpr uint64_t kPages = 64;
    ASSERT_EQ(s.map(kBase, (kPages + 8) * kPage, kRW), 0);
    ASSERT_EQ(s.touch(kBase, kPage, kPage, true), 0);  // tables exist
    smm_set_race_injection(1UL << SMM_RW_SPF_AFTER_SNAPSHOT | 1UL << SMM_RW_SPF_UNDER_PTL);
    const bool spf = mode == SHADOWMM_MODE_SPF;
    auto seq_aborts = [&] {
      auto st = s.stats();
      return st.counter[spf ? SHADOWMM_EV_SPF_ABORT_SEQ : SHADOWMM_EV_MMSEQ_ABORT_SEQ] +
             st.counter[spf ? SHADOWMM_EV_SPF_ABORT_SEQ_PTL : SHADOWMM_EV_MMSEQ_ABORT_SEQ_PTL];
    };
    auto busy = [&] {
      return s.counter(spf ? SHADOWMM_EV_SPF_ABORT_PTL_BUSY : SHADOWMM_EV_MMSEQ_ABORT_PTL_BUSY);
    };
    Workers threads;
    for (int t = 0; t < 2; t++) {
      threads.spawn([&, t] {
        while (!threads.stopping()) {
          for (uint64_t p = t; p < kPages; p += 2)
            ASSERT_EQ(s.fault(kBase + p * kPage, true, p), 0);
          for (uint64_t p = t; p < kPages; p += 2) ASSERT_EQ(s.zap(kBase + p * kPage, kPage), 0);
        }
      });
    }
    threads.spawn([&] {
      // Splits the faulters' VMA off its tail and merges it back.
      while (!threads.stopping()) {
        ASSERT_EQ(s.protect(kBase + (kPages + 4) * kPage, kPage, kRO), 0);
        ASSERT_EQ(s.protect(kBase + (kPages + 4) * kPage, kPage, kRW), 0);
      }
    });
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    while ((seq_aborts() == 0 || busy() == 0) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    threads.stop();
    smm_set_race_injection(0);
    EXPECT_GT(seq_aborts(), 0u) << mode_name(mode);
    EXPECT_GT(busy(), 0u) << mode_name(mode);

    // Quiescent now: one more pass, and the space must equal the model.
    Model m(kPage);
    m.map(kBase, (kPages + 8) * kPage, kRW);
    ASSERT_EQ(s.zap(kBase, (kPages + 8) * kPage), 0);
    for (uint64_t p = 0; p < kPages; p++) {
      uint64_t unused;
      ASSERT_EQ(s.fault(kBase + p * kPage, true, p), 0);
      m.fault(kBase + p * kPage, true, p, &unused);
    }
    EXPECT_EQ(compare(s, m), "") << mode_name(mode);
    auto st = s.stats();
    EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT], faults_accounted(st));
  }
}

// A reader that found a VMA and then lost the race to munmap+mmap of the
// same range locks the old, detached VMA: a miss, and a retried lookup.
TEST_F(FaultPaths, VmaLockCountsMissWhenDetached) {
  Space s(SHADOWMM_MODE_VMALOCK);
  ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
  smm_set_race_injection(1UL << SMM_RW_VMA_BEFORE_LOCK);
  Workers threads;
  threads.spawn([&] {
    while (!threads.stopping()) {
      int ret = s.fault(kBase, true, 1);
      ASSERT_TRUE(ret == 0 || ret == -EFAULT) << ret;
      ASSERT_EQ(s.zap(kBase, kPage) == 0 || true, true);
    }
  });
  threads.spawn([&] {
    while (!threads.stopping()) {
      ASSERT_EQ(s.unmap(kBase, kPage), 0);
      ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
    }
  });
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (s.counter(SHADOWMM_EV_VMA_LOCK_MISS) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  threads.stop();
  EXPECT_GT(s.counter(SHADOWMM_EV_VMA_LOCK_MISS), 0u);
  EXPECT_EQ(s.validate(), "");
}

// The race the sequence counts exist for: a fault racing with munmap of
// its range must never leave a page behind.  Many rounds, windows widened.
TEST_F(FaultPaths, NeverInstallsAfterUnmap) {
  for (unsigned mode : {SHADOWMM_MODE_SPF, SHADOWMM_MODE_MMSEQ, SHADOWMM_MODE_VMALOCK}) {
    Space s(mode);
    ASSERT_EQ(s.map(kBase + kPage, kPage, kRW), 0);  // keeps the tables alive
    ASSERT_EQ(s.fault(kBase + kPage, true, 1), 0);
    smm_set_race_injection((1UL << SMM_NR_RACE_WINDOWS) - 1);
    constexpr int kRounds = 1500;
    std::barrier sync(2);
    std::atomic<int> lost{0};
    std::jthread faulter([&] {
      for (int i = 0; i < kRounds; i++) {
        sync.arrive_and_wait();
        int ret = s.fault(kBase, true, i);
        if (ret != 0 && ret != -EFAULT) lost++;
        sync.arrive_and_wait();
      }
    });
    for (int i = 0; i < kRounds; i++) {
      ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
      sync.arrive_and_wait();
      ASSERT_EQ(s.unmap(kBase, kPage), 0);
      sync.arrive_and_wait();
      __u64 v;
      ASSERT_EQ(smm_mm_peek(s.get(), kBase, &v), 0)
          << "page left in an unmapped range, round " << i << " " << mode_name(mode);
      ASSERT_EQ(s.stats().pages_live, 1u);
    }
    faulter.join();
    smm_set_race_injection(0);
    EXPECT_EQ(lost.load(), 0);
    EXPECT_EQ(s.validate(), "");
  }
}

// Switching mode while faults run is safe: writers always run every protocol.
TEST_F(FaultPaths, ModeSwitchUnderLoad) {
  Space s(SHADOWMM_MODE_CLASSIC);
  ASSERT_EQ(s.map(kBase, kTableSpan, kRW), 0);
  Workers threads;
  for (int t = 0; t < 3; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t);
      while (!threads.stopping()) {
        uint64_t a = kBase + (rng() % 512) * kPage;
        int ret = s.fault(a, true, a);
        ASSERT_TRUE(ret == 0 || ret == -EFAULT);
        if (rng() % 16 == 0) s.zap(kBase, kTableSpan);
      }
    });
  }
  threads.spawn([&] {
    std::mt19937_64 rng(9);
    while (!threads.stopping()) {
      uint64_t a = kBase + (rng() % 512) * kPage;
      ASSERT_EQ(s.protect(a, kPage, rng() % 2 ? kRO : kRW), 0);
    }
  });
  for (int i = 0; i < 200; i++) {
    ASSERT_EQ(smm_set_mode(s.get(), i % SHADOWMM_NR_MODES), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  threads.stop();
  auto st = s.stats();
  EXPECT_GT(st.counter[SHADOWMM_EV_SPF_SUCCESS], 0u);
  EXPECT_GT(st.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS], 0u);
  EXPECT_GT(st.counter[SHADOWMM_EV_MMSEQ_ATTEMPT], 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT], faults_accounted(st));
  EXPECT_EQ(s.validate(), "");
}

}  // namespace
}  // namespace smm_test
