// SPDX-License-Identifier: GPL-2.0
// COPY and SEARCH (ebizzy's memcpy() and bsearch()/linear search through
// the shadow pages): the bytes against a plain-memory model, faults and
// counters where the accesses would take them, every bad input refused
// without a change, allocation failure at every step, signals, and copies
// racing zaps in every mode.
#include <cerrno>
#include <cstring>
#include <vector>

#include "smm_test.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x20000000;
constexpr uint64_t kDst = 0x30000000;

class CopySearch : public CoreTest {};

int Copy(const Space& s, uint64_t dst, uint64_t src, uint64_t len, shadowmm_cmd* out = nullptr) {
  shadowmm_cmd cmd{.op = SHADOWMM_OP_COPY, .addr = src, .len = len, .value = dst};
  int ret = s.exec(cmd);
  if (out) *out = cmd;
  return ret;
}

int Search(const Space& s, uint64_t addr, uint64_t len, uint64_t record, uint64_t key, bool linear,
           shadowmm_cmd* out = nullptr) {
  shadowmm_cmd cmd{.op = SHADOWMM_OP_SEARCH,
                   .addr = addr,
                   .len = len,
                   .flags = linear ? SHADOWMM_SEARCH_LINEAR : 0,
                   .stride = record,
                   .value = key};
  int ret = s.exec(cmd);
  if (out) *out = cmd;
  return ret;
}

// ebizzy's write_pattern(): record j holds j.
void WritePattern(const Space& s, uint64_t addr, uint64_t records) {
  for (uint64_t j = 0; j < records; j++) ASSERT_EQ(s.fault(addr + 8 * j, true, j), 0);
}

std::vector<uint64_t> ReadWords(const Space& s, uint64_t addr, uint64_t words) {
  std::vector<uint64_t> v(words);
  for (uint64_t i = 0; i < words; i++) EXPECT_EQ(s.fault(addr + 8 * i, false, 0, &v[i]), 0);
  return v;
}

TEST_F(CopySearch, CopyMovesTheBytesAndFaultsTheDestination) {
  for (unsigned mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    SCOPED_TRACE(mode_name(mode));
    Space s(mode);
    const uint64_t records = 3 * kPage / 8;
    ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
    ASSERT_EQ(s.map(kDst, 4 * kPage, kRW), 0);
    WritePattern(s, kBase, records);
    const uint64_t faults = s.counter(SHADOWMM_EV_FAULT);
    shadowmm_cmd out{};
    ASSERT_EQ(Copy(s, kDst, kBase, records * 8, &out), 0);
    EXPECT_EQ(out.out_len, records * 8);
    // The source was present; each destination page faults once.
    EXPECT_EQ(out.out_faults, 3u);
    EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT) - faults, 3u);
    EXPECT_EQ(s.counter(SHADOWMM_EV_OP_COPY), 1u);
    EXPECT_EQ(s.counter(SHADOWMM_EV_COPY_BYTES), records * 8);
    std::vector<uint64_t> got = ReadWords(s, kDst, records + 1);
    for (uint64_t j = 0; j < records; j++) ASSERT_EQ(got[j], j);
    EXPECT_EQ(got[records], 0u);  // nothing past the end
    // Again: everything present, nothing faults.
    ASSERT_EQ(Copy(s, kDst, kBase, records * 8, &out), 0);
    EXPECT_EQ(out.out_faults, 0u);
    EXPECT_EQ(s.validate(), "");
  }
}

// Source and destination at different offsets in their pages: pieces
// split at both page boundaries; a model in plain memory says what the
// destination must hold.
TEST_F(CopySearch, CopyAtOddOffsetsMatchesMemcpy) {
  Space s;
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.map(kDst, 4 * kPage, kRW), 0);
  std::vector<uint64_t> src(4 * kPage / 8), dst(4 * kPage / 8, 0);
  for (uint64_t i = 0; i < src.size(); i++) {
    src[i] = i * 0x9e3779b97f4a7c15ULL;
    ASSERT_EQ(s.fault(kBase + 8 * i, true, src[i]), 0);
  }
  const uint64_t from = 5 * 8, to = 123 * 8, len = 2 * kPage + 40;
  std::memcpy(reinterpret_cast<char*>(dst.data()) + to, reinterpret_cast<char*>(src.data()) + from,
              len);
  shadowmm_cmd out{};
  ASSERT_EQ(Copy(s, kDst + to, kBase + from, len, &out), 0);
  EXPECT_EQ(out.out_len, len);
  EXPECT_EQ(ReadWords(s, kDst, dst.size()), dst);
}

