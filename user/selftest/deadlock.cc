// SPDX-License-Identifier: GPL-2.0
//
// shadowmm-selftest --deadlock S: the spf_irqoff_spin_ptl scenario through
// the module.  A space with tlb_policy ipi in spf mode; two threads fault
// pages that a third zaps 128 at a time, so every zap flushes a full
// gather under a PTE lock (an IPI to each CPU of the space) while the
// faulting threads' speculative walks, interrupts off, reach that lock
// (race injection widens the window before it).  With --knob the bug is
// put back: a faulting CPU spins on the lock with interrupts off and the
// zapping CPU waits for it to take the IPI, forever; the kernel's own
// detectors (soft lockup, RCU stall) are what must see it, and the guest
// is not needed afterwards (scripts/vm-test.sh boots one for this alone).
// Without it the run must end after S seconds, its shootdowns sent and
// some speculative faults having found the lock busy.
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "ctl.h"
#include "smm_api.h"  // enum smm_race_window, for the inject mask
#include "stress.h"
#include "tap.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

void PinTo(unsigned cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
  sched_setaffinity(0, sizeof(set), &set);
}

}  // namespace

int RunDeadlock(double seconds, bool knob) {
  constexpr uint64_t kPages = 128;
  std::printf("deadlock: spf_irqoff_spin_ptl %s, %.0f s\n", knob ? "on" : "off", seconds);
  Space s;
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_TLB_POLICY);
  c.value = SHADOWMM_TLB_IPI;
  if (int err = s.Ioctl(c)) {
    std::printf("deadlock: SET_TLB_POLICY ipi: %s\n", ErrName(err).c_str());
    // PREEMPT_RT: no interrupts-off faults, so nothing to deadlock.
    return err == EOPNOTSUPP && !knob ? 0 : 1;
  }
  if (s.SetMode(SHADOWMM_MODE_SPF) || s.MapFixed(kBase, kPages * kPage)) {
    std::printf("deadlock: cannot set the space up\n");
    return 1;
  }
  shadowmm_cmd touch = TouchCmd(kBase, kPages * kPage, kPage, true, 1);
  s.Ioctl(touch);
  SettingGuard inject(DebugfsFile("inject"), std::to_string(1UL << SMM_RW_SPF_BEFORE_TRYLOCK));
  // Set last: from here a CPU may never come back.
  std::unique_ptr<SettingGuard> bugs;
  if (knob)
    bugs = std::make_unique<SettingGuard>(DebugfsFile("bugs"),
                                          std::to_string(1UL << SHADOWMM_BUG_SPF_IRQOFF_SPIN_PTL));
  std::fflush(stdout);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ops{0};
  std::vector<std::thread> threads;
  // The faulting threads on CPU 1, the zapper on CPU 0: a CPU that spins
  // with interrupts off also stops the tick, and with it jiffies if it
  // keeps time (under TCG the guest's clocksource is jiffies), which would
  // blind the lockup detectors; CPU 0 keeps time (nohz=off, see
  // vm-test.sh) and never spins here.
  for (unsigned t = 0; t < 2; t++) {
    threads.emplace_back([&, t] {
      PinTo(1);
      std::mt19937_64 rng(t + 1);
      while (!stop.load(std::memory_order_relaxed)) {
        s.Store(kBase + (rng() % kPages) * kPage, 1);
        ops++;
      }
    });
  }
  threads.emplace_back([&] {
    PinTo(0);
    while (!stop.load(std::memory_order_relaxed)) {
      shadowmm_cmd t = TouchCmd(kBase, kPages * kPage, kPage, true, 2);
      s.Ioctl(t);
      s.Zap(kBase, kPages * kPage);
      ops++;
    }
  });
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    std::printf("deadlock: %llu operations\n", static_cast<unsigned long long>(ops.load()));
    std::fflush(stdout);
  }
  stop = true;
  for (auto& t : threads) t.join();
  bugs.reset();
  const shadowmm_stats st = s.Stats();
  std::printf(
      "deadlock: none in %.0f s: %llu operations, %llu shootdowns, %llu spf attempts, "
      "%llu found the PTE lock busy\n",
      seconds, static_cast<unsigned long long>(ops.load()),
      static_cast<unsigned long long>(Counter(st, SHADOWMM_EV_TLB_SHOOTDOWN)),
      static_cast<unsigned long long>(Counter(st, SHADOWMM_EV_SPF_ATTEMPT)),
      static_cast<unsigned long long>(Counter(st, SHADOWMM_EV_SPF_ABORT_PTL_BUSY)));
  if (knob) {
    std::printf("deadlock: the knob was on and nothing locked up\n");
    return 1;
  }
  return Counter(st, SHADOWMM_EV_TLB_SHOOTDOWN) && Counter(st, SHADOWMM_EV_SPF_ATTEMPT) ? 0 : 1;
}

}  // namespace shadowmm::selftest
