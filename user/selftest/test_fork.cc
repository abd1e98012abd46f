// SPDX-License-Identifier: GPL-2.0
//
// FORK through the module: the child is a new descriptor (close-on-exec,
// read-write) with the parent's memory shared copy-on-write; bad uses of
// FORK fail cleanly; and writers racing forks give every child a
// consistent snapshot, unless bugs.fork_no_vma_lock puts the 6.4 bug back,
// which the same check must then catch (on the debug kernel, with lockdep
// and KASAN watching the fork's nested locks).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "smm_api.h"  // enum smm_race_window, for the inject mask
}

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

uint64_t Pattern(uint64_t page) { return 0xf0c0000ULL + page * 104729; }

// The child reads the parent's memory; writes on either side copy.
void ForkCopiesOnWrite() {
  constexpr uint64_t kPages = 16;
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space parent;
    ASSERT_OK(parent.SetMode(mode));
    ASSERT_OK(parent.MapFixed(kBase, kPages * P));
    for (uint64_t i = 0; i < kPages; i++) ASSERT_OK(parent.Store(kBase + i * P, Pattern(i)));
    int fd = -1;
    ASSERT_OK(parent.Fork(&fd));
    Space child(fd);
    EXPECT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    EXPECT_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDWR);
    EXPECT_EQ(child.Stats().mode, mode);
    for (uint64_t i = 0; i < kPages; i++) {
      uint64_t v = 0, faults = 9;
      ASSERT_OK(child.Fault(kBase + i * P, false, 0, &v, &faults));
      EXPECT_EQ(v, Pattern(i));
      EXPECT_EQ(faults, 0u);
    }
    ASSERT_OK(child.Store(kBase, 1));
    ASSERT_OK(parent.Store(kBase + P, 2));
    uint64_t v = 0;
    ASSERT_OK(parent.Load(kBase, &v));
    EXPECT_EQ(v, Pattern(0));
    ASSERT_OK(child.Load(kBase + P, &v));
    EXPECT_EQ(v, Pattern(1));
    EXPECT_EQ(Counter(parent.Stats(), SHADOWMM_EV_FORK), 1u);
    EXPECT_EQ(Counter(parent.Stats(), SHADOWMM_EV_COW_COPY), 1u);
    EXPECT_EQ(Counter(child.Stats(), SHADOWMM_EV_COW_COPY), 1u);
    EXPECT_EQ(child.Stats().pages_live, kPages + 2);
    // A grandchild outlives its parent; the first space outlives both.
    int gfd = -1;
    ASSERT_OK(child.Fork(&gfd));
    Space grandchild(gfd);
    child.Close();
    ASSERT_OK(grandchild.Load(kBase, &v));
    EXPECT_EQ(v, 1u);
    grandchild.Close();
    ASSERT_OK(parent.Store(kBase + 2 * P, 3));
    EXPECT_EQ(Counter(parent.Stats(), SHADOWMM_EV_COW_REUSE), 1u);
    EXPECT_EQ(parent.Stats().pages_live, kPages);
  }
}

