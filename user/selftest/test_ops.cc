// SPDX-License-Identifier: GPL-2.0
//
// Every command through ioctl, with the state it leaves checked through
// GET_STATS and FAULT, and every way of getting its input wrong.
#include <string>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;
constexpr uint64_t kTask = SHADOWMM_TASK_SIZE;
constexpr uint64_t kMin = SHADOWMM_MMAP_MIN_ADDR;

// A fresh space on the classic path, whatever the default mode is.
Space ClassicSpace() {
  Space s;
  if (int err = s.SetMode(SHADOWMM_MODE_CLASSIC)) SMM_FAIL(true, "SET_MODE: " + ErrName(err));
  return s;
}

void MapNonFixed() {
  Space s = ClassicSpace();
  uint64_t a = 0, b = 0, c = 0;
  ASSERT_OK(s.Map(0, 4 * P, kRW, 0, &a));
  ASSERT_OK(s.Map(0, 2 * P, kRO, 0, &b));
  ASSERT_OK(s.Map(0, P, kNone, 0, &c));
  for (uint64_t x : {a, b, c}) {
    EXPECT_GE(x, kMin);
    EXPECT_EQ(x % P, 0u);
  }
  EXPECT_TRUE(a + 4 * P <= b || b + 2 * P <= a);
  EXPECT_TRUE(b + 2 * P <= c || c + P <= b);
  EXPECT_TRUE(a + 4 * P <= c || c + P <= a);
  EXPECT_EQ(s.Stats().vmas_live, 3u);
  // Each is really there, with its protection.
  EXPECT_OK(s.Store(a + 3 * P, 1));
  EXPECT_ERR(s.Store(b, 1), EFAULT);
  EXPECT_OK(s.Load(b + P, nullptr));
  EXPECT_ERR(s.Load(c, nullptr), EFAULT);
}

void MapHint() {
  Space s = ClassicSpace();
  uint64_t a = 0, b = 0;
  ASSERT_OK(s.Map(kBase, 2 * P, kRW, 0, &a));
  EXPECT_EQ(a, kBase);
  // Taken: the hint is only a hint.
  ASSERT_OK(s.Map(kBase, 2 * P, kRW, 0, &b));
  EXPECT_NE(b, kBase);
  EXPECT_TRUE(b + 2 * P <= kBase || b >= kBase + 2 * P);
  // A hint below mmap_min_addr is ignored, not an error.
  ASSERT_OK(s.Map(P, P, kRW, 0, &b));
  EXPECT_GE(b, kMin);
}

void MapFixed() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase + 4 * P, 4 * P));
  EXPECT_ERR(s.MapFixed(kBase + 4 * P, 4 * P), EEXIST);  // the same
  EXPECT_ERR(s.MapFixed(kBase + 2 * P, 4 * P), EEXIST);  // over its start
  EXPECT_ERR(s.MapFixed(kBase + 6 * P, 4 * P), EEXIST);  // over its end
  EXPECT_ERR(s.MapFixed(kBase, 16 * P), EEXIST);         // around it
  EXPECT_ERR(s.MapFixed(kBase + 5 * P, P), EEXIST);      // inside it
  EXPECT_EQ(s.Stats().vmas_live, 1u);
  EXPECT_OK(s.MapFixed(kBase, 4 * P));      // ends where it starts
  EXPECT_OK(s.MapFixed(kBase + 8 * P, P));  // starts where it ends
  EXPECT_OK(s.MapFixed(kMin, P));           // the lowest page allowed
  EXPECT_OK(s.MapFixed(kTask - P, P));      // the highest
  const shadowmm_stats st = s.Stats();
  // The two next to it joined it, as mmap(2)'s do: three VMAs of five maps.
  EXPECT_EQ(st.vmas_live, 3u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_MAP), 5u);
  EXPECT_EQ(st.pages_live, 0u);  // mapping allocates no page
}