TEST_F(CopySearch, CopyRefusesBadInputAndChangesNothing) {
  Space s;
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  ASSERT_EQ(s.map(kDst, 4 * kPage, kRW), 0);
  const uint64_t top = SHADOWMM_TASK_SIZE;
  EXPECT_EQ(Copy(s, kDst, kBase, 0), -EINVAL);           // empty
  EXPECT_EQ(Copy(s, kDst, kBase + 4, 8), -EINVAL);       // unaligned source
  EXPECT_EQ(Copy(s, kDst + 1, kBase, 8), -EINVAL);       // unaligned destination
  EXPECT_EQ(Copy(s, kDst, kBase, 12), -EINVAL);          // unaligned length
  EXPECT_EQ(Copy(s, kDst, top - 8, 16), -EINVAL);        // source past the top
  EXPECT_EQ(Copy(s, top - 8, kBase, 16), -EINVAL);       // destination past the top
  EXPECT_EQ(Copy(s, kDst, ~0ULL & ~7ULL, 16), -EINVAL);  // wraps
  EXPECT_EQ(Copy(s, kBase + 8, kBase, 16), -EINVAL);     // overlaps forwards
  EXPECT_EQ(Copy(s, kBase, kBase + 8, 16), -EINVAL);     // overlaps backwards
  EXPECT_EQ(Copy(s, kBase, kBase, 8), -EINVAL);          // onto itself
  shadowmm_cmd cmd{.op = SHADOWMM_OP_COPY, .addr = kBase, .len = 8, .flags = 1, .value = kDst};
  EXPECT_EQ(s.exec(cmd), -EINVAL);  // no flags
  cmd.flags = 1ULL << 63;
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT), 0u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_COPY_BYTES), 0u);
  EXPECT_EQ(s.stats().pages_live, 0u);
  // Adjacent is not overlapping.
  EXPECT_EQ(Copy(s, kBase + 16, kBase, 16), 0);
  EXPECT_EQ(s.validate(), "");
}

