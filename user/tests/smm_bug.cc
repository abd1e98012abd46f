// SPDX-License-Identifier: GPL-2.0
// smm-bug: puts one known bug back (the `bugs` mask) and runs the scenario
// that makes it happen, for a sanitizer to catch.  ctest registers each
// knob in the build whose detector sees it, expecting the detector's
// report (the `bugs` stage of make test), and the same scenario with the
// knob off expecting a clean run.  A knob whose bug goes unnoticed fails.
//
//   smm-bug NAME [--off] [--ms N]   run the scenario of knob NAME
//   smm-bug --list                  every knob the core has
//   smm-bug --covered NAME...       fail unless NAME... are all the knobs
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include "fork_snapshot.h"
#include "smm_test.h"

namespace smm_test {
int stress_ms(int fallback) { return fallback; }
}  // namespace smm_test

namespace {

using namespace smm_test;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kBase = 0x40000000;

// Readers race a VMA's write cycle between their first mm_lock_seq check
// and the trylock (the injected window): the writer splits and merges the
// VMA by protecting one page back and forth, so a reader whose re-check
// is relaxed uses a VMA changed in a cycle it is not ordered after.  TSan
// reports the plain read of `detached` in lock_vma_under_rcu() against
// the merge's WRITE_ONCE() (the bounds race too, but the writer re-reads
// them plainly in the same cycle, and TSan then keeps only that read).
void vma_seq_relaxed(int ms) {
  constexpr uint64_t kPages = 16;
  Space s(SHADOWMM_MODE_VMALOCK);
  if (s.map(kBase, kPages * kPage, kRW)) throw std::runtime_error("map failed");
  smm_set_race_injection(1UL << SMM_RW_VMA_BEFORE_LOCK);
  Workers threads;
  for (int t = 0; t < 2; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t + 1);
      while (!threads.stopping()) {
        uint64_t a = kBase + (rng() % kPages) * kPage;
        // Zap first so the access faults instead of hitting the PTE.
        s.zap(a, kPage);
        s.fault(a, false);
      }
    });
  }
  threads.spawn([&] {
    std::mt19937_64 rng(100);
    while (!threads.stopping()) {
      uint64_t a = kBase + (1 + rng() % (kPages - 2)) * kPage;
      s.protect(a, kPage, kRO);
      s.protect(a, kPage, kRW);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  threads.stop();
  smm_set_race_injection(0);
}

// A faulting reader holds the VMA lock while the writer queues on it to
// unmap; the reader's up_read() sees the waiter and is slow to wake it
// (smm_shim_rwsem_wake_delay: preempted there).  Without RCU around the
// unlock, the writer detaches the VMA and the grace period frees it
// before up_read() touches the rwsem again: ASan's heap-use-after-free.
void vma_unlock_outside_rcu(int ms) {
  constexpr uint64_t kPages = 4;
  Space s(SHADOWMM_MODE_VMALOCK);
  smm_shim_rwsem_wake_delay(20000);
  smm_set_race_injection(1UL << SMM_RW_VMA_LOCKED);
  Workers threads;
  for (int t = 0; t < 2; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t + 1);
      while (!threads.stopping()) s.fault(kBase + (rng() % kPages) * kPage, true, 1);
    });
  }
  threads.spawn([&] {
    while (!threads.stopping()) {
      s.map(kBase, kPages * kPage, kRW);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
      s.unmap(kBase, kPages * kPage);
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  threads.stop();
  smm_set_race_injection(0);
  smm_shim_rwsem_wake_delay(0);
  // A run that never reached the window proves nothing, on or off.
  const long slow_wakes = smm_shim_rwsem_delayed_wakes();
  std::printf("smm-bug: %ld slow wake-ups with a writer waiting\n", slow_wakes);
  if (!slow_wakes) throw std::runtime_error("the scenario never reached its window");
}

// Parent threads write rounds over their pages (one per PTE table) while
// the main thread forks, with a delay between the tables the copy takes:
// with the parent's VMAs left unlocked, a writer's vmalock fault copies a
// page the fork has already shared and goes on to write the next before
// the fork gets there, and the child sees a later page newer than an
// earlier one.  The detector is the snapshot check itself.
void fork_no_vma_lock(int ms) {
  Space s(SHADOWMM_MODE_VMALOCK);
  smm_set_race_injection(1UL << SMM_RW_FORK_COPY);
  const auto r = fork_snapshot_stress(s, kBase, 2, 8, ms);
  smm_set_race_injection(0);
  std::printf("smm-bug: %llu forks, %llu writer rounds, %llu COW faults\n",
              static_cast<unsigned long long>(r.forks), static_cast<unsigned long long>(r.rounds),
              static_cast<unsigned long long>(s.counter(SHADOWMM_EV_COW_FAULT)));
  if (!r.broken.empty()) {
    std::printf("smm-bug: %s\n", r.broken.c_str());
    std::fflush(stdout);
    throw std::runtime_error("inconsistent fork");
  }
  // Forks that never met a writer's fault prove nothing.
  if (r.forks < 10 || !s.counter(SHADOWMM_EV_COW_FAULT))
    throw std::runtime_error("the scenario never reached its window");
}

// After FORK a child's VMA has an anon_vma of its own under its parent's
// root, and a chain in the root's interval tree.  Reclaim in the parent
// walks that tree under the root's lock (every page it scans, referenced
// or not) while the child's protect splits and merges its VMA, taking the
// chain out of the root's tree and putting it back: under the VMA's own
// anon_vma lock with the knob, so the two meet in the tree, unordered.
void anon_vma_own_lock(int ms) {
  constexpr uint64_t kPages = 64;
  Space parent(SHADOWMM_MODE_CLASSIC);
  shadowmm_memory mem{.swap_slots = 4 * kPages};
  if (smm_set_memory(parent.get(), &mem) || parent.map(kBase, kPages * kPage, kRW))
    throw std::runtime_error("setup failed");
  for (uint64_t p = 0; p < kPages; p++) parent.fault(kBase + p * kPage, true, p);
  auto child = parent.fork();
  if (!child) throw std::runtime_error("fork failed");
  // The child's VMA gets its own anon_vma only once it has one at fork;
  // a write makes the split below carry a page of its own too.
  child->fault(kBase, true, 1);
  smm_set_race_injection(1UL << SMM_RW_WRITER_SECTION);
  std::atomic<uint64_t> scans{0}, splits{0};
  Workers threads;
  threads.spawn([&] {
    while (!threads.stopping()) {
      shadowmm_cmd rc{.op = SHADOWMM_OP_RECLAIM, .value = kPages / 4};
      parent.exec(rc);
      scans += rc.out_len;
      parent.touch(kBase, kPages * kPage, kPage, false);
    }
  });
  threads.spawn([&] {
    std::mt19937_64 rng(7);
    while (!threads.stopping()) {
      const uint64_t a = kBase + (1 + rng() % (kPages - 2)) * kPage;
      child->protect(a, kPage, kRO);
      child->protect(a, kPage, kRW);
      splits++;
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  threads.stop();
  smm_set_race_injection(0);
  std::printf("smm-bug: %llu pages scanned, %llu split-merge rounds\n",
              static_cast<unsigned long long>(scans.load()),
              static_cast<unsigned long long>(splits.load()));
  const std::string why = child->validate() + parent.validate();
  if (!why.empty()) {
    std::printf("smm-bug: checker: %s\n", why.c_str());
    throw std::runtime_error("inconsistent rmap");
  }
  if (!scans || !splits) throw std::runtime_error("the scenario never reached its window");
}

// Speculative faults with interrupts off (tlb_policy ipi) on pages that a
// zapper clears 128 at a time, so that every zap flushes a full gather
// under the PTE lock while the faulting threads, cached in the space's
// TLB mask, walk to that lock (injection widens the window before it).
// With the knob a faulting thread spins on the lock with interrupts off
// and the zapper waits for it to take the shootdown: neither ever moves
// again.  A watchdog that sees no thread progress for 2 s says so and
// ends the process (the threads cannot be unstuck).  Without the knob the
// trylock gives up, and the run must finish with shootdowns under the
// lock and speculative faults that found it busy.
void spf_irqoff_spin_ptl(int ms) {
  constexpr uint64_t kPages = 128;
  Space s(SHADOWMM_MODE_SPF);
  if (s.set_tlb_policy(SHADOWMM_TLB_IPI)) throw std::runtime_error("tlb_policy ipi refused");
  if (s.map(kBase, kPages * kPage, kRW)) throw std::runtime_error("map failed");
  s.touch(kBase, kPages * kPage, kPage, true);
  smm_set_race_injection(1UL << SMM_RW_SPF_BEFORE_TRYLOCK);
  std::atomic<uint64_t> progress{0};
  Workers threads;
  for (int t = 0; t < 2; t++) {
    threads.spawn([&, t] {
      std::mt19937_64 rng(t + 1);
      while (!threads.stopping()) {
        s.fault(kBase + (rng() % kPages) * kPage, true, 1);
        progress++;
      }
    });
  }
  threads.spawn([&] {
    while (!threads.stopping()) {
      s.touch(kBase, kPages * kPage, kPage, true);
      s.zap(kBase, kPages * kPage);
      progress++;
    }
  });
  const auto end = Clock::now() + std::chrono::milliseconds(ms);
  uint64_t last = progress.load();
  auto last_move = Clock::now();
  while (Clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const uint64_t now = progress.load();
    if (now != last) {
      last = now;
      last_move = Clock::now();
    } else if (Clock::now() - last_move > std::chrono::seconds(2)) {
      std::printf(
          "smm-bug: deadlock reproduced: no progress for 2 s (a speculative fault spins on a "
          "PTE lock with interrupts off while its holder waits for it to take a TLB "
          "shootdown); %llu operations before\n",
          static_cast<unsigned long long>(now));
      std::fflush(stdout);
      std::_Exit(0);
    }
  }
  threads.stop();
  smm_set_race_injection(0);
  const auto st = s.stats();
  std::printf(
      "smm-bug: %llu operations, %llu full flushes, %llu shootdowns, %llu spf attempts, "
      "%llu found the PTE lock busy\n",
      static_cast<unsigned long long>(progress.load()),
      static_cast<unsigned long long>(st.counter[SHADOWMM_EV_TLB_FLUSH_FULL]),
      static_cast<unsigned long long>(st.counter[SHADOWMM_EV_TLB_SHOOTDOWN]),
      static_cast<unsigned long long>(st.counter[SHADOWMM_EV_SPF_ATTEMPT]),
      static_cast<unsigned long long>(st.counter[SHADOWMM_EV_SPF_ABORT_PTL_BUSY]));
  if (!st.counter[SHADOWMM_EV_TLB_SHOOTDOWN] || !st.counter[SHADOWMM_EV_SPF_ATTEMPT])
    throw std::runtime_error("the scenario never reached its window");
}

const std::map<std::string, std::function<void(int)>> kScenarios = {
    {"anon_vma_own_lock", anon_vma_own_lock},           {"fork_no_vma_lock", fork_no_vma_lock},
    {"spf_irqoff_spin_ptl", spf_irqoff_spin_ptl},       {"vma_seq_relaxed", vma_seq_relaxed},
    {"vma_unlock_outside_rcu", vma_unlock_outside_rcu},
};

int bug_index(const std::string& name) {
  for (unsigned b = 0; smm_bug_name(b); b++)
    if (name == smm_bug_name(b)) return static_cast<int>(b);
  return -1;
}

int usage() {
  std::fprintf(stderr, "usage: smm-bug NAME [--off] [--ms N] | --list | --covered NAME...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string first = argv[1];
  if (first == "--list") {
    for (unsigned b = 0; smm_bug_name(b); b++) std::printf("%s\n", smm_bug_name(b));
    return 0;
  }
  if (first == "--covered") {
    std::set<std::string> covered(argv + 2, argv + argc);
    int missing = 0;
    for (unsigned b = 0; smm_bug_name(b); b++) {
      if (!covered.count(smm_bug_name(b)) || !kScenarios.count(smm_bug_name(b))) {
        std::fprintf(stderr, "smm-bug: knob %s has no test\n", smm_bug_name(b));
        missing++;
      }
    }
    return missing ? 1 : 0;
  }
  bool off = false;
  int ms = 3000;
  for (int i = 2; i < argc; i++) {
    if (!std::strcmp(argv[i], "--off")) {
      off = true;
    } else if (!std::strcmp(argv[i], "--ms") && i + 1 < argc) {
      ms = std::atoi(argv[++i]);
    } else {
      return usage();
    }
  }
  const int bug = bug_index(first);
  auto scenario = kScenarios.find(first);
  if (bug < 0 || scenario == kScenarios.end() || ms <= 0) {
    std::fprintf(stderr, "smm-bug: unknown knob '%s' (--list shows them)\n", first.c_str());
    return 2;
  }
  if (smm_core_init()) {
    std::fprintf(stderr, "smm-bug: smm_core_init failed\n");
    return 1;
  }
  if (!off && smm_set_bugs(1UL << bug)) {
    std::fprintf(stderr, "smm-bug: smm_set_bugs refused knob %d\n", bug);
    return 1;
  }
  std::printf("smm-bug: %s %s for %d ms\n", first.c_str(), off ? "off" : "on", ms);
  std::fflush(stdout);
  try {
    scenario->second(ms);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "smm-bug: %s\n", e.what());
    return 1;
  }
  smm_set_bugs(0);
  rcu_barrier();
  smm_core_exit();
  std::printf("smm-bug: scenario done\n");
  return 0;
}