void MapInvalid() {
  Space s = ClassicSpace();
  const uint64_t F = SHADOWMM_MAP_FIXED;
  struct Case {
    uint64_t addr, len, prot, flags;
    const char* what;
  } cases[] = {
      {kBase, 0, kRW, F, "fixed, length 0"},
      {0, 0, kRW, 0, "length 0"},
      {kBase, P + 1, kRW, F, "fixed, unaligned length"},
      {0, P / 2, kRW, 0, "unaligned length"},
      {kBase + 1, P, kRW, F, "fixed, unaligned address"},
      {kBase + 8, P, kRW, 0, "unaligned hint"},
      {0, P, kRW, F, "fixed at 0"},
      {kMin - P, P, kRW, F, "fixed below mmap_min_addr"},
      {kMin - P, 2 * P, kRW, F, "fixed across mmap_min_addr"},
      {kTask, P, kRW, F, "fixed at TASK_SIZE"},
      {kTask - P, 2 * P, kRW, F, "fixed across TASK_SIZE"},
      {~0ULL & ~(P - 1), P, kRW, F, "fixed at the last page of 2^64"},
      {kBase, ~0ULL & ~(P - 1), kRW, F, "fixed, wrapping length"},
      {0, kTask, kRW, 0, "length of the whole space"},
      {0, ~0ULL & ~(P - 1), kRW, 0, "length 2^64 - a page"},
      {kBase, P, 4, F, "prot 4"},
      {kBase, P, ~0ULL, F, "prot ~0"},
      {kBase, P, kRW, SHADOWMM_ACCESS_WRITE, "flag ACCESS_WRITE"},
      {kBase, P, kRW, F | (1ULL << 63), "flag bit 63"},
  };
  for (const Case& c : cases) {
    uint64_t out = 1;
    int err = s.Map(c.addr, c.len, c.prot, c.flags, &out);
    if (err != EINVAL)
      SMM_FAIL(false, std::string("MAP ") + c.what + ": " + ErrName(err) + ", expected EINVAL");
    else if (out != 0)
      SMM_FAIL(false, std::string("MAP ") + c.what + ": out_addr " + Show(out) + " on error");
  }
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.vmas_live, 0u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_MAP), 0u);
}

uint64_t ParamValue(const std::string& name) { return std::stoull(ReadLine(ParamFile(name))); }

void MapBudget() {
  {
    Space s = ClassicSpace();
    const uint64_t max_pages = ParamValue("max_pages");
    if (max_pages) {
      EXPECT_ERR(s.MapFixed(kBase, (max_pages + 1) * P), ENOMEM);
      EXPECT_ERR(s.Map(0, (max_pages + 1) * P, kRW, 0), ENOMEM);
      EXPECT_OK(s.MapFixed(kBase, max_pages * P));
      EXPECT_EQ(s.Stats().vmas_live, 1u);
    } else {
      Tap::Diag("max_pages is 0 (no limit): budget part not run");
    }
  }
  // Without a budget the whole space can be one VMA; then nothing fits.
  SettingGuard unlimited(ParamFile("max_pages"), "0");
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kMin, kTask - kMin));
  EXPECT_ERR(s.Map(0, P, kRW, 0), ENOMEM);
  EXPECT_ERR(s.MapFixed(kBase, P), EEXIST);
  EXPECT_OK(s.Store(kTask - 8, 42));
  EXPECT_OK(s.Store(kMin, 43));
  EXPECT_OK(s.Unmap(kMin, kTask - kMin));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.vmas_live, 0u);
  EXPECT_EQ(st.pages_live, 0u);
  EXPECT_EQ(st.tables_live, 1u);  // the PGD
}

void FaultFirstRead() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  uint64_t v = 1, faults = 0;
  ASSERT_OK(s.Fault(kBase + 8, false, 0, &v, &faults));
  EXPECT_EQ(v, 0u);
  EXPECT_EQ(faults, 1u);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.mode, uint64_t{SHADOWMM_MODE_CLASSIC});
  EXPECT_EQ(st.mms_live, 1u);
  EXPECT_EQ(st.nr_counters, uint64_t{SHADOWMM_NR_COUNTERS});
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS_HIT), 0u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_CLASSIC), 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_PAGE_ALLOC), 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_MM_CREATE), 1u);
  EXPECT_EQ(st.pages_live, 1u);
  EXPECT_EQ(st.tables_live, 4u);  // PGD + PUD, PMD, PTE tables
  EXPECT_EQ(st.vmas_live, 1u);
}

