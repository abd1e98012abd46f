// SPDX-License-Identifier: GPL-2.0
//
// COPY and SEARCH through the module: the bytes, the faults they take,
// their counters, every bad input, and both in write() records, where a
// SEARCH that finds nothing stops the batch.
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;
constexpr uint64_t kDst = kBase + 0x1000000;

shadowmm_cmd CopyCmd(uint64_t dst, uint64_t src, uint64_t len) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_COPY, src, len);
  c.value = dst;
  return c;
}

shadowmm_cmd SearchCmd(uint64_t addr, uint64_t len, uint64_t record, uint64_t key, bool linear) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SEARCH, addr, len);
  c.stride = record;
  c.value = key;
  c.flags = linear ? SHADOWMM_SEARCH_LINEAR : 0;
  return c;
}

Space ClassicSpace() {
  Space s;
  if (int err = s.SetMode(SHADOWMM_MODE_CLASSIC)) SMM_FAIL(true, "SET_MODE: " + ErrName(err));
  return s;
}

// ebizzy's pattern: record j holds j.
void Pattern(const Space& s, uint64_t addr, uint64_t records) {
  for (uint64_t j = 0; j < records; j++) ASSERT_OK(s.Store(addr + 8 * j, j));
}

void CopyBytes() {
  Space s = ClassicSpace();
  const uint64_t records = 3 * P / 8;
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.MapFixed(kDst, 4 * P));
  Pattern(s, kBase, records);
  shadowmm_cmd c = CopyCmd(kDst + 8, kBase, records * 8 - 8);
  ASSERT_OK(s.Ioctl(c));
  EXPECT_EQ(c.out_len, records * 8 - 8);
  EXPECT_EQ(c.out_faults, 3u);  // each destination page once
  uint64_t v = 1;
  ASSERT_OK(s.Load(kDst, &v));
  EXPECT_EQ(v, 0u);
  for (uint64_t j : {uint64_t{0}, uint64_t{1}, uint64_t{511}, records - 2}) {
    ASSERT_OK(s.Load(kDst + 8 + 8 * j, &v));
    EXPECT_EQ(v, j);
  }
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_COPY), 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_COPY_BYTES), records * 8 - 8);
}

void CopyErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  ASSERT_OK(s.MapFixed(kDst, P));
  ASSERT_OK(s.Store(kBase + P, 7));
  shadowmm_cmd c = CopyCmd(kDst, kBase, 0);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // empty
  c = CopyCmd(kDst, kBase + 4, 8);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // unaligned
  c = CopyCmd(kBase + 8, kBase, 16);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // overlapping
  c = CopyCmd(kDst, SHADOWMM_TASK_SIZE - 8, 16);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // past the top
  c = CopyCmd(kDst, ~0ULL & ~7ULL, 16);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // wraps
  c = CopyCmd(kDst, kBase, 8);
  c.flags = 1;
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // no flags
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_COPY_BYTES), 0u);
  // The destination ends after one page: one page copied, then EFAULT.
  c = CopyCmd(kDst, kBase, 2 * P);
  EXPECT_ERR(s.Ioctl(c), EFAULT);
  EXPECT_EQ(c.out_len, P);
  // Into read-only memory.
  ASSERT_OK(s.Protect(kDst, P, kRO));
  c = CopyCmd(kDst, kBase + P, 8);
  EXPECT_ERR(s.Ioctl(c), EFAULT);
}

void SearchBoth() {
  Space s = ClassicSpace();
  const uint64_t records = 2 * P / 8 + 1;
  ASSERT_OK(s.MapFixed(kBase, 3 * P));
  Pattern(s, kBase, records);
  for (bool linear : {false, true}) {
    for (uint64_t key : {uint64_t{0}, uint64_t{512}, records - 1}) {
      shadowmm_cmd c = SearchCmd(kBase, records * 8, 8, key, linear);
      ASSERT_OK(s.Ioctl(c));
      EXPECT_EQ(c.out_value, key);
      EXPECT_EQ(c.out_addr, kBase + 8 * key);
    }
    shadowmm_cmd c = SearchCmd(kBase, records * 8, 8, records, linear);
    EXPECT_ERR(s.Ioctl(c), ENOENT);
  }
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_SEARCH), 8u);
  EXPECT_GT(Counter(st, SHADOWMM_EV_SEARCH_COMPARE), 8u);
}

void SearchErrors() {
  Space s = ClassicSpace();
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  shadowmm_cmd c = SearchCmd(kBase, 16, 0, 0, false);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // no record size
  c = SearchCmd(kBase, 16, 12, 0, false);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // not a multiple of 8
  c = SearchCmd(kBase, 24, 16, 0, false);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // not whole records
  c = SearchCmd(kBase + 4, 16, 8, 0, true);
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // unaligned
  c = SearchCmd(kBase, 16, 8, 0, true);
  c.flags |= SHADOWMM_ACCESS_WRITE;
  EXPECT_ERR(s.Ioctl(c), EINVAL);  // unknown flag
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_FAULT), 0u);
  c = SearchCmd(kBase, 4 * P, 8, 1, true);
  EXPECT_ERR(s.Ioctl(c), EFAULT);  // zeroes, then no VMA
  // Two pages faulted in, and the access past the VMA entered the fault
  // handler too (out_faults counts as TOUCH's does).
  EXPECT_EQ(c.out_faults, 3u);
}

// Records: COPY then SEARCH run in order; a SEARCH that finds nothing is
// the record the write stops before.
void Records() {
  Space s = ClassicSpace();
  const uint64_t records = P / 8;
  ASSERT_OK(s.MapFixed(kBase, P));
  ASSERT_OK(s.MapFixed(kDst, P));
  Pattern(s, kBase, records);
  std::vector<shadowmm_cmd> batch = {
      CopyCmd(kDst, kBase, P), SearchCmd(kDst, P, 8, 300, false), SearchCmd(kDst, P, 8, 301, true),
      SearchCmd(kDst, P, 8, records + 1, false), SearchCmd(kDst, P, 8, 0, true)};
  const ssize_t bytes = static_cast<ssize_t>(batch.size() * sizeof(shadowmm_cmd));
  ssize_t ret = write(s.fd(), batch.data(), static_cast<size_t>(bytes));
  EXPECT_EQ(ret, static_cast<ssize_t>(3 * sizeof(shadowmm_cmd)));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_COPY_BYTES), P);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_SEARCH), 3u);
  ret = write(s.fd(), &batch[3], sizeof(shadowmm_cmd));
  EXPECT_EQ(ret, -1);
  EXPECT_EQ(errno, ENOENT);
}

}  // namespace

void AddCopySearchTests(Tap& tap) {
  tap.Add("copy: the bytes arrive, each destination page faults once", CopyBytes);
  tap.Add("copy: bad input EINVAL; EFAULT where an access would fail", CopyErrors);
  tap.Add("search: binary and linear find every key; a miss is ENOENT", SearchBoth);
  tap.Add("search: bad input EINVAL; EFAULT past the VMA", SearchErrors);
  tap.Add("copy, search: in write() records, a miss stops the batch", Records);
}

}  // namespace shadowmm::selftest
