// SPDX-License-Identifier: GPL-2.0
//
// The shadow TLBs through the module: the policy (debugfs default, per
// space, its errors; ipi refused on PREEMPT_RT), hits, shootdowns that
// are real IPIs to the CPU that cached a translation, and page tables
// freed after an IPI round.
#include <sched.h>
#include <sys/utsname.h>

#include <atomic>
#include <fstream>
#include <string>
#include <thread>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

bool PreemptRt() {
  std::ifstream f("/sys/kernel/realtime");
  int rt = 0;
  return (f >> rt) && rt == 1;
}

int SetTlbPolicy(const Space& s, uint64_t policy) {
  shadowmm_cmd c = Cmd(SHADOWMM_OP_SET_TLB_POLICY);
  c.value = policy;
  return s.Ioctl(c);
}

void Policy() {
  EXPECT_EQ(ReadLine(DebugfsFile("tlb_policy")), "rcu");
  EXPECT_EQ(ReadLine(ParamFile("tlb_policy")), "rcu");
  EXPECT_ERR(WriteFile(DebugfsFile("tlb_policy"), "lazy"), EINVAL);
  const bool rt = PreemptRt();
  {
    SettingGuard guard(DebugfsFile("tlb_policy"), "none");
    Space s;
    EXPECT_EQ(s.Info().tlb_policy, uint64_t{SHADOWMM_TLB_NONE});
  }
  if (rt) {
    EXPECT_ERR(WriteFile(DebugfsFile("tlb_policy"), "ipi"), EOPNOTSUPP);
    Space s;
    EXPECT_ERR(SetTlbPolicy(s, SHADOWMM_TLB_IPI), EOPNOTSUPP);
  } else {
    SettingGuard guard(DebugfsFile("tlb_policy"), "ipi");
    Space s;
    EXPECT_EQ(s.Info().tlb_policy, uint64_t{SHADOWMM_TLB_IPI});
  }
  Space s;
  EXPECT_EQ(s.Info().tlb_policy, uint64_t{SHADOWMM_TLB_RCU});
  EXPECT_ERR(SetTlbPolicy(s, SHADOWMM_NR_TLB_POLICIES), EINVAL);
  EXPECT_ERR(SetTlbPolicy(s, ~0ULL), EINVAL);
  ASSERT_OK(SetTlbPolicy(s, SHADOWMM_TLB_NONE));
  ASSERT_OK(s.MapFixed(kBase, P));
  EXPECT_ERR(SetTlbPolicy(s, SHADOWMM_TLB_RCU), EBUSY);
  EXPECT_EQ(s.Info().tlb_policy, uint64_t{SHADOWMM_TLB_NONE});
}

bool Pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof(set), &set) == 0;
}

// A thread on CPU 0 stores to kBase and loads it back (the load fills its
// TLB), and with @leave then leaves the space; a thread on CPU 1 zaps the
// page.  True if CPU 0's next access faulted and found the page new.
bool ZapFromTheOtherCpu(const Space& s, bool leave) {
  std::atomic<int> phase{0};
  std::atomic<int> result{-1};
  std::thread cached([&] {
    uint64_t v = 0;
    shadowmm_cmd leave_cmd = Cmd(SHADOWMM_OP_TLB_LEAVE);
    if (!Pin(0) || s.Store(kBase, 5) || s.Load(kBase, &v) || v != 5 ||
        (leave && s.Ioctl(leave_cmd)))
      return;
    phase = 1;
    while (phase.load() != 2) std::this_thread::yield();
    shadowmm_cmd c = FaultCmd(kBase, false);
    result = s.Ioctl(c) == 0 && c.out_faults == 1 && c.out_value == 0 ? 1 : 0;
  });
  std::thread zapper([&] {
    while (phase.load() != 1) std::this_thread::yield();
    if (Pin(1)) s.Zap(kBase, P);
    phase = 2;
  });
  cached.join();
  zapper.join();
  return result.load() == 1;
}