void FaultWriteRead() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  uint64_t v = 0, faults = 9;
  ASSERT_OK(s.Fault(kBase + P + 16, true, 0x1122334455667788, &v, &faults));
  EXPECT_EQ(faults, 1u);
  EXPECT_EQ(v, 0x1122334455667788u);
  ASSERT_OK(s.Fault(kBase + P + 16, false, 0, &v, &faults));
  EXPECT_EQ(faults, 0u);  // present: the MMU's job, no fault
  EXPECT_EQ(v, 0x1122334455667788u);
  // An access reads and writes the aligned u64 around its address.
  ASSERT_OK(s.Store(kBase + P + 43, 7));
  ASSERT_OK(s.Load(kBase + P + 40, &v));
  EXPECT_EQ(v, 7u);
  ASSERT_OK(s.Load(kBase + P + 16, &v));
  EXPECT_EQ(v, 0x1122334455667788u);
  ASSERT_OK(s.Load(kBase, &v));  // the other page: its own zeroes
  EXPECT_EQ(v, 0u);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 6u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS_HIT), 4u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), 2u);
  EXPECT_EQ(st.pages_live, 2u);
}

void FaultErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, P));
  uint64_t faults = 0;
  EXPECT_ERR(s.Fault(kBase + P, false, 0, nullptr, &faults), EFAULT);
  EXPECT_EQ(faults, 1u);
  EXPECT_ERR(s.Store(kBase - 8, 1), EFAULT);
  EXPECT_ERR(s.Load(0, nullptr), EFAULT);
  EXPECT_ERR(s.Load(kTask, nullptr), EINVAL);
  EXPECT_ERR(s.Load(~0ULL, nullptr), EINVAL);
  shadowmm_cmd c = FaultCmd(kBase, false);
  c.flags = 4;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
  c.flags = SHADOWMM_MAP_FIXED;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), 3u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_SIGSEGV), 3u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 3u);  // EINVAL is no access
  EXPECT_EQ(st.pages_live, 0u);
}

void FaultTop() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kTask - P, P));
  uint64_t v = 0;
  ASSERT_OK(s.Store(kTask - 8, 0xfeed));
  ASSERT_OK(s.Load(kTask - 8, &v));
  EXPECT_EQ(v, 0xfeedu);
  EXPECT_OK(s.Unmap(kTask - P, P));
  EXPECT_EQ(s.Stats().tables_live, 1u);
}

void ProtectAccess() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 3 * P));
  ASSERT_OK(s.Store(kBase, 11));
  ASSERT_OK(s.Store(kBase + P, 12));
  ASSERT_OK(s.Protect(kBase, 3 * P, kRO));
  uint64_t v = 0, faults = 0;
  EXPECT_ERR(s.Fault(kBase, true, 99, nullptr, &faults), EFAULT);
  EXPECT_EQ(faults, 1u);
  ASSERT_OK(s.Fault(kBase, false, 0, &v, &faults));
  EXPECT_EQ(v, 11u);  // kept, and still present
  EXPECT_EQ(faults, 0u);
  ASSERT_OK(s.Load(kBase + 2 * P, &v));  // read-faults in a zero page
  EXPECT_EQ(v, 0u);
  ASSERT_OK(s.Protect(kBase, 3 * P, kNone));
  EXPECT_ERR(s.Load(kBase + P, nullptr), EFAULT);
  EXPECT_EQ(s.Stats().pages_live, 3u);  // PROT_NONE keeps pages
  // Write-only asks for read as well, as on x86.
  ASSERT_OK(s.Protect(kBase, 3 * P, SHADOWMM_PROT_WRITE));
  ASSERT_OK(s.Load(kBase + P, &v));
  EXPECT_EQ(v, 12u);
  EXPECT_OK(s.Store(kBase + P, 13));
  ASSERT_OK(s.Protect(kBase, 3 * P, kRW));
  ASSERT_OK(s.Load(kBase + P, &v));
  EXPECT_EQ(v, 13u);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_PROTECT), 4u);
  EXPECT_EQ(st.vmas_live, 1u);
}

