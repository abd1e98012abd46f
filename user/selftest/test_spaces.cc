// SPDX-License-Identifier: GPL-2.0
//
// Spaces as processes see them: several at once, one shared by threads or
// across fork(), checked when closed, and nothing left once all are gone.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;
constexpr unsigned kThreads = 4;

std::optional<GlobalStats> baseline;

void TwoSpaces() {
  Space a, b;
  ASSERT_OK(a.SetMode(SHADOWMM_MODE_CLASSIC));
  ASSERT_OK(b.SetMode(SHADOWMM_MODE_SPF));
  ASSERT_OK(a.MapFixed(kBase, 2 * P));
  EXPECT_ERR(b.Load(kBase, nullptr), EFAULT);
  ASSERT_OK(b.MapFixed(kBase, 2 * P));  // the same range, elsewhere
  ASSERT_OK(a.Store(kBase, 1));
  ASSERT_OK(b.Store(kBase, 2));
  uint64_t v = 0;
  ASSERT_OK(a.Load(kBase, &v));
  EXPECT_EQ(v, 1u);
  ASSERT_OK(b.Load(kBase, &v));
  EXPECT_EQ(v, 2u);
  ASSERT_OK(b.Unmap(kBase, 2 * P));
  ASSERT_OK(a.Load(kBase, &v));
  EXPECT_EQ(v, 1u);
  const shadowmm_stats sa = a.Stats(), sb = b.Stats();
  EXPECT_EQ(sa.mode, uint64_t{SHADOWMM_MODE_CLASSIC});
  EXPECT_EQ(sb.mode, uint64_t{SHADOWMM_MODE_SPF});
  EXPECT_EQ(sa.pages_live, 1u);
  EXPECT_EQ(sb.pages_live, 0u);
  EXPECT_EQ(Counter(sa, SHADOWMM_EV_FAULT), 1u);
  EXPECT_EQ(Counter(sb, SHADOWMM_EV_FAULT), 2u);
  EXPECT_GE(ReadGlobalStats()["mms_live"], 2u);
}

// Threads share the space as they would share an mm: each faults its own
// pages of one VMA, so every page faults exactly once whatever the path.
void ThreadsDistinctPages() {
  constexpr uint64_t kPer = 64;
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space s;
    ASSERT_OK(s.SetMode(mode));
    ASSERT_OK(s.MapFixed(kBase, kThreads * kPer * P));
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; t++) {
      threads.emplace_back([&s, t] {
        for (uint64_t i = 0; i < kPer; i++) {
          // Interleaved, so neighbouring pages belong to different threads.
          const uint64_t addr = kBase + (i * kThreads + t) * P;
          EXPECT_OK(s.Store(addr, (uint64_t{t} << 32) | i));
        }
        for (uint64_t i = 0; i < kPer; i++) {
          uint64_t v = 0;
          EXPECT_OK(s.Load(kBase + (i * kThreads + t) * P, &v));
          EXPECT_EQ(v, (uint64_t{t} << 32) | i);
        }
      });
    }
    for (auto& th : threads) th.join();
    const shadowmm_stats st = s.Stats();
    EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT), kThreads * kPer);
    EXPECT_EQ(Counter(st, SHADOWMM_EV_ACCESS), 2 * kThreads * kPer);
    // A speculative fault that gives up frees the page it allocated.
    EXPECT_GE(Counter(st, SHADOWMM_EV_PAGE_ALLOC), kThreads * kPer);
    EXPECT_EQ(st.pages_live, kThreads * kPer);
    EXPECT_EQ(st.tables_live, TablesCovering(s.Info(), kBase, kThreads * kPer * P));
  }
}

void ThreadsOnePage() {
  constexpr uint64_t kStores = 200;
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space s;
    ASSERT_OK(s.SetMode(mode));
    ASSERT_OK(s.MapFixed(kBase, P));
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < kThreads; t++) {
      threads.emplace_back([&, t] {
        while (!go) std::this_thread::yield();
        for (uint64_t i = 0; i < kStores; i++) EXPECT_OK(s.Store(kBase + 8 * t, i + 1));
      });
    }
    go = true;
    for (auto& th : threads) th.join();
    const shadowmm_stats st = s.Stats();
    EXPECT_EQ(st.pages_live, 1u);
    EXPECT_GE(Counter(st, SHADOWMM_EV_FAULT), 1u);
    EXPECT_LE(Counter(st, SHADOWMM_EV_FAULT), uint64_t{kThreads});
    for (unsigned t = 0; t < kThreads; t++) {
      uint64_t v = 0;
      EXPECT_OK(s.Load(kBase + 8 * t, &v));
      EXPECT_EQ(v, kStores);
    }
  }
}