// One thread on CPU 0 caches a translation, another on CPU 1 zaps it:
// the zap's shootdown is an IPI to CPU 0, whose next access faults.
void ShootdownIpi() {
  if (std::thread::hardware_concurrency() < 2) SKIP("one CPU");
  for (uint64_t policy : {SHADOWMM_TLB_RCU, SHADOWMM_TLB_IPI}) {
    if (policy == SHADOWMM_TLB_IPI && PreemptRt()) continue;
    Space s;
    ASSERT_OK(SetTlbPolicy(s, policy));
    ASSERT_OK(s.MapFixed(kBase, 4 * P));
    EXPECT_TRUE(ZapFromTheOtherCpu(s, false));
    const shadowmm_stats st = s.Stats();
    EXPECT_GE(Counter(st, SHADOWMM_EV_TLB_FILL), 1u);  // the load after the store's fault
    EXPECT_GE(Counter(st, SHADOWMM_EV_TLB_SHOOTDOWN), 1u);
    EXPECT_GE(Counter(st, SHADOWMM_EV_TLB_IPI), 1u);
  }
}

// TLB_LEAVE: the CPU that cached a translation leaves the space, so a zap
// on the other CPU interrupts nobody, and its next access faults.
void LeaveSkipsTheCpu() {
  if (std::thread::hardware_concurrency() < 2) SKIP("one CPU");
  Space s;
  shadowmm_cmd bad = Cmd(SHADOWMM_OP_TLB_LEAVE);
  bad.flags = 1;
  EXPECT_ERR(s.Ioctl(bad), EINVAL);
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  EXPECT_TRUE(ZapFromTheOtherCpu(s, true));
  const shadowmm_stats st = s.Stats();
  EXPECT_EQ(Counter(st, SHADOWMM_EV_TLB_LEAVE), 1u);
  EXPECT_EQ(Counter(st, SHADOWMM_EV_TLB_IPI), 0u);
}

// Each change that takes a translation away, after a TLB cached it, in
// every policy: the next access sees it.  And tables freed by unmap wait
// for an IPI round with ipi.
void Removals() {
  for (uint64_t policy : {SHADOWMM_TLB_NONE, SHADOWMM_TLB_RCU, SHADOWMM_TLB_IPI}) {
    if (policy == SHADOWMM_TLB_IPI && PreemptRt()) continue;
    Space s;
    ASSERT_OK(SetTlbPolicy(s, policy));
    const shadowmm_info info = s.Info();
    const uint64_t span = P << info.pt_bits[3];  // one PTE table: unmap frees it
    ASSERT_OK(s.MapFixed(kBase, span));
    uint64_t v = 0;
    // A store faults the page in, a load fills the TLB, the next hits.
    for (uint64_t i = 0; i < 4; i++) {
      ASSERT_OK(s.Store(kBase + i * P, 10 + i));
      ASSERT_OK(s.Load(kBase + i * P, &v));
      ASSERT_OK(s.Load(kBase + i * P, &v));
    }
    ASSERT_OK(s.Protect(kBase, P, SHADOWMM_PROT_READ));
    EXPECT_ERR(s.Store(kBase, 1), EFAULT);
    ASSERT_OK(s.Zap(kBase + P, P));
    ASSERT_OK(s.Load(kBase + P, &v));
    EXPECT_EQ(v, 0u);
    int child_fd = -1;
    ASSERT_OK(s.Fork(&child_fd));
    Space child(child_fd);
    ASSERT_OK(s.Store(kBase + 2 * P, 99));
    ASSERT_OK(child.Load(kBase + 2 * P, &v));
    EXPECT_EQ(v, 12u);  // else the parent wrote a shared page through its TLB
    ASSERT_OK(s.Unmap(kBase, span));
    EXPECT_ERR(s.Load(kBase + 3 * P, &v), EFAULT);
    const shadowmm_stats st = s.Stats();
    EXPECT_EQ(Counter(st, SHADOWMM_EV_TLB_TABLE_SYNC) > 0, policy == SHADOWMM_TLB_IPI);
    EXPECT_EQ(Counter(st, SHADOWMM_EV_TLB_HIT) > 0, policy != SHADOWMM_TLB_NONE);
  }
}

}  // namespace

void AddTlbTests(Tap& tap) {
  tap.Add(
      "tlb_policy: rcu by default, per space while it has no VMA, EINVAL, EBUSY; ipi "
      "EOPNOTSUPP on PREEMPT_RT",
      Policy);
  tap.Add("tlb: a zap on one CPU shoots down the entry another CPU cached, by IPI", ShootdownIpi);
  tap.Add("tlb: a CPU that left the space (TLB_LEAVE) takes no IPI, and faults again",
          LeaveSkipsTheCpu);
  tap.Add(
      "tlb: protect, zap, FORK and unmap leave no usable entry, every policy; ipi syncs "
      "freed tables",
      Removals);
}

}  // namespace shadowmm::selftest
