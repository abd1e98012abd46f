// SPDX-License-Identifier: GPL-2.0
//
// Every allocation a command makes, failed in turn (fail-nth, the way
// syzkaller finds unchecked allocations): the command returns 0 or ENOMEM,
// a failed one changes nothing, the space stays consistent
// (validate_on_release), and once every space is closed nothing is left.
// Needs CONFIG_FAULT_INJECTION with FAILSLAB and FAIL_PAGE_ALLOC (the
// debug kernel); skipped elsewhere.
//
// open() itself is not failed: a failed percpu page allocation in
// smm_mm_create() makes pcpu_alloc() dump a stack, which the VM runner
// rightly counts as a splat.  The userspace fail-Nth tests cover that
// path of the core.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;
constexpr size_t R = sizeof(shadowmm_cmd);

uint64_t touch_faults;  // out_faults of the TOUCH op, for its check

class FailNth {
 public:
  FailNth() : fd_(open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC)) {}
  ~FailNth() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  void Arm(unsigned n) const {
    const std::string s = std::to_string(n);
    if (pwrite(fd_, s.data(), s.size(), 0) != static_cast<ssize_t>(s.size()))
      SMM_FAIL(true, "cannot write fail-nth");
  }
  // Disarms; true if the armed failure was injected.
  bool Disarm() const {
    char buf[32] = {};
    const ssize_t n = pread(fd_, buf, sizeof(buf) - 1, 0);
    if (pwrite(fd_, "0", 1, 0) != 1 || n <= 0) SMM_FAIL(true, "cannot use fail-nth");
    return std::strtoul(buf, nullptr, 10) == 0;
  }

 private:
  int fd_;
};

struct Op {
  const char* name;
  std::function<void(Space&)> setup;
  // Returns 0 or an errno value; runs with the failure armed.
  std::function<int(Space&)> run;
  // Checks the state after run() returned @err.
  std::function<void(Space&, int)> check;
};

std::vector<Op> Ops() {
  auto none = [](Space&) {};
  auto map8 = [](Space& s) {
    ASSERT_OK(s.MapFixed(kBase, 8 * P));
    ASSERT_OK(s.Touch(kBase, 8 * P, P, true, 5));
  };
  return {
      {"MAP fixed", none, [](Space& s) { return s.MapFixed(kBase, 4 * P); },
       [](Space& s, int err) { EXPECT_EQ(s.Stats().vmas_live, err ? 0u : 1u); }},
      {"MAP", none, [](Space& s) { return s.Map(0, 4 * P, kRW, 0); },
       [](Space& s, int err) { EXPECT_EQ(s.Stats().vmas_live, err ? 0u : 1u); }},
      {"UNMAP punching a hole", map8, [](Space& s) { return s.Unmap(kBase + 2 * P, 2 * P); },
       [](Space& s, int err) {
         const shadowmm_stats st = s.Stats();
         EXPECT_EQ(st.vmas_live, err ? 1u : 2u);
         EXPECT_EQ(st.pages_live, err ? 8u : 6u);
       }},
      {"PROTECT splitting", map8, [](Space& s) { return s.Protect(kBase + 2 * P, 2 * P, kRO); },
       [](Space& s, int err) {
         EXPECT_EQ(s.Stats().vmas_live, err ? 1u : 3u);
         EXPECT_ERR(s.Store(kBase + 2 * P, 1), err ? 0 : EFAULT);
       }},
      {"PROTECT merging",
       [](Space& s) {
         ASSERT_OK(s.MapFixed(kBase, 8 * P));
         ASSERT_OK(s.Protect(kBase + 2 * P, 2 * P, kRO));
       },
       [](Space& s) { return s.Protect(kBase, 8 * P, kRW); },
       [](Space& s, int err) { EXPECT_EQ(s.Stats().vmas_live, err ? 3u : 1u); }},
      {"ZAP", map8, [](Space& s) { return s.Zap(kBase, 8 * P); },
       [](Space& s, int err) { EXPECT_EQ(s.Stats().pages_live, err ? 8u : 0u); }},
      {"FAULT", [](Space& s) { ASSERT_OK(s.MapFixed(kBase, P)); },
       [](Space& s) { return s.Store(kBase, 3); },
       [](Space& s, int err) {
         EXPECT_EQ(s.Stats().pages_live, err ? 0u : 1u);
         uint64_t v = 0;
         EXPECT_OK(s.Load(kBase, &v));
         EXPECT_EQ(v, err ? 0u : 3u);
       }},
      {"TOUCH", [](Space& s) { ASSERT_OK(s.MapFixed(kBase, 8 * P)); },
       [](Space& s) { return s.Touch(kBase, 8 * P, P, true, 1, &touch_faults); },
       [](Space& s, int err) {
         // The access that failed entered the fault handler, got no page.
         EXPECT_EQ(s.Stats().pages_live, err ? touch_faults - 1 : 8u);
       }},
      {"GET_STATS", none,
       [](Space& s) {
         shadowmm_stats st{};
         shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_STATS);
         c.ptr = reinterpret_cast<uintptr_t>(&st);
         c.len = sizeof(st);
         return s.Ioctl(c);
       },
       [](Space&, int) {}},
      {"write() batch", none,
       [](Space& s) {
         static const std::vector<shadowmm_cmd> recs = {
             MapCmd(kBase, 8 * P, kRW), TouchCmd(kBase, 8 * P, P, true, 1),
             ProtectCmd(kBase + 2 * P, 2 * P, kRO), Cmd(SHADOWMM_OP_UNMAP, kBase + 5 * P, P)};
         const ssize_t n = s.Submit(recs);
         if (n < 0) return static_cast<int>(-n);
         if (n % R || n == 0 || n > static_cast<ssize_t>(recs.size() * R)) return EIO;
         return 0;
       },
       [](Space&, int) {}},
  };
}

