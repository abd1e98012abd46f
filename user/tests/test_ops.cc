// SPDX-License-Identifier: GPL-2.0
// Unit tests of each VMA operation and each error, asserting on the
// observable state (VMAs, page contents) and on counters, not only on
// return codes.
#include <cerrno>

#include "smm_test.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x10000000;

class Ops : public CoreTest {};

TEST_F(Ops, MapChoosesFreeAddresses) {
  Space s;
  uint64_t a = 0, b = 0;
  ASSERT_EQ(s.map(0, 4 * kPage, kRW, 0, &a), 0);
  ASSERT_EQ(s.map(0, 4 * kPage, kRW, 0, &b), 0);
  EXPECT_GE(a, SHADOWMM_MMAP_MIN_ADDR);
  EXPECT_TRUE(a + 4 * kPage <= b || b + 4 * kPage <= a);
  // Side by side, the second continues the first: one VMA, as mmap(2).
  const bool adjacent = a + 4 * kPage == b || b + 4 * kPage == a;
  EXPECT_EQ(s.vmas().size(), adjacent ? 1u : 2u);
  // A free hint is honoured.
  uint64_t c = 0;
  ASSERT_EQ(s.map(kBase, kPage, kRO, 0, &c), 0);
  EXPECT_EQ(c, kBase);
  // A taken one is not.
  ASSERT_EQ(s.map(kBase, kPage, kRO, 0, &c), 0);
  EXPECT_NE(c, kBase);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, MapRejectsBadInput) {
  Space s;
  EXPECT_EQ(s.map(kBase + 1, kPage, kRW), -EINVAL);                 // unaligned
  EXPECT_EQ(s.map(kBase, kPage + 1, kRW), -EINVAL);                 // unaligned length
  EXPECT_EQ(s.map(kBase, 0, kRW), -EINVAL);                         // empty
  EXPECT_EQ(s.map(~0ULL & ~(kPage - 1), 2 * kPage, kRW), -EINVAL);  // wraps
  EXPECT_EQ(s.map(SHADOWMM_TASK_SIZE - kPage, 2 * kPage, kRW), -EINVAL);
  EXPECT_EQ(s.map(0, kPage, kRW), -EINVAL);            // fixed below min
  EXPECT_EQ(s.map(kBase, kPage, 0x10), -EINVAL);       // unknown prot
  EXPECT_EQ(s.map(kBase, kPage, kRW, 0x80), -EINVAL);  // unknown flag
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  EXPECT_EQ(s.map(kBase + kPage, kPage, kRW), -EEXIST);  // overlaps
  EXPECT_EQ(s.map(kBase - kPage, 2 * kPage, kRW), -EEXIST);
  EXPECT_EQ(s.vmas().size(), 1u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_OP_MAP), 1u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, UnknownOpAndFlags) {
  Space s;
  shadowmm_cmd cmd{.op = 99};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  cmd = {.op = SHADOWMM_OP_GET_STATS};
  EXPECT_EQ(s.exec(cmd), -EINVAL);  // hosts copy stats out themselves
  cmd = {.op = SHADOWMM_OP_FAULT, .addr = kBase, .flags = 0x40};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  cmd = {.op = SHADOWMM_OP_SET_MODE, .value = SHADOWMM_NR_MODES};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  cmd = {.op = SHADOWMM_OP_TOUCH, .addr = kBase, .len = kPage, .stride = 0};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  cmd = {.op = SHADOWMM_OP_TOUCH,
         .addr = SHADOWMM_TASK_SIZE - kPage,
         .len = 2 * kPage,
         .stride = kPage};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
}

// Every op that takes no flags says so, and changes nothing.
TEST_F(Ops, UnusedFlagsAreRejected) {
  Space s;
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 4 * kPage, kPage, true), 0);
  for (uint64_t flags : {1ULL, 2ULL, 1ULL << 63}) {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_UNMAP, .addr = kBase, .len = kPage, .flags = flags};
    EXPECT_EQ(s.exec(cmd), -EINVAL);
    cmd = {.op = SHADOWMM_OP_PROTECT, .addr = kBase, .len = kPage, .prot = kRO, .flags = flags};
    EXPECT_EQ(s.exec(cmd), -EINVAL);
    cmd = {.op = SHADOWMM_OP_ZAP, .addr = kBase, .len = kPage, .flags = flags};
    EXPECT_EQ(s.exec(cmd), -EINVAL);
    cmd = {.op = SHADOWMM_OP_SET_MODE, .flags = flags, .value = SHADOWMM_MODE_SPF};
    EXPECT_EQ(s.exec(cmd), -EINVAL);
  }
  EXPECT_EQ(smm_get_mode(s.get()), unsigned{SHADOWMM_MODE_CLASSIC});
  ASSERT_EQ(s.vmas().size(), 1u);
  EXPECT_EQ(s.vmas()[0].prot, kRW);
  EXPECT_EQ(s.stats().pages_live, 4u);
}

