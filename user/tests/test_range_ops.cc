// SPDX-License-Identifier: GPL-2.0
// UNMAP and PROTECT over many VMAs at once: the VMA index erases them by
// range (one publish, O(height) new nodes), so these tests aim at its
// edges: ranges that start or end inside a VMA, the whole tree, trees of
// one leaf, the first and the last VMA, ranges covering whole subtrees
// (with fan-out 4, subtrees of height 3 and more), thin trees where every
// erase underfills nodes, the reserve staying bounded by the height, and
// fail-Nth injection.  The space is compared with the reference model
// (VMA list, pages, words, and smm_mm_validate()) after every call.
#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <random>
#include <vector>

#include "model_compare.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x40000000;

class RangeOps : public CoreTest {};

struct Fill {
  uint64_t count;
  uint64_t pages = 1;     // per VMA
  uint64_t gap = 1;       // pages between VMAs
  bool alternate = true;  // RW, RO, RW, ... (adjacent VMAs never merge)
  // Write into each RW VMA.  A written VMA has an anon_vma of its own,
  // and two such never merge: tests of merging leave them unwritten.
  bool touch = true;
};

uint64_t vma_start(const Fill& f, uint64_t i) { return kBase + i * (f.pages + f.gap) * kPage; }

// Maps f.count VMAs and writes a word into each one's first page; in
// address order, or shuffled by @seed (which fills index nodes unevenly).
void fill(const Space& s, Model& m, const Fill& f, uint64_t seed = 0) {
  std::vector<uint64_t> order(f.count);
  for (uint64_t i = 0; i < f.count; i++) order[i] = i;
  if (seed) std::shuffle(order.begin(), order.end(), std::mt19937_64(seed));
  for (uint64_t i : order) {
    const uint64_t a = vma_start(f, i), prot = f.alternate && i % 2 ? kRO : kRW;
    ASSERT_EQ(s.map(a, f.pages * kPage, prot), 0) << i;
    m.map(a, f.pages * kPage, prot);
    if (prot == kRW && f.touch) {
      ASSERT_EQ(s.fault(a + 8, true, i + 1), 0);
      uint64_t unused;
      m.fault(a + 8, true, i + 1, &unused);
    }
  }
}