// Outside a VMA, into a read-only or PROT_NONE one: -EFAULT where the
// access is, and what came before it was copied.
TEST_F(CopySearch, CopyFaultsLikeAccesses) {
  Space s;
  ASSERT_EQ(s.map(kBase, 2 * kPage, kRW), 0);
  ASSERT_EQ(s.map(kDst, kPage, kRW), 0);  // one page, then a gap
  ASSERT_EQ(s.fault(kBase, true, 7), 0);
  ASSERT_EQ(s.fault(kBase + kPage, true, 9), 0);
  shadowmm_cmd out{};
  EXPECT_EQ(Copy(s, kDst, kBase, 2 * kPage, &out), -EFAULT);
  EXPECT_EQ(out.out_len, kPage);
  uint64_t v = 0;
  ASSERT_EQ(s.fault(kDst, false, 0, &v), 0);
  EXPECT_EQ(v, 7u);
  // From nowhere: nothing copied.
  EXPECT_EQ(Copy(s, kDst, 0x50000000, 8, &out), -EFAULT);
  EXPECT_EQ(out.out_len, 0u);
  // Into read-only memory: a write fault that fails.
  ASSERT_EQ(s.protect(kDst, kPage, kRO), 0);
  EXPECT_EQ(Copy(s, kDst, kBase, 8), -EFAULT);
  ASSERT_EQ(s.fault(kDst, false, 0, &v), 0);
  EXPECT_EQ(v, 7u);
  // From PROT_NONE memory.
  ASSERT_EQ(s.protect(kBase, kPage, kNone), 0);
  ASSERT_EQ(s.protect(kDst, kPage, kRW), 0);
  EXPECT_EQ(Copy(s, kDst, kBase, 8), -EFAULT);
  // A source page never written reads as zeroes, as a fresh anonymous page.
  ASSERT_EQ(s.map(kBase + 4 * kPage, kPage, kRW), 0);
  ASSERT_EQ(Copy(s, kDst, kBase + 4 * kPage, 8), 0);
  ASSERT_EQ(s.fault(kDst, false, 0, &v), 0);
  EXPECT_EQ(v, 0u);
  EXPECT_GE(s.counter(SHADOWMM_EV_FAULT_SIGSEGV), 4u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(CopySearch, SignalStopsACopyShort) {
  Space s;
  ASSERT_EQ(s.map(kBase, 8 * kPage, kRW), 0);
  ASSERT_EQ(s.map(kDst, 8 * kPage, kRW), 0);
  smm_shim_signal_after(3);
  shadowmm_cmd out{};
  EXPECT_EQ(Copy(s, kDst, kBase, 8 * kPage, &out), 0);
  EXPECT_EQ(out.out_len, 3 * kPage);
  smm_shim_signal_after(0);
  EXPECT_EQ(Copy(s, kDst, kBase, 8 * kPage, &out), -EINTR);
  EXPECT_EQ(out.out_len, 0u);
  EXPECT_EQ(Search(s, kBase, 8 * kPage, 8, 0, false), -EINTR);
  EXPECT_EQ(Search(s, kBase, 8 * kPage, 8, 0, true), -EINTR);
  smm_shim_signal_after(-1);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(CopySearch, SearchFindsEveryKeyBothWays) {
  Space s;
  const uint64_t records = 2 * kPage / 8 + 3;
  ASSERT_EQ(s.map(kBase, 3 * kPage, kRW), 0);
  WritePattern(s, kBase, records);
  for (bool linear : {false, true}) {
    SCOPED_TRACE(linear ? "linear" : "binary");
    for (uint64_t key : {uint64_t{0}, uint64_t{1}, uint64_t{511}, uint64_t{512}, records - 1}) {
      shadowmm_cmd out{};
      ASSERT_EQ(Search(s, kBase, records * 8, 8, key, linear, &out), 0);
      EXPECT_EQ(out.out_value, key);
      EXPECT_EQ(out.out_addr, kBase + 8 * key);
      EXPECT_EQ(out.out_faults, 0u);
    }
    EXPECT_EQ(Search(s, kBase, records * 8, 8, records, linear), -ENOENT);
    EXPECT_EQ(Search(s, kBase, records * 8, 8, ~0ULL, linear), -ENOENT);
  }
  // Bisection: key 0 of 1027 records takes ceil(log2) probes; linear 1.
  const uint64_t before = s.counter(SHADOWMM_EV_SEARCH_COMPARE);
  ASSERT_EQ(Search(s, kBase, records * 8, 8, 0, false), 0);
  const uint64_t binary = s.counter(SHADOWMM_EV_SEARCH_COMPARE) - before;
  EXPECT_GE(binary, 9u);
  EXPECT_LE(binary, 11u);
  ASSERT_EQ(Search(s, kBase, records * 8, 8, 0, true), 0);
  EXPECT_EQ(s.counter(SHADOWMM_EV_SEARCH_COMPARE) - before - binary, 1u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_OP_SEARCH), 16u);
}

// Records wider than a word: the key is each record's first u64; records
// straddle pages.
TEST_F(CopySearch, SearchWideRecords) {
  Space s;
  const uint64_t record = 24, records = 400;  // 9600 bytes
  ASSERT_EQ(s.map(kBase, 3 * kPage, kRW), 0);
  for (uint64_t j = 0; j < records; j++) {
    ASSERT_EQ(s.fault(kBase + record * j, true, 10 * j), 0);
    ASSERT_EQ(s.fault(kBase + record * j + 8, true, 10 * j + 1), 0);  // not a key
  }
  for (bool linear : {false, true}) {
    for (uint64_t j : {uint64_t{0}, uint64_t{170}, uint64_t{171}, uint64_t{341}, records - 1}) {
      shadowmm_cmd out{};
      ASSERT_EQ(Search(s, kBase, records * record, record, 10 * j, linear, &out), 0);
      EXPECT_EQ(out.out_value, j);
    }
    EXPECT_EQ(Search(s, kBase, records * record, record, 10 * 170 + 1, linear), -ENOENT);
  }
}

TEST_F(CopySearch, SearchRefusesBadInputAndFaults) {
  Space s;
  ASSERT_EQ(s.map(kBase, 2 * kPage, kRW), 0);
  EXPECT_EQ(Search(s, kBase, 0, 8, 0, false), -EINVAL);       // empty
  EXPECT_EQ(Search(s, kBase, 16, 0, 0, false), -EINVAL);      // no record size
  EXPECT_EQ(Search(s, kBase, 16, 12, 0, false), -EINVAL);     // not a multiple of 8
  EXPECT_EQ(Search(s, kBase, 24, 16, 0, false), -EINVAL);     // not whole records
  EXPECT_EQ(Search(s, kBase + 4, 16, 8, 0, false), -EINVAL);  // unaligned
  EXPECT_EQ(Search(s, SHADOWMM_TASK_SIZE - 8, 16, 8, 0, true), -EINVAL);
  EXPECT_EQ(Search(s, ~0ULL & ~7ULL, 16, 8, 0, true), -EINVAL);  // wraps
  shadowmm_cmd cmd{.op = SHADOWMM_OP_SEARCH, .addr = kBase, .len = 8, .flags = 0x1, .stride = 8};
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  cmd.flags = SHADOWMM_SEARCH_LINEAR | SHADOWMM_ACCESS_WRITE;
  EXPECT_EQ(s.exec(cmd), -EINVAL);
  EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT), 0u);
  // A search of fresh pages reads zeroes: key 0 is there, each probed page
  // faulted in by a read.
  shadowmm_cmd out{};
  ASSERT_EQ(Search(s, kBase, 2 * kPage, 8, 0, true, &out), 0);
  EXPECT_EQ(out.out_faults, 1u);
  // Beyond the VMA: -EFAULT; into PROT_NONE: -EFAULT.
  EXPECT_EQ(Search(s, kBase, 4 * kPage, 8, 1, true), -EFAULT);
  ASSERT_EQ(s.protect(kBase, 2 * kPage, kNone), 0);
  EXPECT_EQ(Search(s, kBase, 2 * kPage, 8, 0, false), -EFAULT);
  EXPECT_EQ(s.validate(), "");
}