TEST_F(Ops, BugsMaskTakesKnownKnobsOnly) {
  EXPECT_EQ(smm_get_bugs(), 0u);
  EXPECT_EQ(smm_set_bugs(1UL << SHADOWMM_NR_BUGS), -EINVAL);
  EXPECT_EQ(smm_set_bugs(~0UL), -EINVAL);
  EXPECT_EQ(smm_get_bugs(), 0u);
  ASSERT_EQ(smm_set_bugs(SHADOWMM_BUGS_MASK), 0);
  EXPECT_EQ(smm_get_bugs(), SHADOWMM_BUGS_MASK);
  ASSERT_EQ(smm_set_bugs(0), 0);
  for (unsigned b = 0; b < SHADOWMM_NR_BUGS; b++) EXPECT_NE(smm_bug_name(b), nullptr);
  EXPECT_EQ(smm_bug_name(SHADOWMM_NR_BUGS), nullptr);
}

TEST_F(Ops, FaultReadsZeroAndWritesStick) {
  Space s;
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  uint64_t v = 1;
  bool faulted = false;
  ASSERT_EQ(s.fault(kBase + 8, false, 0, &v, &faulted), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(faulted);
  ASSERT_EQ(s.fault(kBase + 8, true, 0xfeed, nullptr, &faulted), 0);
  EXPECT_FALSE(faulted);  // present and writable: no fault
  ASSERT_EQ(s.fault(kBase + 8, false, 0, &v), 0);
  EXPECT_EQ(v, 0xfeedu);
  __u64 peek = 0;
  EXPECT_EQ(smm_mm_peek(s.get(), kBase + 8, &peek), 1);
  EXPECT_EQ(peek, 0xfeedu);
  EXPECT_EQ(smm_mm_peek(s.get(), kBase + kPage, &peek), 0);
  auto st = s.stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_FAULT], 1u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_ACCESS], 3u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_ACCESS_HIT], 2u);
  EXPECT_EQ(st.pages_live, 1u);
  // pgd, pud, pmd, pte
  EXPECT_EQ(st.tables_live, 4u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, FaultErrors) {
  Space s;
  ASSERT_EQ(s.map(kBase, kPage, kRO), 0);
  ASSERT_EQ(s.map(kBase + 2 * kPage, kPage, kNone), 0);
  EXPECT_EQ(s.fault(kBase, true, 1), -EFAULT);            // write to read-only
  EXPECT_EQ(s.fault(kBase + kPage, false), -EFAULT);      // hole
  EXPECT_EQ(s.fault(kBase + 2 * kPage, false), -EFAULT);  // PROT_NONE
  EXPECT_EQ(s.fault(kBase, false), 0);
  EXPECT_EQ(s.fault(kBase, true, 1), -EFAULT);  // present, still read-only
  EXPECT_EQ(s.fault(SHADOWMM_TASK_SIZE, false), -EINVAL);
  EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT_SIGSEGV), 4u);
  EXPECT_EQ(s.stats().pages_live, 1u);
}

TEST_F(Ops, TouchWithStride) {
  Space s;
  ASSERT_EQ(s.map(kBase, 16 * kPage, kRW), 0);
  uint64_t faults = 0;
  ASSERT_EQ(s.touch(kBase, 16 * kPage, 2 * kPage, true, &faults), 0);
  EXPECT_EQ(faults, 8u);
  EXPECT_EQ(s.stats().pages_live, 8u);
  ASSERT_EQ(s.touch(kBase, 16 * kPage, kPage, false, &faults), 0);
  EXPECT_EQ(faults, 8u);  // only the odd pages were missing
  // Running off the end of the VMA stops with the faults so far.
  EXPECT_EQ(s.touch(kBase + 15 * kPage, 2 * kPage, kPage, false, &faults), -EFAULT);
  EXPECT_EQ(faults, 1u);
}

