// SPDX-License-Identifier: GPL-2.0
//
// Reclaim and swap through the module: SET_MEMORY, RECLAIM and swap-in
// faults in every mode and swap policy, and bad input.
#include <string>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

uint64_t Pattern(uint64_t page) { return 0x5eed0000ULL + page * 7919; }

int Reclaim(const Space& s, uint64_t pages, uint64_t* got) {
  shadowmm_cmd c{};
  c.op = SHADOWMM_OP_RECLAIM;
  c.value = pages;
  int ret = s.Ioctl(c);
  if (got) *got = c.out_value;
  return ret;
}

// Every page out and back in, contents checked, in each mode and policy.
void RoundTrip() {
  constexpr uint64_t kPages = 64;
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++)
    for (uint64_t policy = 0; policy < SHADOWMM_NR_SWAP_POLICIES; policy++) {
      if (mode != SHADOWMM_MODE_VMALOCK && policy != SHADOWMM_SWAP_DROP_RETRY) continue;
      Space s;
      ASSERT_OK(s.SetMode(mode));
      ASSERT_OK(s.SetSwapPolicy(policy));
      shadowmm_memory mem{};
      mem.swap_slots = 2 * kPages;
      mem.swap_latency_us = 50;
      ASSERT_OK(s.SetMemory(mem));
      ASSERT_OK(s.MapFixed(kBase, kPages * P));
      for (uint64_t i = 0; i < kPages; i++) ASSERT_OK(s.Store(kBase + i * P + 8, Pattern(i)));
      uint64_t got = 0;
      ASSERT_OK(Reclaim(s, 0, &got));
      EXPECT_EQ(got, kPages);
      EXPECT_EQ(s.Stats().pages_live, 0u);
      for (uint64_t i = 0; i < kPages; i++) {
        uint64_t v = 0;
        ASSERT_OK(s.Load(kBase + i * P + 8, &v));
        ASSERT_EQ(v, Pattern(i));
      }
      const shadowmm_stats st = s.Stats();
      EXPECT_EQ(Counter(st, SHADOWMM_EV_PSWPOUT), kPages);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_PSWPIN), kPages);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_PGMAJFAULT), kPages);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_SWAP_SLOT_ALLOC), Counter(st, SHADOWMM_EV_SWAP_SLOT_FREE));
      const shadowmm_info info = s.Info();
      EXPECT_EQ(info.swap_slots, 2 * kPages);
      EXPECT_EQ(info.swap_policy, policy);
    }
}

void BadInput() {
  Space s;
  shadowmm_memory mem{};
  mem.max_pages = 10;
  mem.wmark_high = 5;
  mem.wmark_low = 6;
  EXPECT_ERR(s.SetMemory(mem), EINVAL);
  EXPECT_ERR(s.SetSwapPolicy(SHADOWMM_NR_SWAP_POLICIES), EINVAL);
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.Store(kBase, 1));
  EXPECT_ERR(Reclaim(s, 0, nullptr), ENOSPC);  // no swap
  shadowmm_cmd c{};
  c.op = SHADOWMM_OP_RECLAIM;
  c.addr = kBase + 8;
  c.len = P;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
}

}  // namespace

void AddReclaimTests(Tap& tap) {
  tap.Add("reclaim: every page out and back, each mode and vmalock swap policy", RoundTrip);
  tap.Add("reclaim: bad SET_MEMORY, SET_SWAP_POLICY and RECLAIM fail cleanly", BadInput);
}

}  // namespace shadowmm::selftest