// Runs @fn in a child, which exits with fn's result.  With a pipe, the
// child first waits until the parent has closed the pipe's write end.
template <typename Fn>
pid_t InChild(Fn fn, const int* pipefd = nullptr) {
  pid_t pid = fork();
  if (pid < 0) SMM_FAIL(true, "fork failed");
  if (pid == 0) {
    if (pipefd) {
      char c;
      close(pipefd[1]);
      while (read(pipefd[0], &c, 1) > 0) {
      }
    }
    _exit(fn());
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ForkShares() {
  const uint64_t live = ReadGlobalStats()["mms_live"];
  Space s;
  ASSERT_OK(s.SetMode(SHADOWMM_MODE_VMALOCK));
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  pid_t pid = InChild([&s] { return s.Store(kBase, 0xc0ffee); });
  EXPECT_EQ(Wait(pid), 0);
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase, &v));
  EXPECT_EQ(v, 0xc0ffeeu);
  // The parent closes first: the child's descriptor keeps the space.
  int pipefd[2];
  ASSERT_TRUE(pipe(pipefd) == 0);
  pid = InChild(
      [&s] {
        uint64_t x = 0;
        if (s.Load(kBase, &x) || x != 0xc0ffee) return 1;
        if (s.Store(kBase + P, 7) || s.Load(kBase + P, &x) || x != 7) return 2;
        return 0;
      },
      pipefd);
  close(pipefd[0]);
  s.Close();
  EXPECT_EQ(ReadGlobalStats()["mms_live"], live + 1);
  close(pipefd[1]);
  EXPECT_EQ(Wait(pid), 0);
  EXPECT_EQ(ReadGlobalStats()["mms_live"], live);
}

void ValidateOnRelease() {
  SettingGuard on(ParamFile("validate_on_release"), "Y");
  const GlobalStats before = ReadGlobalStats();
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space s;
    ASSERT_OK(s.SetMode(mode));
    for (uint64_t i = 0; i < 8; i++) {
      ASSERT_OK(s.MapFixed(kBase + i * 64 * P, 32 * P));
      ASSERT_OK(s.Touch(kBase + i * 64 * P, 32 * P, 4 * P, true, mode));
    }
    ASSERT_OK(s.Protect(kBase + 8 * P, 8 * P, kRO));  // split in three
    ASSERT_OK(s.Unmap(kBase + 68 * P, 4 * P));        // a hole
    ASSERT_OK(s.Zap(kBase + 128 * P, 16 * P));
    ASSERT_OK(s.Protect(kBase, 32 * P, kRW));      // merged again
    ASSERT_OK(s.Unmap(kBase + 192 * P, 128 * P));  // two VMAs gone
    ASSERT_OK(s.Touch(kBase + 128 * P, 32 * P, P, false));
    EXPECT_ERR(s.Touch(kBase, 512 * P, P, true, 1), EFAULT);  // stops at the hole
  }
  const GlobalStats after = ReadGlobalStats();
  EXPECT_EQ(after["validate_runs"], before["validate_runs"] + SHADOWMM_NR_MODES);
  EXPECT_EQ(after["validate_failed"], 0u);
}

void NothingLeft() {
  if (!baseline) SKIP("no baseline");
  const GlobalStats now = ReadGlobalStats();
  for (const char* gauge : {"mms_live", "vmas_live", "tables_live", "pages_live"})
    if (now[gauge] != (*baseline)[gauge])
      SMM_FAIL(false, std::string(gauge) + " is " + Show(now[gauge]) + ", was " +
                          Show((*baseline)[gauge]) + " before the tests");
  EXPECT_EQ(now["mm_create"] - (*baseline)["mm_create"],
            now["mm_destroy"] - (*baseline)["mm_destroy"]);
  EXPECT_EQ(now["validate_failed"], 0u);
  Tap::Diag("spaces created by the tests: " +
            std::to_string(now["mm_create"] - (*baseline)["mm_create"]) +
            ", faults: " + std::to_string(now["fault"] - (*baseline)["fault"]));
}

}  // namespace

void CaptureBaseline() {
  try {
    baseline = ReadGlobalStats();
  } catch (const TestAbort&) {
  }
}

void AddSpaceTests(Tap& tap) {
  tap.Add("spaces: two open spaces are independent", TwoSpaces);
  tap.Add("threads: 4 threads on one fd fault their own pages, every mode", ThreadsDistinctPages);
  tap.Add("threads: 4 threads on one fd store to one page, every mode", ThreadsOnePage);
  tap.Add("fork: the child shares the space; it lives while a fd does", ForkShares);
  tap.Add("validate_on_release: closing checks each space's consistency", ValidateOnRelease);
}

void AddCleanupTests(Tap& tap) {
  tap.Add("cleanup: global gauges back to where they were; no leaks", NothingLeft);
}

}  // namespace shadowmm::selftest
