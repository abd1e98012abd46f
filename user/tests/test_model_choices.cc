// SPDX-License-Identifier: GPL-2.0
// The modelling choices of SET_MODEL (enum shadowmm_model_choice): each
// as Linux makes it by default, and each departure switchable, so that
// a bench can measure it.  unmap_write: whether UNMAP downgrades the
// mmap lock after detaching its VMAs (kmod/core/vma.c); tlb_waiters_stay:
// whether a thread that waits for the mmap lock leaves the space's CPU
// mask first (kmod/core/mm.c).
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
constexpr uint64_t kUnmapWrite = uint64_t{1} << SHADOWMM_MODEL_UNMAP_WRITE;
constexpr uint64_t kWaitersStay = uint64_t{1} << SHADOWMM_MODEL_TLB_WAITERS_STAY;

int SetModel(const Space& s, uint64_t mask, uint64_t flags = 0) {
  shadowmm_cmd cmd{.op = SHADOWMM_OP_SET_MODEL, .flags = flags, .value = mask};
  return s.exec(cmd);
}

TEST(ModelChoices, DefaultErrorsAndFork) {
  Space s;
  EXPECT_EQ(s.info().model, 0u) << "every choice as Linux makes it";
  EXPECT_EQ(SetModel(s, SHADOWMM_MODEL_ALL + 1), -EINVAL);
  EXPECT_EQ(SetModel(s, ~0ULL), -EINVAL);
  EXPECT_EQ(SetModel(s, kUnmapWrite, 1), -EINVAL);
  EXPECT_EQ(s.info().model, 0u) << "refused: unchanged";
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  EXPECT_EQ(SetModel(s, SHADOWMM_MODEL_ALL), 0) << "any time, VMAs or not";
  EXPECT_EQ(s.info().model, SHADOWMM_MODEL_ALL);
  auto child = s.fork();
  ASSERT_TRUE(child);
  EXPECT_EQ(child->info().model, SHADOWMM_MODEL_ALL);
  EXPECT_EQ(SetModel(s, 0), 0);
  EXPECT_EQ(s.info().model, 0u);
}

// Keeps an unmap of @a in its TLB shootdown, holding the mmap lock as
// its model says: a thread that cached @a holds its "CPU" with
// interrupts off until release() (the shootdown waits for it).
class StuckUnmap {
 public:
  StuckUnmap(const Space& s, uint64_t a) : s_(s) {
    cpu_ = std::thread([this, a] {
      uint64_t v = 0;
      EXPECT_EQ(s_.fault(a, true, 1), 0);
      EXPECT_EQ(s_.fault(a, false, 0, &v), 0);  // cached in this thread's TLB
      const unsigned long flags = smm_host_irq_save();
      holding_ = true;
      while (!release_) std::this_thread::yield();
      smm_host_irq_restore(flags);
    });
    while (!holding_) std::this_thread::yield();
    const uint64_t unmaps = s.counter(SHADOWMM_EV_OP_UNMAP);
    unmapper_ = std::thread([this, a] {
      EXPECT_EQ(s_.unmap(a, kPage), 0);
      unmapped_ = true;
    });
    // Counted once the VMA is detached, just before the zap.
    while (s.counter(SHADOWMM_EV_OP_UNMAP) == unmaps) std::this_thread::yield();
  }
  ~StuckUnmap() { Release(); }
  bool unmapped() const { return unmapped_; }
  void Release() {
    release_ = true;
    if (cpu_.joinable()) cpu_.join();
    if (unmapper_.joinable()) unmapper_.join();
  }

 private:
  const Space& s_;
  std::atomic<bool> holding_{false}, release_{false}, unmapped_{false};
  std::thread cpu_, unmapper_;
};

// Polls @done for up to 20 s; its last answer.
template <typename Done>
bool WaitUntil(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return done();
}

class UnmapWrite : public CoreTest, public ::testing::WithParamInterface<uint64_t> {};

// A classic fault on another VMA, while the unmap is stuck in its
// shootdown: with the downgrade it completes before the unmap does;
// with unmap_write it cannot until the unmap ends.
TEST_P(UnmapWrite, AFaultElsewhereWaitsOnlyForTheTreeUpdate) {
  const bool downgrade = !(GetParam() & kUnmapWrite);
  Space s(SHADOWMM_MODE_CLASSIC);
  ASSERT_EQ(s.set_tlb_policy(SHADOWMM_TLB_RCU), 0);
  ASSERT_EQ(SetModel(s, GetParam()), 0);
  const uint64_t a = kBase, b = kBase + 64 * kPage;  // a gap: two VMAs
  ASSERT_EQ(s.map(a, kPage, kRW), 0);
  ASSERT_EQ(s.map(b, 4 * kPage, kRW), 0);
  std::atomic<bool> faulted{false};
  {
    StuckUnmap stuck(s, a);
    std::thread faulter([&] {
      EXPECT_EQ(s.fault(b + kPage, true, 2), 0);
      faulted = true;
    });
    if (downgrade) {
      EXPECT_TRUE(WaitUntil([&] { return faulted.load(); }))
          << "the fault waited for the unmap's shootdown";
    } else {
      // Nothing lets the fault in while the write lock is held.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      EXPECT_FALSE(faulted) << "the fault ran while the unmap held the write lock";
    }
    EXPECT_FALSE(stuck.unmapped()) << "the shootdown did not wait for the CPU";
    stuck.Release();
    faulter.join();
    EXPECT_TRUE(stuck.unmapped() && faulted);
  }
  EXPECT_EQ(s.fault(a, false), -EFAULT);
  uint64_t v = 0;
  EXPECT_EQ(s.fault(b + kPage, false, 0, &v), 0);
  EXPECT_EQ(v, 2u);
}