// FORK is an ioctl of a writable space: not a write() record, not on a
// read-only descriptor; a child's geometry is fixed while it has family.
void ForkBadUses() {
  Space parent;
  shadowmm_cmd rec = Cmd(SHADOWMM_OP_FORK);
  EXPECT_EQ(parent.Submit({rec}), -EINVAL);
  int ro = open(DebugfsFile("ctl").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_TRUE(ro >= 0);
  Space ro_space(ro);
  int fd = -1;
  EXPECT_ERR(ro_space.Fork(&fd), EBADF);
  ASSERT_OK(parent.Fork(&fd));
  Space child(fd);
  EXPECT_ERR(child.SetGeometry(SHADOWMM_GEOM_64K), EBUSY);
  EXPECT_ERR(parent.SetGeometry(SHADOWMM_GEOM_64K), EBUSY);
  child.Close();
  EXPECT_OK(parent.SetGeometry(SHADOWMM_GEOM_4K));
}

struct SnapshotRun {
  uint64_t forks = 0;
  uint64_t rounds = 0;
  std::string broken;
};

// Two writers TOUCH rounds over their pages (one per PTE table, in order)
// while this thread forks; each child must hold a prefix of each writer's
// writes.  The FORK_COPY window widens the time between two tables.
SnapshotRun ForkSnapshots(uint64_t mode, int ms) {
  constexpr int kWriters = 2, kPages = 8;
  const shadowmm_info info = Space().Info();
  const uint64_t table = P << info.pt_bits[SHADOWMM_PT_LEVELS - 1];
  const uint64_t span = kPages * table;
  SnapshotRun r;
  Space parent;
  SMM_CHECK_ERR(true, parent.SetMode(mode), 0);
  for (int w = 0; w < kWriters; w++) {
    SMM_CHECK_ERR(true, parent.MapFixed(kBase + w * span, span), 0);
    SMM_CHECK_ERR(true, parent.Touch(kBase + w * span, span, table, true, 0), 0);
  }
  SettingGuard inject(DebugfsFile("inject"), std::to_string(1UL << SMM_RW_FORK_COPY));
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> rounds{0};
  std::vector<std::jthread> writers;
  for (int w = 0; w < kWriters; w++)
    writers.emplace_back([&, w] {
      for (uint64_t v = 1; !stop.load(std::memory_order_relaxed); v++)
        if (!parent.Touch(kBase + w * span, span, table, true, v)) rounds++;
    });
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end && r.broken.empty()) {
    int fd = -1;
    if (int err = parent.Fork(&fd)) {
      r.broken = "FORK: " + ErrName(err);
      break;
    }
    Space child(fd);
    r.forks++;
    for (int w = 0; w < kWriters && r.broken.empty(); w++) {
      std::vector<uint64_t> seen(kPages, ~0ULL);
      for (int p = 0; p < kPages; p++) child.Load(kBase + w * span + p * table, &seen[p]);
      bool prefix = true;
      for (int p = 1; p < kPages; p++)
        prefix = prefix && seen[p] <= seen[p - 1] && seen[0] - seen[p] <= 1;
      if (!prefix) {
        r.broken = "fork " + std::to_string(r.forks) + ": writer " + std::to_string(w) + " seen as";
        for (uint64_t v : seen) r.broken += " " + std::to_string(v);
      }
    }
  }
  stop = true;
  writers.clear();
  r.rounds = rounds.load();
  return r;
}

void ForkSnapshotsClean() {
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    SnapshotRun r = ForkSnapshots(mode, 400);
    EXPECT_EQ(r.broken, "");
    EXPECT_GT(r.forks, 3u);
    EXPECT_GT(r.rounds, 3u);
  }
}

// The knob must be caught, the way the stress above would catch the bug.
void ForkKnobCaught() {
  SettingGuard bugs(DebugfsFile("bugs"), std::to_string(1UL << SHADOWMM_BUG_FORK_NO_VMA_LOCK));
  SnapshotRun r = ForkSnapshots(SHADOWMM_MODE_VMALOCK, 5000);
  std::printf("# fork_no_vma_lock: %llu forks, %llu writer rounds: %s\n",
              static_cast<unsigned long long>(r.forks), static_cast<unsigned long long>(r.rounds),
              r.broken.empty() ? "not caught" : r.broken.c_str());
  EXPECT_NE(r.broken, "");
}

}  // namespace

void AddForkTests(Tap& tap) {
  tap.Add("fork: the child shares pages copy-on-write, in every mode", ForkCopiesOnWrite);
  tap.Add("fork: not a record, not read-only; a family keeps its geometry", ForkBadUses);
  tap.Add("fork: writers racing forks, each child a consistent snapshot", ForkSnapshotsClean);
  tap.Add("fork: bugs.fork_no_vma_lock (6.4) caught by the snapshot check", ForkKnobCaught);
}

}  // namespace shadowmm::selftest
