// SPDX-License-Identifier: GPL-2.0
//
// The modelling choices through the module (SET_MODEL): each as Linux
// makes it by default, a mask of departures on request, per space at any
// time, inherited by FORK's child; and under every mask, unmaps beside
// threads that fault in the same space (classic mode: they wait for the
// mmap lock), so the debug kernels' lockdep and KASAN see
// downgrade_write() with readers waiting, and waiters leaving the TLB
// mask.
#include <atomic>
#include <thread>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

int SetModel(const Space& s, uint64_t mask) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_MODEL);
  c.value = mask;
  return s.Ioctl(c);
}

void Choices() {
  Space s;
  EXPECT_EQ(s.Info().model, uint64_t{0});
  EXPECT_ERR(SetModel(s, SHADOWMM_MODEL_ALL + 1), EINVAL);
  EXPECT_ERR(SetModel(s, ~0ULL), EINVAL);
  ASSERT_OK(s.MapFixed(kBase, P));
  ASSERT_OK(SetModel(s, SHADOWMM_MODEL_ALL));
  EXPECT_EQ(s.Info().model, uint64_t{SHADOWMM_MODEL_ALL});
  int child_fd = -1;
  ASSERT_OK(s.Fork(&child_fd));
  Space child(child_fd);
  EXPECT_EQ(child.Info().model, uint64_t{SHADOWMM_MODEL_ALL});
}

// One thread maps, stores into and unmaps one page at a time (ebizzy's
// record) while two fault through their own VMAs; every store and load
// must succeed, and the unmapped page must be gone.
void BesideFaults(uint64_t mask) {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_CLASSIC));
  ASSERT_OK(SetModel(s, mask));
  constexpr unsigned kFaulters = 2, kPages = 256, kRecords = 400;
  const uint64_t record = kBase + 4096 * P;
  for (unsigned t = 0; t < kFaulters; t++) ASSERT_OK(s.MapFixed(kBase + t * 1024 * P, kPages * P));
  std::atomic<bool> stop{false};
  std::atomic<unsigned> errors{0};
  std::vector<std::thread> faulters;
  for (unsigned t = 0; t < kFaulters; t++)
    faulters.emplace_back([&, t] {
      const uint64_t base = kBase + t * 1024 * P;
      for (unsigned round = 0; !stop; round++) {
        for (unsigned i = 0; i < kPages && !stop; i++)
          if (s.Store(base + i * P, round + 1)) errors++;
        if (s.Zap(base, kPages * P)) errors++;
      }
    });
  for (unsigned r = 0; r < kRecords; r++) {
    uint64_t v = 0;
    if (s.MapFixed(record, P) || s.Store(record, r + 1) || s.Load(record, &v) || v != r + 1 ||
        s.Unmap(record, P))
      errors++;
  }
  stop = true;
  for (auto& t : faulters) t.join();
  EXPECT_EQ(errors.load(), 0u);
  uint64_t v = 0;
  EXPECT_ERR(s.Load(record, &v), EFAULT);
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_OP_UNMAP), uint64_t{kRecords});
  if (mask & (uint64_t{1} << SHADOWMM_MODEL_TLB_WAITERS_STAY))
    EXPECT_EQ(Counter(st, SHADOWMM_EV_TLB_LEAVE), uint64_t{0});
}

}  // namespace

void AddModelChoiceTests(Tap& tap) {
  tap.Add(
      "model: every choice as Linux by default, a mask on request, any time, EINVAL, FORK "
      "inherits",
      Choices);
  tap.Add("model as Linux: unmaps (downgrading) beside classic faults", [] { BesideFaults(0); });
  tap.Add("model unmap_write: unmaps beside classic faults",
          [] { BesideFaults(uint64_t{1} << SHADOWMM_MODEL_UNMAP_WRITE); });
  tap.Add("model tlb_waiters_stay: unmaps beside classic faults, nobody leaves the TLB mask",
          [] { BesideFaults(uint64_t{1} << SHADOWMM_MODEL_TLB_WAITERS_STAY); });
}

}  // namespace shadowmm::selftest