::testing::AssertionResult unmap_both(const Space& s, Model& m, uint64_t a, uint64_t len) {
  if (int ret = s.unmap(a, len))
    return ::testing::AssertionFailure() << "unmap " << std::hex << a << "+" << len << ": " << ret;
  m.unmap(a, len);
  if (std::string diff = compare(s, m); !diff.empty())
    return ::testing::AssertionFailure()
           << "after unmap " << std::hex << a << "+" << len << ": " << diff;
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult protect_both(const Space& s, Model& m, uint64_t a, uint64_t len,
                                        uint64_t prot) {
  int want = m.covered(a, len) ? 0 : -ENOMEM;
  if (int ret = s.protect(a, len, prot); ret != want)
    return ::testing::AssertionFailure()
           << "protect " << std::hex << a << "+" << len << ": " << std::dec << ret;
  if (want == 0) m.protect(a, len, prot);
  if (std::string diff = compare(s, m); !diff.empty())
    return ::testing::AssertionFailure()
           << "after protect " << std::hex << a << "+" << len << ": " << diff;
  return ::testing::AssertionSuccess();
}

TEST_F(RangeOps, UnmapWholeTree) {
  for (uint64_t n : {1, 2, 3, 4, 5, 17, 100, 3000}) {
    Space s;
    Model m(kPage);
    Fill f{.count = n};
    fill(s, m, f);
    ASSERT_TRUE(unmap_both(s, m, kBase, vma_start(f, n))) << n;
    EXPECT_EQ(s.vmas().size(), 0u);
    auto st = s.stats();
    EXPECT_EQ(st.pages_live, 0u);
    EXPECT_EQ(st.tables_live, 1u);  // the pgd
    // The emptied index takes new VMAs again.
    ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
    EXPECT_EQ(s.validate(), "");
  }
}

TEST_F(RangeOps, UnmapFirstAndLastVmas) {
  Space s;
  Model m(kPage);
  Fill f{.count = 1000, .pages = 2};
  fill(s, m, f);
  ASSERT_TRUE(unmap_both(s, m, kBase, 2 * kPage));                              // the first
  ASSERT_TRUE(unmap_both(s, m, vma_start(f, 999), 2 * kPage));                  // the last
  ASSERT_TRUE(unmap_both(s, m, kBase, vma_start(f, 10) - kBase + kPage));       // a prefix, mid-VMA
  ASSERT_TRUE(unmap_both(s, m, vma_start(f, 990) + kPage, 20 * kPage));         // a suffix
  ASSERT_TRUE(unmap_both(s, m, kBase - 16 * kPage, vma_start(f, 40) - kBase));  // from below all
  ASSERT_TRUE(unmap_both(s, m, vma_start(f, 900), 1ULL << 40));                 // to above all
}

TEST_F(RangeOps, SingleLeafTrees) {
  // Fewer VMAs than a leaf holds, in both builds' fan-outs.
  for (uint64_t n : {2, 3, 4, 7}) {
    for (uint64_t first = 0; first < n; first++) {
      for (uint64_t last = first; last < n; last++) {
        Space s;
        Model m(kPage);
        Fill f{.count = n, .pages = 3, .gap = 0};
        fill(s, m, f);
        // Start in the middle of one VMA, end in the middle of another.
        const uint64_t a = vma_start(f, first) + kPage, e = vma_start(f, last) + 2 * kPage;
        ASSERT_TRUE(unmap_both(s, m, a, e - a)) << n << " " << first << " " << last;
      }
    }
  }
}

// Every range [i, i + k) of VMAs, for sizes that cover whole subtrees at
// every height of a fan-out 4 tree of 1,024 VMAs (height 5 to 10).
TEST_F(RangeOps, UnmapCoversWholeSubtrees) {
  for (uint64_t k : {4, 8, 16, 32, 64, 128, 256, 512}) {
    for (uint64_t i = 0; i + k <= 1024; i += std::max<uint64_t>(k / 2 + 3, 29)) {
      Space s;
      Model m(kPage);
      Fill f{.count = 1024};
      fill(s, m, f);
      ASSERT_TRUE(unmap_both(s, m, vma_start(f, i), vma_start(f, i + k) - vma_start(f, i)))
          << "k " << k << " i " << i;
      // And again next to the hole, so the second erase meets the joins of the first.
      if (i + 2 * k <= 1024) {
        ASSERT_TRUE(unmap_both(s, m, vma_start(f, i + k), k * 2 * kPage));
      }
    }
  }
}

// Random ranges, random sizes, on trees thinned first so that nodes sit
// at their minimum and every erase must borrow, merge or lose height.
TEST_F(RangeOps, RandomUnmapsMatchModel) {
  for (uint64_t seed = 1; seed <= (kUnderTsan ? 2 : 6); seed++) {
    std::mt19937_64 rng(seed);
    Space s;
    Model m(kPage);
    Fill f{.count = 2000, .pages = 2};
    fill(s, m, f, seed % 3 ? 0 : seed);
    if (seed % 2) {
      for (uint64_t i = 1; i < f.count; i += 2)
        ASSERT_TRUE(unmap_both(s, m, vma_start(f, i), 2 * kPage));
    }
    for (int step = 0; step < 150 && !m.vmas.empty(); step++) {
      // Sizes from one page to most of the space, ends anywhere.
      const uint64_t span = vma_start(f, f.count) - kBase;
      const uint64_t a = kBase + (rng() % (span / kPage)) * kPage;
      const uint64_t maxlen = step % 10 == 0 ? span : span / 50;
      const uint64_t len = (1 + rng() % (maxlen / kPage)) * kPage;
      ASSERT_TRUE(unmap_both(s, m, a, len)) << "seed " << seed << " step " << step;
      if (step % 7 == 0) {  // and refill a little, so inserts and erases mix
        for (int j = 0; j < 40; j++) {
          uint64_t i = rng() % f.count;
          if (m.range_free(vma_start(f, i), 2 * kPage)) {
            ASSERT_EQ(s.map(vma_start(f, i), 2 * kPage, kRW), 0);
            m.map(vma_start(f, i), 2 * kPage, kRW);
          }
        }
      }
    }
  }
}

TEST_F(RangeOps, ProtectMergesManyVmas) {
  // Adjacent VMAs of alternating protection: protecting a range merges all
  // of it, with both neighbours when they match.
  for (uint64_t seed = 1; seed <= 4; seed++) {
    std::mt19937_64 rng(seed);
    Space s;
    Model m(kPage);
    Fill f{.count = 2000, .pages = 2, .gap = 0, .touch = false};
    fill(s, m, f);
    for (int step = 0; step < 120; step++) {
      const uint64_t pages = 2 * f.count;
      const uint64_t first = rng() % pages;
      const uint64_t n = 1 + rng() % std::min<uint64_t>(pages - first, step % 5 ? 300 : pages);
      ASSERT_TRUE(protect_both(s, m, kBase + first * kPage, n * kPage, step % 3 ? kRW : kRO))
          << "seed " << seed << " step " << step;
    }
    // The whole space, from both protections.
    ASSERT_TRUE(protect_both(s, m, kBase, 2 * f.count * kPage, kRO));
    EXPECT_EQ(s.vmas().size(), 1u);
    ASSERT_TRUE(unmap_both(s, m, kBase + kPage, 5 * kPage));
    ASSERT_TRUE(protect_both(s, m, kBase + 6 * kPage, 2 * f.count * kPage - 6 * kPage, kRW));
  }
}

TEST_F(RangeOps, ProtectWithHoleChangesNothing) {
  Space s;
  Model m(kPage);
  Fill f{.count = 500};
  fill(s, m, f);
  ASSERT_TRUE(protect_both(s, m, kBase, vma_start(f, 500), kRO));  // holes: -ENOMEM
  EXPECT_EQ(s.vmas().size(), 500u);
}

// Whatever k, one call's index reserve is O(height): with N VMAs and
// fan-out f >= 4 the height is at most log2(N) + 1, and the reserve is a
// few nodes per level.  The allocations during a call are the nodes it
// added to the pool (plus at most two VMAs for the splits); before range
// erases it was 2 * height nodes per VMA, thousands here.
TEST_F(RangeOps, ReserveIsBoundedByHeight) {
  constexpr uint64_t kVmas = 4096;
  const uint64_t height_bound = std::bit_width(kVmas) + 1;
  const long bound = static_cast<long>(8 * (height_bound + 2));
  {
    Space s;
    Model m(kPage);
    Fill f{.count = kVmas, .pages = 2};
    fill(s, m, f);
    uint64_t i = 0;
    for (uint64_t k : {2, 8, 64, 512, 3000}) {
      // From the middle of VMA i to the middle of VMA i + k - 1: two splits.
      const uint64_t a = vma_start(f, i) + kPage, e = vma_start(f, i + k - 1) + kPage;
      const long before = smm_shim_allocs_total();
      ASSERT_TRUE(unmap_both(s, m, a, e - a));
      const long allocs = smm_shim_allocs_total() - before;
      EXPECT_LE(allocs, bound) << "unmap over " << k << " VMAs";
      i += k + 1;
    }
  }
  {
    Space s;
    Model m(kPage);
    // Unwritten: one merge run however many VMAs (see Fill::touch).
    Fill f{.count = kVmas, .pages = 2, .gap = 0, .touch = false};
    fill(s, m, f);
    uint64_t i = 0;
    for (uint64_t k : {2, 8, 64, 512, 3000}) {
      const uint64_t a = vma_start(f, i) + kPage, e = vma_start(f, i + k - 1) + kPage;
      const long before = smm_shim_allocs_total();
      ASSERT_TRUE(protect_both(s, m, a, e - a, kRO));
      const long allocs = smm_shim_allocs_total() - before;
      EXPECT_LE(allocs, bound) << "protect (merging) over " << k << " VMAs";
      i += k + 1;
    }
  }
}

// Failing the 1st, 2nd, ... allocation of a range UNMAP (two splits, a
// thousand VMAs) or a merging PROTECT must leave the space as it was,
// until the call has nothing left to fail and completes.
TEST_F(RangeOps, FailNthLeavesSpaceUnchanged) {
  for (bool protect : {false, true}) {
    Space s;
    Model m(kPage);
    // Merging VMAs of different anon_vmas needs an erase per run, and
    // O(runs x height) nodes: unwritten ones keep it one run (Fill::touch).
    Fill f{.count = 1200, .pages = 3, .gap = protect ? 0u : 1u, .touch = !protect};
    fill(s, m, f);
    const uint64_t a = vma_start(f, 17) + kPage, e = vma_start(f, 1100) + 2 * kPage;
    long nth;
    for (nth = 1; nth < 10000; nth++) {
      smm_shim_fail_nth(nth);
      int ret = protect ? s.protect(a, e - a, kRW) : s.unmap(a, e - a);
      const bool reached = smm_shim_fail_nth_pending() == 0;
      smm_shim_fail_nth(0);
      if (!reached) {
        ASSERT_EQ(ret, 0);
        break;
      }
      ASSERT_EQ(ret, -ENOMEM) << "nth " << nth;
      ASSERT_EQ(compare(s, m), "") << "nth " << nth;
    }
    EXPECT_GT(nth, 1) << "the call should allocate";
    if (protect)
      m.protect(a, e - a, kRW);
    else
      m.unmap(a, e - a);
    EXPECT_EQ(compare(s, m), "");
  }
}

// Lockless lookups while a writer unmaps and maps ranges of many VMAs: a
// reader must find every VMA outside the churned region, and inside it
// either nothing or a VMA that contains the address.
TEST_F(RangeOps, LocklessLookupsDuringRangeUnmaps) {
  Space s;
  constexpr uint64_t kStable = 64, kChurn = 1500;
  auto stable_at = [](uint64_t i) {
    return i < kStable / 2 ? kBase + i * 2 * kPage : kBase + (kStable + 2 * kChurn + i) * 2 * kPage;
  };
  const uint64_t churn_base = kBase + kStable * 2 * kPage;
  for (uint64_t i = 0; i < kStable; i++) ASSERT_EQ(s.map(stable_at(i), kPage, kRW), 0);
  std::atomic<long> errors{0};
  {
    Workers w;
    for (int t = 0; t < 2; t++) {
      w.spawn([&, t] {
        std::mt19937_64 rng(t);
        while (!w.stopping()) {
          smm_vma_info info;
          const uint64_t sa = stable_at(rng() % kStable);
          if (!smm_mm_lookup(s.get(), sa, &info) || info.start != sa || info.end != sa + kPage)
            errors++;
          const uint64_t ca = churn_base + (rng() % (4 * kChurn)) * kPage;
          if (smm_mm_lookup(s.get(), ca, &info) && !(info.start <= ca && ca < info.end)) errors++;
        }
      });
    }
    std::mt19937_64 rng(99);
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(stress_ms(400));
    while (std::chrono::steady_clock::now() < deadline) {
      for (uint64_t i = 0; i < kChurn; i++)
        if (s.map(churn_base + 2 * i * kPage, kPage + (i % 2) * kPage, i % 3 ? kRW : kRO)) errors++;
      for (int j = 0; j < 8; j++) {
        const uint64_t a = churn_base + (rng() % (4 * kChurn)) * kPage;
        const uint64_t len = (1 + rng() % kChurn) * kPage;
        if (s.unmap(a, std::min(len, churn_base + 4 * kChurn * kPage - a))) errors++;
      }
      if (s.unmap(churn_base, 4 * kChurn * kPage)) errors++;
    }
    w.stop();
  }
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(s.vmas().size(), kStable);
  EXPECT_EQ(s.validate(), "");
}

}  // namespace
}  // namespace smm_test