void EveryAllocationFails() {
  FailNth nth;
  if (!nth.ok()) SKIP("no /proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
  std::string unused;
  if (ReadFile("/sys/kernel/debug/failslab/verbose", &unused) ||
      ReadFile("/sys/kernel/debug/fail_page_alloc/verbose", &unused))
    SKIP("no failslab/fail_page_alloc in debugfs");
  // Fail sleeping allocations and single pages too, without a stack dump
  // each time (the VM runner would take it for a splat).
  SettingGuard g1("/sys/kernel/debug/failslab/verbose", "0");
  SettingGuard g2("/sys/kernel/debug/failslab/ignore-gfp-wait", "N");
  SettingGuard g3("/sys/kernel/debug/fail_page_alloc/verbose", "0");
  SettingGuard g4("/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N");
  SettingGuard g5("/sys/kernel/debug/fail_page_alloc/min-order", "0");
  SettingGuard validate(ParamFile("validate_on_release"), "Y");
  const GlobalStats before = ReadGlobalStats();
  uint64_t spaces = 0;
  std::string summary;
  for (const Op& op : Ops()) {
    for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
      unsigned n = 1, failed = 0;
      for (; n < 400; n++) {
        Space s;
        spaces++;
        ASSERT_OK(s.SetMode(mode));
        op.setup(s);
        nth.Arm(n);
        const int err = op.run(s);
        const bool injected = nth.Disarm();
        if (err != 0 && err != ENOMEM)
          SMM_FAIL(false, std::string(op.name) + " mode " + std::to_string(mode) + ", allocation " +
                              std::to_string(n) + ": " + ErrName(err));
        if (err && !injected)
          SMM_FAIL(false, std::string(op.name) + ": " + ErrName(err) + " with no failure");
        op.check(s, err);
        // Whatever happened, the space goes on working.
        EXPECT_OK(s.MapFixed(kBase + 64 * P, P));
        EXPECT_OK(s.Store(kBase + 64 * P, 1));
        failed += err != 0;
        if (!injected) break;  // fewer allocations than n: all were tried
      }
      if (n >= 400) SMM_FAIL(false, std::string(op.name) + ": did not run out of allocations");
      if (mode == SHADOWMM_MODE_CLASSIC)
        summary += std::string(summary.empty() ? "" : ", ") + op.name + " " +
                   std::to_string(n - 1) + "/" + std::to_string(failed);
    }
  }
  Tap::Diag("allocation points tried/failed the command (classic): " + summary);
  const GlobalStats after = ReadGlobalStats();
  for (const char* gauge : {"mms_live", "vmas_live", "tables_live", "pages_live"})
    EXPECT_EQ(after[gauge], before[gauge]);
  EXPECT_EQ(after["validate_runs"] - before["validate_runs"], spaces);
  EXPECT_EQ(after["validate_failed"], 0u);
}

}  // namespace

void AddFailNthTests(Tap& tap) {
  tap.Add("fail-nth: each allocation of each command fails cleanly, leaks nothing",
          EveryAllocationFails);
}

}  // namespace shadowmm::selftest