void ProtectSplitMerge() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.Touch(kBase, 4 * P, P, true, 5));
  ASSERT_OK(s.Protect(kBase + P, P, kRO));
  EXPECT_EQ(s.Stats().vmas_live, 3u);
  EXPECT_ERR(s.Store(kBase + P, 1), EFAULT);
  EXPECT_OK(s.Store(kBase, 1));
  EXPECT_OK(s.Store(kBase + 2 * P, 1));
  ASSERT_OK(s.Protect(kBase + 2 * P, 2 * P, kRO));  // joins the middle one
  EXPECT_EQ(s.Stats().vmas_live, 2u);
  ASSERT_OK(s.Protect(kBase, 4 * P, kRW));  // all one again
  EXPECT_EQ(s.Stats().vmas_live, 1u);
  EXPECT_OK(s.Store(kBase + 3 * P, 1));
  // Adjacent maps with the same protection merge once protect sees them.
  ASSERT_OK(s.MapFixed(kBase + 4 * P, 2 * P, kRO));
  EXPECT_EQ(s.Stats().vmas_live, 2u);
  ASSERT_OK(s.Protect(kBase + 4 * P, 2 * P, kRW));
  EXPECT_EQ(s.Stats().vmas_live, 1u);
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase + 2 * P, &v));
  EXPECT_EQ(v, 1u);
  EXPECT_EQ(s.Stats().pages_live, 4u);
}

void ProtectErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  ASSERT_OK(s.MapFixed(kBase + 3 * P, 2 * P));
  EXPECT_ERR(s.Protect(kBase, 5 * P, kRO), ENOMEM);      // hole in the middle
  EXPECT_ERR(s.Protect(kBase, 3 * P, kRO), ENOMEM);      // hole at the end
  EXPECT_ERR(s.Protect(kBase - P, 2 * P, kRO), ENOMEM);  // at the start
  EXPECT_ERR(s.Protect(kBase + 8 * P, P, kRO), ENOMEM);  // nothing there
  EXPECT_ERR(s.Protect(kBase + 1, P, kRO), EINVAL);
  EXPECT_ERR(s.Protect(kBase, P + 8, kRO), EINVAL);
  EXPECT_ERR(s.Protect(kBase, 0, kRO), EINVAL);
  EXPECT_ERR(s.Protect(kBase, P, 4), EINVAL);
  EXPECT_ERR(s.Protect(kBase, ~0ULL & ~(P - 1), kRO), EINVAL);
  EXPECT_ERR(s.Protect(kTask, P, kRO), EINVAL);
  // Nothing changed: still writable, still two VMAs.
  EXPECT_OK(s.Store(kBase, 1));
  EXPECT_OK(s.Store(kBase + 4 * P, 1));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.vmas_live, 2u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_PROTECT), 0u);
}

void UnmapHoles() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.Touch(kBase, 4 * P, P, true, 3));
  shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.pages_live, 4u);
  EXPECT_EQ(st.tables_live, 4u);
  ASSERT_OK(s.Unmap(kBase + P, 2 * P));
  st = s.Stats();
  EXPECT_EQ(st.vmas_live, 2u);
  EXPECT_EQ(st.pages_live, 2u);
  EXPECT_EQ(st.tables_live, 4u);  // the PTE table still serves both ends
  EXPECT_ERR(s.Load(kBase + P, nullptr), EFAULT);
  EXPECT_ERR(s.Load(kBase + 2 * P, nullptr), EFAULT);
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase + 3 * P, &v));
  EXPECT_EQ(v, 3u);
  // Remapping the hole gives fresh zero pages.
  ASSERT_OK(s.MapFixed(kBase + P, 2 * P));
  ASSERT_OK(s.Load(kBase + P, &v));
  EXPECT_EQ(v, 0u);
  // One unmap across three VMAs and the gaps around them.
  ASSERT_OK(s.Unmap(kBase - 4 * P, 12 * P));
  st = s.Stats();
  EXPECT_EQ(st.vmas_live, 0u);
  EXPECT_EQ(st.pages_live, 0u);
  EXPECT_EQ(st.tables_live, 1u);  // nothing maps there: tables freed
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_UNMAP), 2u);
}

void UnmapErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  EXPECT_OK(s.Unmap(kBase + 4 * P, 4 * P));  // nothing there: fine, as munmap
  EXPECT_OK(s.Unmap(0, P));                  // below mmap_min_addr too
  EXPECT_ERR(s.Unmap(kBase + 1, P), EINVAL);
  EXPECT_ERR(s.Unmap(kBase, P - 1), EINVAL);
  EXPECT_ERR(s.Unmap(kBase, 0), EINVAL);
  EXPECT_ERR(s.Unmap(kBase, ~0ULL & ~(P - 1)), EINVAL);
  EXPECT_ERR(s.Unmap(kTask, P), EINVAL);
  EXPECT_ERR(s.Unmap(kTask - P, 2 * P), EINVAL);
  EXPECT_EQ(s.Stats().vmas_live, 1u);
  EXPECT_OK(s.Store(kBase + P, 1));
}