TEST_F(Ops, UnmapSplitsAndFrees) {
  Space s;
  ASSERT_EQ(s.map(kBase, 8 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 8 * kPage, kPage, true), 0);
  ASSERT_EQ(s.unmap(kBase + 2 * kPage, 3 * kPage), 0);
  auto v = s.vmas();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].start, kBase);
  EXPECT_EQ(v[0].end, kBase + 2 * kPage);
  EXPECT_EQ(v[1].start, kBase + 5 * kPage);
  EXPECT_EQ(v[1].end, kBase + 8 * kPage);
  EXPECT_EQ(s.stats().pages_live, 5u);
  EXPECT_EQ(s.fault(kBase + 3 * kPage, false), -EFAULT);
  EXPECT_EQ(s.validate(), "");
  // Unmapping a hole is not an error; unmapping all frees the tables.
  ASSERT_EQ(s.unmap(kBase + 2 * kPage, kPage), 0);
  ASSERT_EQ(s.unmap(kBase, 8 * kPage), 0);
  auto st = s.stats();
  EXPECT_EQ(st.pages_live, 0u);
  EXPECT_EQ(st.tables_live, 1u);  // the pgd stays
  EXPECT_EQ(s.vmas().size(), 0u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, UnmapKeepsTablesSharedWithNeighbours) {
  Space s;
  ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
  ASSERT_EQ(s.map(kBase + kPage, kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 2 * kPage, kPage, true), 0);
  ASSERT_EQ(s.unmap(kBase + kPage, kPage), 0);
  EXPECT_EQ(s.stats().tables_live, 4u);
  uint64_t v = 0;
  ASSERT_EQ(s.fault(kBase, false, 0, &v), 0);
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, UnmapAcrossVmasAndTables) {
  Space s;
  for (int i = 0; i < 4; i++) ASSERT_EQ(s.map(kBase + i * kTableSpan, kTableSpan, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 4 * kTableSpan, kPage * 64, true), 0);
  ASSERT_EQ(s.unmap(kBase + kTableSpan / 2, 2 * kTableSpan), 0);
  auto v = s.vmas();
  // The four maps merged into one VMA; the hole leaves its two ends.
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].end, kBase + kTableSpan / 2);
  EXPECT_EQ(v[1].start, kBase + kTableSpan * 5 / 2);
  EXPECT_EQ(v[1].end, kBase + 4 * kTableSpan);
  // The PTE table wholly inside the hole went; the partial ones stay.
  EXPECT_EQ(s.stats().tables_live, 1u + 1 + 1 + 3);
  EXPECT_EQ(s.validate(), "");
}

// mmap_region()'s merge: a new mapping joins the neighbours it continues
// (same protection; its missing anon_vma agrees with any), and both only
// when their anon_vmas agree.  Pages keep their place in the rmap.
TEST_F(Ops, MapMergesWithNeighbours) {
  Space s;
  ASSERT_EQ(s.map(kBase, 2 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 2 * kPage, kPage, true, nullptr, 3), 0);
  ASSERT_EQ(s.map(kBase + 2 * kPage, 2 * kPage, kRW), 0);
  ASSERT_EQ(s.vmas().size(), 1u);
  // A faulted neighbour after, with its own anon_vma, and one in between.
  ASSERT_EQ(s.map(kBase + 8 * kPage, 2 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase + 8 * kPage, 2 * kPage, kPage, true, nullptr, 5), 0);
  ASSERT_EQ(s.map(kBase + 6 * kPage, 2 * kPage, kRW), 0);
  EXPECT_EQ(s.vmas().size(), 2u) << "joins the one after";
  // Closing the gap: two anon_vmas, so only one side takes it.
  ASSERT_EQ(s.map(kBase + 4 * kPage, 2 * kPage, kRW), 0);
  auto v = s.vmas();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].start, kBase);
  EXPECT_EQ(v[1].end, kBase + 10 * kPage);
  // Another protection never merges.
  ASSERT_EQ(s.map(kBase + 10 * kPage, kPage, kRO), 0);
  EXPECT_EQ(s.vmas().size(), 3u);
  EXPECT_EQ(s.validate(), "");
  uint64_t val = 0;
  ASSERT_EQ(s.fault(kBase + 9 * kPage, false, 0, &val), 0);
  EXPECT_EQ(val, 5u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_OP_MAP), 6u);
}