INSTANTIATE_TEST_SUITE_P(Choices, UnmapWrite, ::testing::Values(0, kUnmapWrite),
                         [](const auto& info) {
                           return std::string(info.param ? "unmap_write" : "downgrade");
                         });

class TlbWaiters : public CoreTest, public ::testing::WithParamInterface<uint64_t> {};

// A thread that cached a translation and then faults (a reader) while a
// stuck unmap holds the mmap lock for write leaves the space's CPU mask
// before it waits, unless tlb_waiters_stay; one that gets the lock at
// once does not.  Either way its next access finds the right page.
TEST_P(TlbWaiters, AThreadThatWaitsForTheMmapLockLeavesTheMask) {
  const bool stay = GetParam() & kWaitersStay;
  Space s(SHADOWMM_MODE_CLASSIC);
  ASSERT_EQ(s.set_tlb_policy(SHADOWMM_TLB_RCU), 0);
  ASSERT_EQ(SetModel(s, kUnmapWrite | GetParam()), 0);
  const uint64_t a = kBase, b = kBase + 64 * kPage;
  ASSERT_EQ(s.map(a, kPage, kRW), 0);
  ASSERT_EQ(s.map(b, 4 * kPage, kRW), 0);
  std::atomic<bool> cached{false}, go{false}, faulted{false};
  std::thread waiter([&] {
    uint64_t v = 0;
    EXPECT_EQ(s.fault(b, true, 5), 0);
    EXPECT_EQ(s.fault(b, false, 0, &v), 0);  // in the mask, b cached
    cached = true;
    while (!go) std::this_thread::yield();
    EXPECT_EQ(s.fault(b + kPage, true, 6), 0);  // waits for the lock
    EXPECT_EQ(s.fault(b, false, 0, &v), 0);
    EXPECT_EQ(v, 5u);
    faulted = true;
  });
  while (!cached) std::this_thread::yield();
  EXPECT_EQ(s.counter(SHADOWMM_EV_TLB_LEAVE), 0u) << "nobody waited yet";
  {
    StuckUnmap stuck(s, a);
    go = true;
    if (stay) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else {
      WaitUntil([&] { return s.counter(SHADOWMM_EV_TLB_LEAVE) != 0; });
    }
    EXPECT_FALSE(faulted) << "the fault ran while the unmap held the write lock";
    EXPECT_EQ(s.counter(SHADOWMM_EV_TLB_LEAVE), stay ? 0u : 1u);
    stuck.Release();
  }
  waiter.join();
  EXPECT_TRUE(faulted);
  EXPECT_EQ(s.counter(SHADOWMM_EV_TLB_LEAVE), stay ? 0u : 1u);
  EXPECT_EQ(s.counter(SHADOWMM_EV_TLB_STALE), 0u);
}

// A writer that waits behind a writer spins in Linux (the owner runs),
// so it stays in the mask; behind readers (the unmap has downgraded) it
// would sleep, so it leaves.  The waiter maps (a writer).
TEST(TlbWaitingWriter, StaysBehindAWriterLeavesBehindReaders) {
  for (uint64_t model : {kUnmapWrite, uint64_t{0}}) {
    const bool behind_writer = model & kUnmapWrite;
    SCOPED_TRACE(behind_writer ? "behind a writer" : "behind readers");
    Space s(SHADOWMM_MODE_CLASSIC);
    ASSERT_EQ(s.set_tlb_policy(SHADOWMM_TLB_RCU), 0);
    ASSERT_EQ(SetModel(s, model), 0);
    const uint64_t a = kBase, b = kBase + 64 * kPage, c = kBase + 256 * kPage;
    ASSERT_EQ(s.map(a, kPage, kRW), 0);
    ASSERT_EQ(s.map(b, kPage, kRW), 0);
    std::atomic<bool> cached{false}, go{false}, mapped{false};
    std::thread waiter([&] {
      uint64_t v = 0;
      EXPECT_EQ(s.fault(b, true, 5), 0);
      EXPECT_EQ(s.fault(b, false, 0, &v), 0);  // in the mask
      cached = true;
      while (!go) std::this_thread::yield();
      EXPECT_EQ(s.map(c, kPage, kRW), 0);  // waits for the write lock
      mapped = true;
    });
    while (!cached) std::this_thread::yield();
    {
      StuckUnmap stuck(s, a);
      // Counted just before the downgrade: let the unmapper reach its
      // shootdown, or the waiter may still find the write cycle open.
      if (!behind_writer) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      go = true;
      if (behind_writer) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        EXPECT_FALSE(mapped) << "mapped while the unmap held the write lock";
      } else {
        WaitUntil([&] { return s.counter(SHADOWMM_EV_TLB_LEAVE) != 0; });
      }
      EXPECT_EQ(s.counter(SHADOWMM_EV_TLB_LEAVE), behind_writer ? 0u : 1u);
      stuck.Release();
    }
    waiter.join();
    EXPECT_TRUE(mapped);
  }
}

INSTANTIATE_TEST_SUITE_P(Choices, TlbWaiters, ::testing::Values(0, kWaitersStay),
                         [](const auto& info) {
                           return std::string(info.param ? "tlb_waiters_stay" : "leave");
                         });

}  // namespace
}  // namespace smm_test
