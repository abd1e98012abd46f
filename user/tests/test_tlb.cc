// SPDX-License-Identifier: GPL-2.0
// The shadow MMU's TLBs (kmod/core/tlb.c): the policy, hits and fills,
// and that no translation is used after the change that removed or
// downgraded it completes, whatever removed it (unmap, zap, protect,
// reclaim, a COW copy, FORK), with one thread and with a CPU (thread)
// that cached it while another made the change.  The model test with a
// stale-TLB check runs every policy and mode.
#include <atomic>
#include <random>
#include <thread>

#include "model_compare.h"
#include "model_steps.h"
#include "smm_test.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x60000000;

class Tlb : public CoreTest, public ::testing::WithParamInterface<unsigned> {
 protected:
  unsigned policy() const { return GetParam(); }
  // A space of this policy with one RW mapping of @pages.
  std::unique_ptr<Space> space(uint64_t pages, unsigned mode = SHADOWMM_MODE_CLASSIC) {
    auto s = std::make_unique<Space>(mode);
    EXPECT_EQ(s->set_tlb_policy(policy()), 0);
    smm_set_tlb_check(s->get(), true);
    EXPECT_EQ(s->map(kBase, pages * kPage, kRW), 0);
    return s;
  }
};

TEST(TlbPolicy, DefaultErrorsAndFork) {
  Space s;
  EXPECT_EQ(s.info().tlb_policy, uint64_t{SHADOWMM_TLB_RCU});
  EXPECT_EQ(s.set_tlb_policy(SHADOWMM_NR_TLB_POLICIES), -EINVAL);
  shadowmm_cmd bad{.op = SHADOWMM_OP_SET_TLB_POLICY, .flags = 1, .value = SHADOWMM_TLB_NONE};
  EXPECT_EQ(s.exec(bad), -EINVAL);
  for (unsigned p = 0; p < SHADOWMM_NR_TLB_POLICIES; p++) {
    EXPECT_EQ(s.set_tlb_policy(p), 0);
    EXPECT_EQ(s.info().tlb_policy, p);
    EXPECT_STREQ(smm_tlb_policy_name(p), std::vector<const char*>({"none", "rcu", "ipi"})[p]);
    EXPECT_EQ(smm_tlb_policy_parse(smm_tlb_policy_name(p)), static_cast<int>(p));
  }
  EXPECT_EQ(smm_tlb_policy_parse("lazy"), -EINVAL);
  ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
  EXPECT_EQ(s.set_tlb_policy(SHADOWMM_TLB_NONE), -EBUSY);
  EXPECT_EQ(s.info().tlb_policy, uint64_t{SHADOWMM_TLB_IPI}) << "a refused change changes nothing";
  auto child = s.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(child->info().tlb_policy, uint64_t{SHADOWMM_TLB_IPI});
  ASSERT_EQ(s.unmap(kBase, kPage), 0);
  EXPECT_EQ(s.set_tlb_policy(SHADOWMM_TLB_NONE), 0);
}

// The second access of a page hits the TLB; access_hit counts both kinds
// of hit, tlb_hit those the TLB answered.
TEST_P(Tlb, SecondAccessHits) {
  auto s = space(4);
  ASSERT_EQ(s->fault(kBase, true, 7), 0);  // fault: installs
  uint64_t v = 0;
  ASSERT_EQ(s->fault(kBase + 8, false, 0, &v), 0);  // walk: fills
  ASSERT_EQ(s->fault(kBase, false, 0, &v), 0);      // TLB
  EXPECT_EQ(v, 7u);
  auto st = s->stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_ACCESS_HIT], 2u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_HIT], policy() == SHADOWMM_TLB_NONE ? 0u : 1u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_FILL], policy() == SHADOWMM_TLB_NONE ? 0u : 1u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_STALE], 0u);
}