void ZapPages() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 8 * P));
  for (uint64_t i = 0; i < 8; i++) ASSERT_OK(s.Store(kBase + i * P, 100 + i));
  ASSERT_OK(s.Zap(kBase + 2 * P, 4 * P));
  shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.pages_live, 4u);
  EXPECT_EQ(st.vmas_live, 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_ZAP), 1u);
  uint64_t v = 1, faults = 0;
  ASSERT_OK(s.Fault(kBase + 3 * P, false, 0, &v, &faults));
  EXPECT_EQ(v, 0u);  // MADV_DONTNEED: zero page on the next touch
  EXPECT_EQ(faults, 1u);
  ASSERT_OK(s.Load(kBase + P, &v));
  EXPECT_EQ(v, 101u);
  ASSERT_OK(s.Load(kBase + 6 * P, &v));
  EXPECT_EQ(v, 106u);
  // Across two adjacent VMAs of different protection, PROT_NONE included.
  ASSERT_OK(s.MapFixed(kBase + 8 * P, 2 * P));
  ASSERT_OK(s.Store(kBase + 9 * P, 1));
  ASSERT_OK(s.Protect(kBase + 8 * P, 2 * P, kNone));
  ASSERT_OK(s.Zap(kBase, 10 * P));
  EXPECT_EQ(s.Stats().pages_live, 0u);
}

void ZapErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  ASSERT_OK(s.MapFixed(kBase + 3 * P, P));
  ASSERT_OK(s.Touch(kBase, 2 * P, P, true, 1));
  EXPECT_ERR(s.Zap(kBase, 4 * P), ENOMEM);  // a hole: nothing zapped
  EXPECT_ERR(s.Zap(kBase + 8 * P, P), ENOMEM);
  EXPECT_ERR(s.Zap(kBase + 1, P), EINVAL);
  EXPECT_ERR(s.Zap(kBase, 0), EINVAL);
  EXPECT_ERR(s.Zap(kBase, P + 1), EINVAL);
  EXPECT_ERR(s.Zap(kBase, ~0ULL & ~(P - 1)), EINVAL);
  EXPECT_ERR(s.Zap(kTask, P), EINVAL);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.pages_live, 2u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_ZAP), 0u);
}

void TouchStride() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 16 * P));
  uint64_t faults = 0, v = 0;
  ASSERT_OK(s.Touch(kBase, 16 * P, P, true, 7, &faults));
  EXPECT_EQ(faults, 16u);
  ASSERT_OK(s.Touch(kBase, 16 * P, P, false, 0, &faults));
  EXPECT_EQ(faults, 0u);
  ASSERT_OK(s.Load(kBase + 15 * P, &v));
  EXPECT_EQ(v, 7u);
  shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 33u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS_HIT), 17u);
  // Every 8 bytes of a fresh page: one fault, 511 hits.
  ASSERT_OK(s.MapFixed(kBase + 32 * P, P));
  ASSERT_OK(s.Touch(kBase + 32 * P, P, 8, true, 9, &faults));
  EXPECT_EQ(faults, 1u);
  ASSERT_OK(s.Load(kBase + 32 * P + P - 8, &v));
  EXPECT_EQ(v, 9u);
  // A stride beyond the range: one access.  Stride 1: unaligned ones.
  ASSERT_OK(s.Touch(kBase + 2 * P, 2 * P, 1ULL << 40, true, 10, &faults));
  EXPECT_EQ(faults, 0u);
  ASSERT_OK(s.Load(kBase + 3 * P, &v));
  EXPECT_EQ(v, 7u);
  st = s.Stats();
  const uint64_t before = Counter(st, SHADOWMM_EV_ACCESS);
  ASSERT_OK(s.Touch(kBase + 4 * P + 5, 16, 1, false));
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_ACCESS) - before, 16u);
}

void TouchErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  ASSERT_OK(s.MapFixed(kBase + 3 * P, P, kRO));
  uint64_t faults = 0;
  // Stops at the hole: out_faults says how far it got.
  EXPECT_ERR(s.Touch(kBase, 4 * P, P, true, 1, &faults), EFAULT);
  EXPECT_EQ(faults, 3u);
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase + P, &v));
  EXPECT_EQ(v, 1u);
  EXPECT_ERR(s.Touch(kBase + 3 * P, P, P, true, 1, &faults), EFAULT);
  EXPECT_EQ(faults, 1u);
  EXPECT_ERR(s.Touch(kBase, 2 * P, 0, true), EINVAL);
  EXPECT_ERR(s.Touch(kBase, 0, P, true), EINVAL);
  EXPECT_ERR(s.Touch(kTask, P, P, true), EINVAL);
  EXPECT_ERR(s.Touch(kTask - P, 2 * P, P, true), EINVAL);
  EXPECT_ERR(s.Touch(kBase, ~0ULL, P, true), EINVAL);
  shadowmm_cmd c = TouchCmd(kBase, P, P, false);
  c.flags = 8;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
  c.flags = SHADOWMM_MAP_FIXED;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
}

// Module parameters are read when a space is opened.
void BudgetPages() {
  SettingGuard budget(ParamFile("max_pages"), "8");
  Space s = ClassicSpace();
  EXPECT_ERR(s.MapFixed(kBase, 9 * P), ENOMEM);
  ASSERT_OK(s.MapFixed(kBase, 8 * P));
  ASSERT_OK(s.MapFixed(kBase + 16 * P, 8 * P));
  uint64_t faults = 0;
  ASSERT_OK(s.Touch(kBase, 8 * P, P, true, 1, &faults));
  EXPECT_EQ(faults, 8u);
  EXPECT_ERR(s.Touch(kBase + 16 * P, 2 * P, P, true, 1, &faults), ENOMEM);
  EXPECT_EQ(faults, 1u);
  shadowmm_stats st = s.Stats();
  EXPECT_EQ(st.pages_live, 8u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_OOM), 1u);
  // Each space has its own budget.
  {
    Space other = ClassicSpace();
    ASSERT_OK(other.MapFixed(kBase, 8 * P));
    EXPECT_OK(other.Touch(kBase, 8 * P, P, true, 1));
  }
  // Freeing pages makes room again, in every mode.
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    ASSERT_OK(s.SetMode(mode));
    ASSERT_OK(s.Zap(kBase, 8 * P));
    EXPECT_OK(s.Touch(kBase + 16 * P, 8 * P, P, true, 2));
    EXPECT_ERR(s.Store(kBase, 3), ENOMEM);
    ASSERT_OK(s.Zap(kBase + 16 * P, 8 * P));
    EXPECT_OK(s.Touch(kBase, 8 * P, P, true, 2));
  }
  st = s.Stats();
  EXPECT_EQ(st.pages_live, 8u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_OOM), 1u + SHADOWMM_NR_MODES);
}

void BudgetVmas() {
  SettingGuard limit(ParamFile("max_vmas"), "3");
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.MapFixed(kBase + 8 * P, 4 * P));
  ASSERT_OK(s.MapFixed(kBase + 16 * P, 4 * P));
  EXPECT_ERR(s.MapFixed(kBase + 24 * P, P), ENOMEM);
  EXPECT_ERR(s.Map(0, P, kRW, 0), ENOMEM);
  EXPECT_ERR(s.Unmap(kBase + P, P), ENOMEM);         // a hole makes two
  EXPECT_ERR(s.Protect(kBase + P, P, kRO), ENOMEM);  // so would a split
  EXPECT_EQ(s.Stats().vmas_live, 3u);
  EXPECT_OK(s.Unmap(kBase, P));                     // trimming keeps three
  EXPECT_OK(s.Protect(kBase + 8 * P, 4 * P, kRO));  // whole VMA: no split
  EXPECT_OK(s.Unmap(kBase + 16 * P, 4 * P));
  EXPECT_OK(s.MapFixed(kBase + 24 * P, P));
  EXPECT_EQ(s.Stats().vmas_live, 3u);
}