// Every allocation of a COPY or SEARCH (bounce buffer, tables, pages)
// failing in turn: -ENOMEM, nothing leaked (the fixture checks), and the
// space still consistent; then the same command succeeds.
TEST_F(CopySearch, FailNth) {
  for (bool linear : {false, true}) {
    for (long nth = 1; nth < 64; nth++) {
      Space s;
      ASSERT_EQ(s.map(kBase, 2 * kPage, kRW), 0);
      ASSERT_EQ(s.map(kDst + kTableSpan, 2 * kPage, kRW), 0);
      ASSERT_EQ(s.fault(kBase, true, 5), 0);
      smm_shim_fail_nth(nth);
      int ret = Copy(s, kDst + kTableSpan, kBase, 2 * kPage);
      // Linear looks for the 5 in front; bisection for a 0 behind it.
      const uint64_t key = linear ? 5 : 0;
      if (ret == 0) ret = Search(s, kDst + kTableSpan, 2 * kPage, 8, key, linear);
      const bool reached = smm_shim_fail_nth_pending() <= 0;
      smm_shim_fail_nth(0);
      if (!reached) {
        EXPECT_EQ(ret, 0);
        break;
      }
      EXPECT_EQ(ret, -ENOMEM) << "nth " << nth;
      EXPECT_EQ(s.validate(), "");
      ASSERT_EQ(Copy(s, kDst + kTableSpan, kBase, 2 * kPage), 0);
      shadowmm_cmd out{};
      ASSERT_EQ(Search(s, kDst + kTableSpan, 2 * kPage, 8, key, linear, &out), 0);
      if (linear) {
        EXPECT_EQ(out.out_value, 0u);
      }
    }
  }
}

// Copies between pages that other threads zap and re-protect: every COPY
// ends (0 or -EFAULT while read-only), no page is used after it is freed
// (ASan), and the space stays consistent, in every mode.
TEST_F(CopySearch, CopiesRaceZapsAndProtects) {
  for (unsigned mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    SCOPED_TRACE(mode_name(mode));
    Space s(mode);
    ASSERT_EQ(s.map(kBase, 8 * kPage, kRW), 0);
    ASSERT_EQ(s.map(kDst, 8 * kPage, kRW), 0);
    std::atomic<long> copies{0}, bad{0};
    {
      Workers w;
      for (int t = 0; t < 2; t++) {
        w.spawn([&, t] {
          while (!w.stopping()) {
            int ret = t ? Copy(s, kDst, kBase, 8 * kPage) : Copy(s, kBase, kDst, 8 * kPage);
            if (ret != 0 && ret != -EFAULT) bad++;
            ret = Search(s, kDst, 8 * kPage, 8, 0, t);
            if (ret != 0 && ret != -ENOENT && ret != -EFAULT) bad++;
            copies++;
          }
        });
      }
      w.spawn([&] {
        while (!w.stopping()) {
          s.zap(kBase, 8 * kPage);
          s.protect(kDst, 4 * kPage, kRO);
          s.zap(kDst, 8 * kPage);
          s.protect(kDst, 4 * kPage, kRW);
        }
      });
      const auto until =
          std::chrono::steady_clock::now() + std::chrono::milliseconds(stress_ms(300));
      while (std::chrono::steady_clock::now() < until && copies < 2000)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(copies.load(), 0);
    EXPECT_EQ(s.validate(), "");
  }
}

}  // namespace
}  // namespace smm_test