// Each way of taking a translation away, after the TLB cached it: the
// next access must see the change (fault, new page, or no rights).
TEST_P(Tlb, NoTranslationOutlivesItsRemoval) {
  auto s = space(8);
  auto cache = [&](uint64_t a, uint64_t value) {
    ASSERT_EQ(s->fault(a, true, value), 0);
    uint64_t v = 0;
    ASSERT_EQ(s->fault(a, false, 0, &v), 0);
    ASSERT_EQ(v, value);
  };
  // unmap, and a new page mapped in its place
  cache(kBase, 11);
  ASSERT_EQ(s->unmap(kBase, kPage), 0);
  EXPECT_EQ(s->fault(kBase, false), -EFAULT);
  ASSERT_EQ(s->map(kBase, kPage, kRW), 0);
  uint64_t v = 1;
  bool faulted = false;
  ASSERT_EQ(s->fault(kBase, false, 0, &v, &faulted), 0);
  EXPECT_TRUE(faulted);
  EXPECT_EQ(v, 0u) << "read the unmapped page through the TLB";
  // zap (MADV_DONTNEED)
  cache(kBase + kPage, 12);
  ASSERT_EQ(s->zap(kBase + kPage, kPage), 0);
  ASSERT_EQ(s->fault(kBase + kPage, false, 0, &v, &faulted), 0);
  EXPECT_TRUE(faulted);
  EXPECT_EQ(v, 0u);
  // protect to read-only, then none
  cache(kBase + 2 * kPage, 13);
  ASSERT_EQ(s->protect(kBase + 2 * kPage, kPage, kRO), 0);
  EXPECT_EQ(s->fault(kBase + 2 * kPage, true, 99), -EFAULT);
  ASSERT_EQ(s->fault(kBase + 2 * kPage, false, 0, &v), 0);
  EXPECT_EQ(v, 13u);
  ASSERT_EQ(s->protect(kBase + 2 * kPage, kPage, kNone), 0);
  EXPECT_EQ(s->fault(kBase + 2 * kPage, false), -EFAULT);
  // FORK, then a write: the parent's copy is new, the child keeps 14
  cache(kBase + 3 * kPage, 14);
  auto child = s->fork();
  ASSERT_TRUE(child);
  ASSERT_EQ(s->fault(kBase + 3 * kPage, true, 15, nullptr, &faulted), 0);
  EXPECT_TRUE(faulted) << "wrote a page shared with the child through the TLB";
  EXPECT_EQ(child->peek(kBase + 3 * kPage), std::optional<uint64_t>(14));
  ASSERT_EQ(s->fault(kBase + 3 * kPage, false, 0, &v), 0);
  EXPECT_EQ(v, 15u);
  EXPECT_EQ(s->counter(SHADOWMM_EV_COW_COPY), 1u);
  // reclaim: the next access swaps in
  shadowmm_memory mem{.swap_slots = 64};
  ASSERT_EQ(smm_set_memory(s->get(), &mem), 0);
  cache(kBase + 4 * kPage, 16);
  shadowmm_cmd reclaim{.op = SHADOWMM_OP_RECLAIM, .addr = kBase + 4 * kPage, .len = kPage};
  ASSERT_EQ(s->exec(reclaim), 0);
  ASSERT_EQ(reclaim.out_value, 1u);
  ASSERT_EQ(s->fault(kBase + 4 * kPage, false, 0, &v, &faulted), 0);
  EXPECT_TRUE(faulted) << "read a swapped-out page through the TLB";
  EXPECT_EQ(v, 16u);
  EXPECT_EQ(s->counter(SHADOWMM_EV_TLB_STALE), 0u);
  EXPECT_EQ(s->validate(), "");
}

// Flushes: a few pages one by one, many as a whole; nothing to flush
// without a TLB.  A munmap of more than a gather's batch flushes early.
TEST_P(Tlb, RangeAndFullFlushes) {
  auto s = space(200);
  uint64_t faults = 0;
  ASSERT_EQ(s->touch(kBase, 200 * kPage, kPage, true, &faults), 0);
  ASSERT_EQ(s->unmap(kBase, 10 * kPage), 0);
  auto st = s->stats();
  const bool tlb = policy() != SHADOWMM_TLB_NONE;
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_FLUSH_RANGE], tlb ? 1u : 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_FLUSH_FULL], 0u);
  ASSERT_EQ(s->unmap(kBase + 10 * kPage, 190 * kPage), 0);
  st = s->stats();
  // 190 pages: two full batches of 64 flushed under the PTE lock, the rest at the end.
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_FLUSH_FULL], tlb ? 3u : 0u);
  // Alone in its mask: no other CPU to interrupt.
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_SHOOTDOWN], 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_TABLE_SYNC], policy() == SHADOWMM_TLB_IPI ? 1u : 0u);
  EXPECT_EQ(s->validate(), "");
}