// The first fault under a fresh table cannot be speculative (no table to
// walk): it aborts and is redone classically; the next one succeeds.
void ModeCounters() {
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space s;
    ASSERT_OK(s.SetMode(mode));
    ASSERT_OK(s.MapFixed(kBase, 4 * P));
    ASSERT_OK(s.MapFixed(kBase + 4 * P, P, kRO));
    ASSERT_OK(s.Store(kBase, 1));
    ASSERT_OK(s.Store(kBase + P, 2));
    EXPECT_ERR(s.Store(kBase + 4 * P, 3), EFAULT);  // bad access
    EXPECT_ERR(s.Store(kBase + 8 * P, 3), EFAULT);  // no VMA
    const shadowmm_stats st = s.Stats();
    EXPECT_EQ(st.mode, mode);
    EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), 4u);
    EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_SIGSEGV), 2u);
    auto c = [&](shadowmm_counter ev) { return Counter(st, ev); };
    switch (mode) {
      case SHADOWMM_MODE_CLASSIC:
        EXPECT_EQ(c(SHADOWMM_EV_FAULT_CLASSIC), 2u);
        EXPECT_EQ(c(SHADOWMM_EV_FALLBACK), 0u);
        EXPECT_EQ(c(SHADOWMM_EV_SPF_ATTEMPT) + c(SHADOWMM_EV_MMSEQ_ATTEMPT), 0u);
        break;
      case SHADOWMM_MODE_SPF:
        EXPECT_EQ(c(SHADOWMM_EV_SPF_ATTEMPT), 4u);
        EXPECT_EQ(c(SHADOWMM_EV_SPF_SUCCESS), 1u);
        // The VMA's first fault: no anon_vma yet (its table comes with it).
        EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_NO_ANON), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_ACCESS), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_SPF_ABORT_NO_VMA), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_FALLBACK), 3u);
        EXPECT_EQ(c(SHADOWMM_EV_FAULT_CLASSIC), 1u);
        break;
      case SHADOWMM_MODE_MMSEQ:
        EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_ATTEMPT), 4u);
        EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_SUCCESS), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_ABORT_NO_ANON), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_ABORT_ACCESS), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_ABORT_NO_VMA), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_FALLBACK), 3u);
        EXPECT_EQ(c(SHADOWMM_EV_SPF_ATTEMPT), 0u);
        break;
      case SHADOWMM_MODE_VMALOCK:
        // The VMA's first fault makes its anon_vma under the VMA lock,
        // trylocking mmap_lock (anon_policy trylock, the default: 6.8+).
        EXPECT_EQ(c(SHADOWMM_EV_VMA_LOCK_SUCCESS), 2u);
        EXPECT_EQ(c(SHADOWMM_EV_VMA_LOCK_ANON_PREPARE), 1u);
        EXPECT_EQ(c(SHADOWMM_EV_VMA_LOCK_NO_ANON), 0u);
        EXPECT_EQ(c(SHADOWMM_EV_VMA_LOCK_ABORT), 2u);
        EXPECT_EQ(c(SHADOWMM_EV_FALLBACK), 2u);
        EXPECT_EQ(c(SHADOWMM_EV_FAULT_CLASSIC), 0u);
        break;
    }
    uint64_t v = 0;
    ASSERT_OK(s.Load(kBase + P, &v));
    EXPECT_EQ(v, 2u);
  }
}