TEST_F(Ops, ProtectSplitsAndMerges) {
  Space s;
  ASSERT_EQ(s.map(kBase, 6 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 6 * kPage, kPage, true, nullptr, 7), 0);
  ASSERT_EQ(s.protect(kBase + 2 * kPage, 2 * kPage, kRO), 0);
  auto v = s.vmas();
  ASSERT_EQ(v.size(), 3u);
  EXPECT_EQ(v[1].start, kBase + 2 * kPage);
  EXPECT_EQ(v[1].prot, kRO);
  EXPECT_EQ(s.fault(kBase + 2 * kPage, true, 1), -EFAULT);
  uint64_t val = 0;
  ASSERT_EQ(s.fault(kBase + 2 * kPage, false, 0, &val), 0);
  EXPECT_EQ(val, 7u);  // pages survive protection changes
  EXPECT_EQ(s.validate(), "");
  ASSERT_EQ(s.protect(kBase + 2 * kPage, 2 * kPage, kRW), 0);
  EXPECT_EQ(s.vmas().size(), 1u);
  ASSERT_EQ(s.fault(kBase + 2 * kPage, true, 9), 0);
  EXPECT_EQ(s.validate(), "");
  // Protection with a hole in the range fails and changes nothing.
  ASSERT_EQ(s.map(kBase + 7 * kPage, kPage, kRW), 0);
  EXPECT_EQ(s.protect(kBase, 8 * kPage, kRO), -ENOMEM);
  v = s.vmas();
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].prot, kRW);
  EXPECT_EQ(s.counter(SHADOWMM_EV_OP_PROTECT), 2u);
}

TEST_F(Ops, ProtectMergesIndependentMaps) {
  Space s;
  ASSERT_EQ(s.map(kBase, kPage, kRO), 0);
  ASSERT_EQ(s.map(kBase + kPage, kPage, kRW), 0);
  ASSERT_EQ(s.map(kBase + 2 * kPage, kPage, kRO), 0);
  ASSERT_EQ(s.protect(kBase + kPage, kPage, kRO), 0);
  auto v = s.vmas();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].end, kBase + 3 * kPage);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, ZapFreesPagesKeepsVmas) {
  Space s;
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 4 * kPage, kPage, true, nullptr, 5), 0);
  ASSERT_EQ(s.zap(kBase + kPage, 2 * kPage), 0);
  EXPECT_EQ(s.stats().pages_live, 2u);
  EXPECT_EQ(s.vmas().size(), 1u);
  uint64_t v = 1;
  ASSERT_EQ(s.fault(kBase + kPage, false, 0, &v), 0);
  EXPECT_EQ(v, 0u);  // a fresh zero page
  ASSERT_EQ(s.fault(kBase, false, 0, &v), 0);
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(s.zap(kBase, 8 * kPage), -ENOMEM);  // hole: nothing zapped
  EXPECT_EQ(s.stats().pages_live, 3u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, RangeValidation) {
  Space s;
  EXPECT_EQ(s.unmap(kBase + 1, kPage), -EINVAL);
  EXPECT_EQ(s.unmap(kBase, 0), -EINVAL);
  EXPECT_EQ(s.unmap(~0ULL & ~(kPage - 1), 2 * kPage), -EINVAL);
  EXPECT_EQ(s.protect(kBase, kPage, 0x8), -EINVAL);
  EXPECT_EQ(s.zap(kBase, kPage - 1), -EINVAL);
  EXPECT_EQ(s.protect(kBase, kPage, kRO), -ENOMEM);  // nothing mapped
}

// A pending signal stops a long TOUCH like a short read(): what was done
// and 0, or -EINTR if nothing was.
TEST_F(Ops, TouchStopsForSignalWithWhatItDid) {
  Space s;
  ASSERT_EQ(s.map(kBase, 16 * kPage, kRW), 0);
  shadowmm_cmd cmd{.op = SHADOWMM_OP_TOUCH,
                   .addr = kBase,
                   .len = 16 * kPage,
                   .flags = SHADOWMM_ACCESS_WRITE,
                   .stride = kPage,
                   .value = 1};
  smm_shim_signal_after(3);
  EXPECT_EQ(s.exec(cmd), 0);
  EXPECT_EQ(cmd.out_len, 3 * kPage);
  EXPECT_EQ(cmd.out_faults, 3u);
  EXPECT_EQ(s.stats().pages_live, 3u);
  smm_shim_signal_after(0);
  EXPECT_EQ(s.exec(cmd), -EINTR);
  EXPECT_EQ(cmd.out_len, 0u);
  smm_shim_signal_after(-1);
  EXPECT_EQ(s.exec(cmd), 0);
  EXPECT_EQ(cmd.out_len, 16 * kPage);
  EXPECT_EQ(cmd.out_faults, 13u);
  // A stride past the end: one access, the whole range covered.
  cmd.stride = 64 * kPage;
  EXPECT_EQ(s.exec(cmd), 0);
  EXPECT_EQ(cmd.out_len, 16 * kPage);
}