// A CPU caches a translation, another takes it away: the shootdown
// interrupts the first, whose next access faults.
TEST_P(Tlb, ShootdownReachesTheOtherCpu) {
  auto s = space(4);
  std::atomic<int> phase{0};
  std::atomic<int> result{-1};
  std::jthread other([&] {
    uint64_t v = 0;
    if (s->fault(kBase, true, 21) || s->fault(kBase, false, 0, &v) || v != 21) return;
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    bool faulted = false;
    result = s->fault(kBase, false, 0, &v, &faulted) == 0 && faulted && v == 0 ? 1 : 0;
  });
  while (phase.load() != 1) std::this_thread::yield();
  ASSERT_EQ(s->zap(kBase, kPage), 0);
  phase = 2;
  other.join();
  EXPECT_EQ(result.load(), 1) << "the other thread read the zapped page through its TLB";
  auto st = s->stats();
  if (policy() == SHADOWMM_TLB_NONE) {
    EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_SHOOTDOWN], 0u);
  } else {
    EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_SHOOTDOWN], 1u);
    EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_IPI], 1u);
  }
}

// TLB_LEAVE: a CPU (thread) that cached a translation and then left the
// space takes no shootdown for it, and its next access walks again (the
// entry went with it); once it has entered again, the next change
// interrupts it as before.
TEST_P(Tlb, ALeftCpuTakesNoShootdownAndWalksAgain) {
  auto s = space(4);
  shadowmm_cmd bad{.op = SHADOWMM_OP_TLB_LEAVE, .flags = 1};
  EXPECT_EQ(s->exec(bad), -EINVAL);
  std::atomic<int> phase{0};
  std::atomic<int> result{-1};
  auto leave = [&] {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_TLB_LEAVE};
    return s->exec(cmd);
  };
  auto wait_for = [&](int p) {
    while (phase.load() != p) std::this_thread::yield();
  };
  std::jthread other([&] {
    uint64_t v = 0;
    bool faulted = false;
    // Cached, then gone: the second leave finds nothing to leave.
    if (s->fault(kBase, true, 21) || s->fault(kBase, false, 0, &v) || v != 21 || leave() || leave())
      return;
    phase = 1;
    wait_for(2);
    // Zapped while away: a fault, not the old page through an old entry.
    if (s->fault(kBase, false, 0, &v, &faulted) || !faulted || v != 0) return;
    // In again: this load fills, the next change must interrupt it.
    if (s->fault(kBase, true, 22) || s->fault(kBase, false, 0, &v) || v != 22) return;
    phase = 3;
    wait_for(4);
    result = s->fault(kBase, false, 0, &v, &faulted) == 0 && faulted && v == 0 ? 1 : 0;
  });
  wait_for(1);
  ASSERT_EQ(s->zap(kBase, kPage), 0);
  auto st = s->stats();
  const bool tlb = policy() != SHADOWMM_TLB_NONE;
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_LEAVE], tlb ? 1u : 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_SHOOTDOWN], 0u) << "the CPU that left was interrupted";
  phase = 2;
  wait_for(3);
  ASSERT_EQ(s->zap(kBase, kPage), 0);
  phase = 4;
  other.join();
  EXPECT_EQ(result.load(), 1) << "an access used a translation the zap removed";
  st = s->stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_SHOOTDOWN], tlb ? 1u : 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_IPI], tlb ? 1u : 0u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_TLB_STALE], 0u);
}