// anon_policy per space: fallback (6.4) redoes a VMA's first fault under
// mmap_lock, trylock (6.8+) makes the anon_vma under the VMA lock; new
// spaces take the debugfs default (also the module parameter).
void AnonPolicy() {
  EXPECT_EQ(ReadLine(DebugfsFile("anon_policy")), "trylock");
  EXPECT_EQ(ReadLine(ParamFile("anon_policy")), "trylock");
  EXPECT_ERR(WriteFile(DebugfsFile("anon_policy"), "sometimes"), EINVAL);
  for (uint64_t policy : {SHADOWMM_ANON_FALLBACK, SHADOWMM_ANON_TRYLOCK}) {
    SettingGuard guard(DebugfsFile("anon_policy"),
                       policy == SHADOWMM_ANON_FALLBACK ? "fallback" : "trylock");
    Space s;
    EXPECT_EQ(s.Info().anon_policy, policy);
    ASSERT_OK(s.SetMode(SHADOWMM_MODE_VMALOCK));
    ASSERT_OK(s.MapFixed(kBase, 4 * P));
    ASSERT_OK(s.Store(kBase, 1));
    ASSERT_OK(s.Store(kBase + P, 2));
    const shadowmm_stats st = s.Stats();
    const bool fallback = policy == SHADOWMM_ANON_FALLBACK;
    EXPECT_EQ(Counter(st, SHADOWMM_EV_VMA_LOCK_NO_ANON), fallback ? 1u : 0u);
    EXPECT_EQ(Counter(st, SHADOWMM_EV_VMA_LOCK_ANON_PREPARE), fallback ? 0u : 1u);
    EXPECT_EQ(Counter(st, SHADOWMM_EV_VMA_LOCK_SUCCESS), fallback ? 1u : 2u);
    // A space changes its own, whatever the default.
    ASSERT_OK(s.SetAnonPolicy(fallback ? SHADOWMM_ANON_TRYLOCK : SHADOWMM_ANON_FALLBACK));
    EXPECT_EQ(s.Info().anon_policy, fallback ? SHADOWMM_ANON_TRYLOCK : SHADOWMM_ANON_FALLBACK);
  }
  Space s;
  EXPECT_ERR(s.SetAnonPolicy(SHADOWMM_NR_ANON_POLICIES), EINVAL);
  EXPECT_ERR(s.SetAnonPolicy(~0ULL), EINVAL);
  EXPECT_EQ(s.Info().anon_policy, uint64_t{SHADOWMM_ANON_TRYLOCK});
}

void ModeInvalid() {
  Space s = ClassicSpace();
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_VMALOCK));
  EXPECT_ERR(s.SetMode(SHADOWMM_NR_MODES), EINVAL);
  EXPECT_ERR(s.SetMode(~0ULL), EINVAL);
  // Would be SPF if the module looked at 32 bits only.
  EXPECT_ERR(s.SetMode((1ULL << 32) | SHADOWMM_MODE_SPF), EINVAL);
  EXPECT_EQ(s.Stats().mode, uint64_t{SHADOWMM_MODE_VMALOCK});
}

}  // namespace

void AddOpTests(Tap& tap) {
  tap.Add("map: without MAP_FIXED, aligned free ranges above mmap_min_addr", MapNonFixed);
  tap.Add("map: a free hint is taken as it is", MapHint);
  tap.Add("map: MAP_FIXED at the address; any overlap is EEXIST", MapFixed);
  tap.Add("map: bad ranges, prot and flags are EINVAL and map nothing", MapInvalid);
  tap.Add("map: beyond max_pages is ENOMEM; a full space is ENOMEM", MapBudget);
  tap.Add("fault: first read faults once, reads 0, and is counted", FaultFirstRead);
  tap.Add("fault: write then read back; present pages do not fault", FaultWriteRead);
  tap.Add("fault: no VMA is EFAULT; bad address or flags EINVAL", FaultErrors);
  tap.Add("fault: the last page below TASK_SIZE", FaultTop);
  tap.Add("protect: read-only and PROT_NONE refuse; pages and values kept", ProtectAccess);
  tap.Add("protect: splits VMAs and merges equal neighbours", ProtectSplitMerge);
  tap.Add("protect: holes are ENOMEM, bad input EINVAL, nothing changes", ProtectErrors);
  tap.Add("unmap: punches holes, frees pages and then page tables", UnmapHoles);
  tap.Add("unmap: bad input EINVAL; an empty range is no error", UnmapErrors);
  tap.Add("zap: frees pages, keeps VMAs; next touch reads 0", ZapPages);
  tap.Add("zap: holes are ENOMEM, bad input EINVAL, nothing zapped", ZapErrors);
  tap.Add("touch: strides, out_faults and hits", TouchStride);
  tap.Add("touch: stops at the first error with out_faults so far; EINVAL", TouchErrors);
  tap.Add("budget: max_pages stops faults with ENOMEM, per space, every mode", BudgetPages);
  tap.Add("budget: max_vmas stops maps, hole punches and splits (ENOMEM)", BudgetVmas);
  tap.Add("modes: each fault path's success and abort counters", ModeCounters);
  tap.Add("modes: SET_MODE out of range is EINVAL", ModeInvalid);
  tap.Add("anon_policy: fallback and trylock per space, the default, EINVAL", AnonPolicy);
}

}  // namespace shadowmm::selftest
