// SPDX-License-Identifier: GPL-2.0
//
// How UNMAP holds the mmap lock, through the module: downgrade (as
// Linux's munmap()) by default, write on request, per space at any time,
// inherited by FORK's child; and under each, unmaps beside threads that
// fault in the same space, classic mode, so the debug kernels' lockdep
// sees downgrade_write() with readers waiting.
#include <atomic>
#include <thread>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

int SetUnmapLock(const Space& s, uint64_t how) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_UNMAP_LOCK);
  c.value = how;
  return s.Ioctl(c);
}

void Choice() {
  Space s;
  EXPECT_EQ(s.Info().unmap_lock, uint64_t{SHADOWMM_UNMAP_DOWNGRADE});
  EXPECT_ERR(SetUnmapLock(s, SHADOWMM_NR_UNMAP_LOCKS), EINVAL);
  EXPECT_ERR(SetUnmapLock(s, ~0ULL), EINVAL);
  ASSERT_OK(s.MapFixed(kBase, P));
  ASSERT_OK(SetUnmapLock(s, SHADOWMM_UNMAP_WRITE));
  EXPECT_EQ(s.Info().unmap_lock, uint64_t{SHADOWMM_UNMAP_WRITE});
  int child_fd = -1;
  ASSERT_OK(s.Fork(&child_fd));
  Space child(child_fd);
  EXPECT_EQ(child.Info().unmap_lock, uint64_t{SHADOWMM_UNMAP_WRITE});
}

// One thread maps, stores into and unmaps one page at a time (ebizzy's
// record) while two fault through their own VMAs; every store and load
// must succeed, and the unmapped page must be gone.
void BesideFaults(uint64_t how) {
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_CLASSIC));
  ASSERT_OK(SetUnmapLock(s, how));
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
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_OP_UNMAP), uint64_t{kRecords});
}

}  // namespace

void AddUnmapLockTests(Tap& tap) {
  tap.Add("unmap_lock: downgrade by default, write on request, any time, EINVAL, FORK inherits",
          Choice);
  tap.Add("unmap_lock downgrade: unmaps beside classic faults",
          [] { BesideFaults(SHADOWMM_UNMAP_DOWNGRADE); });
  tap.Add("unmap_lock write: unmaps beside classic faults",
          [] { BesideFaults(SHADOWMM_UNMAP_WRITE); });
}

}  // namespace shadowmm::selftest