// Faulting threads in every mode against map, unmap, protect and zap, the
// model's content checked by value: each page's words carry the number of
// the mapping they belong to, so a read through a stale entry finds an
// older mapping's number (or freed memory, under ASan).
TEST_P(Tlb, StressNeverReadsAnOldMapping) {
  for (unsigned mode :
       {SHADOWMM_MODE_CLASSIC, SHADOWMM_MODE_SPF, SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ}) {
    SCOPED_TRACE(mode_name(mode));
    constexpr uint64_t kSlots = 8, kSlotPages = 8;
    auto s = std::make_unique<Space>(mode);
    ASSERT_EQ(s->set_tlb_policy(policy()), 0);
    smm_set_race_injection(mode == SHADOWMM_MODE_CLASSIC ? 0 : ~0UL);
    // generation[slot]: odd while being replaced; readers accept a word
    // only from the generation they saw before and after the read.
    std::vector<std::atomic<uint64_t>> generation(kSlots);
    std::atomic<uint64_t> bad{0}, reads{0};
    for (uint64_t i = 0; i < kSlots; i++) {
      ASSERT_EQ(s->map(kBase + i * kSlotPages * kPage, kSlotPages * kPage, kRW), 0);
      generation[i] = 2;
      for (uint64_t p = 0; p < kSlotPages; p++)
        ASSERT_EQ(s->fault(kBase + (i * kSlotPages + p) * kPage, true, 2), 0);
    }
    Workers threads;
    for (int t = 0; t < 2; t++) {
      threads.spawn([&, t] {
        std::mt19937_64 rng(t + 7);
        while (!threads.stopping()) {
          // Now and then the reader leaves the space, racing the
          // writer's shootdowns, and enters again at its next read.
          if (rng() % 16 == 0) {
            shadowmm_cmd leave{.op = SHADOWMM_OP_TLB_LEAVE};
            if (s->exec(leave)) bad++;
          }
          uint64_t slot = rng() % kSlots,
                   a = kBase + (slot * kSlotPages + rng() % kSlotPages) * kPage;
          uint64_t before = generation[slot].load(), v = 0;
          if (before & 1) continue;
          int ret = s->fault(a, false, 0, &v);
          uint64_t after = generation[slot].load();
          if (before != after) continue;
          reads++;
          // A stable generation: the word is its number (or 0 if the
          // writer's refill has not reached this page yet: fresh page).
          if (ret || (v != before && v != 0)) bad++;
        }
      });
    }
    threads.spawn([&] {
      std::mt19937_64 rng(99);
      while (!threads.stopping()) {
        uint64_t slot = rng() % kSlots, base = kBase + slot * kSlotPages * kPage;
        uint64_t g = generation[slot].load();
        generation[slot] = g + 1;
        int ret = rng() % 2 ? s->unmap(base, kSlotPages * kPage) : s->zap(base, kSlotPages * kPage);
        if (!ret && !s->map(base, kSlotPages * kPage, kRW, SHADOWMM_MAP_FIXED)) {
        }
        for (uint64_t p = 0; p < kSlotPages; p++) s->fault(base + p * kPage, true, g + 2);
        generation[slot] = g + 2;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(stress_ms(400)));
    threads.stop();
    smm_set_race_injection(0);
    EXPECT_GT(reads.load(), 0u);
    EXPECT_EQ(bad.load(), 0u) << "a read returned another mapping's word";
    if (policy() != SHADOWMM_TLB_NONE) {
      EXPECT_GT(s->stats().counter[SHADOWMM_EV_TLB_LEAVE], 0u) << "no reader ever left";
    }
    EXPECT_EQ(s->validate(), "");
  }
}

// The model test with every access checked against the live PTE: in a
// single thread no hit may find its entry stale.
TEST_P(Tlb, ModelSequencesNeverHitAStaleEntry) {
  using smm_model::Model;
  for (unsigned mode :
       {SHADOWMM_MODE_CLASSIC, SHADOWMM_MODE_SPF, SHADOWMM_MODE_VMALOCK, SHADOWMM_MODE_MMSEQ}) {
    SCOPED_TRACE(mode_name(mode));
    std::mt19937_64 rng(4242 + mode);
    Space s(mode);
    ASSERT_EQ(s.set_tlb_policy(policy()), 0);
    smm_set_tlb_check(s.get(), true);
    Model m(kPage);
    for (int i = 0; i < (kUnderTsan ? 300 : 1200); i++) {
      smm_model::Step st = smm_model::random_step(rng, kPage);
      std::string diff = smm_model::apply(s, m, st, false);
      if (diff.empty()) diff = compare(s, m);
      ASSERT_EQ(diff, "") << "step " << i;
    }
    auto stats = s.stats();
    EXPECT_EQ(stats.counter[SHADOWMM_EV_TLB_STALE], 0u);
    // (TSan's 300 steps may not access a page twice between changes.)
    if (policy() != SHADOWMM_TLB_NONE && !kUnderTsan) {
      EXPECT_GT(stats.counter[SHADOWMM_EV_TLB_HIT], 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, Tlb,
                         ::testing::Values(SHADOWMM_TLB_NONE, SHADOWMM_TLB_RCU, SHADOWMM_TLB_IPI),
                         [](const auto& info) {
                           return std::string(smm_tlb_policy_name(info.param));
                         });

}  // namespace
}  // namespace smm_test
