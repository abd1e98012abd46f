// SPDX-License-Identifier: GPL-2.0
// How UNMAP holds the mmap lock (SET_UNMAP_LOCK, kmod/core/vma.c): with
// downgrade, as Linux's munmap(), only the VMA tree update excludes the
// faults that take the lock; the zap, the page-table frees and the TLB
// shootdown run under the read lock beside them.  With write the unmap
// holds the write lock to the end.
#include <chrono>
#include <thread>

#include "smm_test.h"

extern "C" {
unsigned long smm_host_irq_save(void);
void smm_host_irq_restore(unsigned long flags);
}

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x60000000;

TEST(UnmapLockChoice, DefaultErrorsAndFork) {
  Space s;
  EXPECT_EQ(s.info().unmap_lock, uint64_t{SHADOWMM_UNMAP_DOWNGRADE});
  shadowmm_cmd bad{.op = SHADOWMM_OP_SET_UNMAP_LOCK, .value = SHADOWMM_NR_UNMAP_LOCKS};
  EXPECT_EQ(s.exec(bad), -EINVAL);
  shadowmm_cmd flags{.op = SHADOWMM_OP_SET_UNMAP_LOCK, .flags = 1};
  EXPECT_EQ(s.exec(flags), -EINVAL);
  EXPECT_EQ(s.info().unmap_lock, uint64_t{SHADOWMM_UNMAP_DOWNGRADE}) << "refused: unchanged";
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  shadowmm_cmd hold{.op = SHADOWMM_OP_SET_UNMAP_LOCK, .value = SHADOWMM_UNMAP_WRITE};
  EXPECT_EQ(s.exec(hold), 0) << "any time, VMAs or not";
  EXPECT_EQ(s.info().unmap_lock, uint64_t{SHADOWMM_UNMAP_WRITE});
  auto child = s.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(child->info().unmap_lock, uint64_t{SHADOWMM_UNMAP_WRITE});
}

class UnmapLock : public CoreTest, public ::testing::WithParamInterface<unsigned> {};

// An unmap kept in its shootdown (a thread that cached the range holds
// its "CPU" with interrupts off) while another thread takes a classic
// fault on another VMA: with downgrade the fault completes before the
// unmap does, with write it cannot until the unmap ends.  Either way
// the range is gone afterwards and nothing leaks (the fixture).
TEST_P(UnmapLock, AFaultElsewhereWaitsOnlyForTheTreeUpdate) {
  const bool downgrade = GetParam() == SHADOWMM_UNMAP_DOWNGRADE;
  Space s(SHADOWMM_MODE_CLASSIC);
  ASSERT_EQ(s.set_tlb_policy(SHADOWMM_TLB_RCU), 0);
  shadowmm_cmd how{.op = SHADOWMM_OP_SET_UNMAP_LOCK, .value = GetParam()};
  ASSERT_EQ(s.exec(how), 0);
  const uint64_t a = kBase, b = kBase + 64 * kPage;  // a gap: two VMAs
  ASSERT_EQ(s.map(a, kPage, kRW), 0);
  ASSERT_EQ(s.map(b, 4 * kPage, kRW), 0);

  std::atomic<bool> holding{false}, release{false}, unmapped{false}, faulted{false};
  std::thread cpu([&] {
    uint64_t v = 0;
    EXPECT_EQ(s.fault(a, true, 1), 0);
    EXPECT_EQ(s.fault(a, false, 0, &v), 0);  // cached in this thread's TLB
    unsigned long flags = smm_host_irq_save();
    holding = true;
    while (!release) std::this_thread::yield();
    smm_host_irq_restore(flags);
  });
  while (!holding) std::this_thread::yield();
  const uint64_t unmaps = s.counter(SHADOWMM_EV_OP_UNMAP);
  std::thread unmapper([&] {
    EXPECT_EQ(s.unmap(a, kPage), 0);
    unmapped = true;
  });
  // Counted once the VMA is detached, just before the zap.
  while (s.counter(SHADOWMM_EV_OP_UNMAP) == unmaps) std::this_thread::yield();
  std::thread faulter([&] {
    EXPECT_EQ(s.fault(b + kPage, true, 2), 0);
    faulted = true;
  });
  if (downgrade) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!faulted && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    EXPECT_TRUE(faulted) << "the fault waited for the unmap's shootdown";
  } else {
    // Nothing can let the fault in while the write lock is held.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(faulted) << "the fault ran while the unmap held the write lock";
  }
  EXPECT_FALSE(unmapped) << "the shootdown did not wait for the CPU";
  release = true;
  cpu.join();
  unmapper.join();
  faulter.join();
  EXPECT_TRUE(unmapped && faulted);
  EXPECT_EQ(s.fault(a, false), -EFAULT);
  uint64_t v = 0;
  EXPECT_EQ(s.fault(b + kPage, false, 0, &v), 0);
  EXPECT_EQ(v, 2u);
}

INSTANTIATE_TEST_SUITE_P(Choices, UnmapLock,
                         ::testing::Values(SHADOWMM_UNMAP_DOWNGRADE, SHADOWMM_UNMAP_WRITE),
                         [](const auto& info) {
                           return std::string(info.param == SHADOWMM_UNMAP_DOWNGRADE ? "downgrade"
                                                                                     : "write");
                         });

}  // namespace
}  // namespace smm_test