// 2^63 pages and more is a large budget, not a negative one.
TEST_F(Ops, HugePageBudgetIsNoLimit) {
  for (uint64_t max : {1ULL << 63, ~0ULL}) {
    Space s(SHADOWMM_MODE_CLASSIC, smm_limits{.max_pages = max, .max_vmas = 0});
    ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
    EXPECT_EQ(s.touch(kBase, 4 * kPage, kPage, true), 0);
    EXPECT_EQ(s.stats().pages_live, 4u);
    EXPECT_EQ(s.validate(), "");
  }
}

TEST_F(Ops, PageBudget) {
  Space s(SHADOWMM_MODE_CLASSIC, smm_limits{.max_pages = 4, .max_vmas = 0});
  EXPECT_EQ(s.map(kBase, 5 * kPage, kRW), -ENOMEM);  // longer than the budget
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.map(kBase + 8 * kPage, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.touch(kBase, 4 * kPage, kPage, true), 0);
  EXPECT_EQ(s.fault(kBase + 8 * kPage, true, 1), -ENOMEM);
  EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT_OOM), 1u);
  ASSERT_EQ(s.zap(kBase, kPage), 0);
  EXPECT_EQ(s.fault(kBase + 8 * kPage, true, 1), 0);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, VmaLimit) {
  Space s(SHADOWMM_MODE_CLASSIC, smm_limits{.max_pages = 0, .max_vmas = 2});
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.map(kBase + 8 * kPage, kPage, kRW), 0);
  EXPECT_EQ(s.map(kBase + 16 * kPage, kPage, kRW), -ENOMEM);
  EXPECT_EQ(s.unmap(kBase + kPage, kPage), -ENOMEM);  // would make three
  EXPECT_EQ(s.protect(kBase + kPage, kPage, kRO), -ENOMEM);
  EXPECT_EQ(s.vmas().size(), 2u);
  ASSERT_EQ(s.unmap(kBase, kPage), 0);  // trimming an end is fine
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Ops, ModeNamesRoundTrip) {
  for (unsigned m = 0; m < SHADOWMM_NR_MODES; m++)
    EXPECT_EQ(smm_mode_parse(smm_mode_name(m)), static_cast<int>(m));
  EXPECT_EQ(smm_mode_parse("spf\n"), SHADOWMM_MODE_SPF);
  EXPECT_EQ(smm_mode_parse("bogus"), -EINVAL);
  EXPECT_EQ(smm_mode_name(SHADOWMM_NR_MODES), nullptr);
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++) EXPECT_NE(smm_counter_name(i), nullptr);
}

TEST_F(Ops, GlobalStatsOutliveSpaces) {
  shadowmm_stats before, after;
  smm_global_stats(&before);
  {
    Space s;
    ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
    ASSERT_EQ(s.fault(kBase, true, 1), 0);
    smm_global_stats(&after);
    EXPECT_EQ(after.mms_live, before.mms_live + 1);
  }
  smm_global_stats(&after);
  EXPECT_EQ(after.counter[SHADOWMM_EV_FAULT], before.counter[SHADOWMM_EV_FAULT] + 1);
  EXPECT_EQ(after.mms_live, before.mms_live);
  EXPECT_EQ(after.pages_live, before.pages_live);
}

TEST_F(Ops, ManyVmasIndexStaysConsistent) {
  Space s;
  // Alternate protections so nothing merges; then punch every third.
  for (uint64_t i = 0; i < 3000; i++)
    ASSERT_EQ(s.map(kBase + 2 * i * kPage, kPage, i % 2 ? kRO : kRW), 0);
  for (uint64_t i = 0; i < 3000; i += 3) ASSERT_EQ(s.unmap(kBase + 2 * i * kPage, kPage), 0);
  EXPECT_EQ(s.vmas().size(), 2000u);
  EXPECT_EQ(s.validate(), "");
  for (uint64_t i = 1; i < 3000; i += 3) {
    uint64_t v;
    EXPECT_EQ(s.fault(kBase + 2 * i * kPage, false, 0, &v), 0);
    EXPECT_EQ(s.fault(kBase + 2 * (i - 1) * kPage, false, 0, &v), -EFAULT);
  }
  EXPECT_EQ(s.validate(), "");
}

}  // namespace
}  // namespace smm_test
