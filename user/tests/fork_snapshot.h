// SPDX-License-Identifier: GPL-2.0
// The fork-consistency stress (issue: "fork and copy-on-write"): writer
// threads of a parent space write round numbers over their pages, in
// order, while another thread forks the parent again and again; every
// child must see, of each writer's pages, a prefix of that writer's
// writes: its pages hold v, ..., v, v-1, ..., v-1 (a later page never
// newer than an earlier one, and never two rounds apart).  A fork that
// lets a parent thread's fault change the page tables in the middle of
// the copy (the fork_no_vma_lock knob, the 6.4 bug) breaks that.
#pragma once

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "smm_test.h"

namespace smm_test {

struct ForkSnapshotResult {
  uint64_t forks = 0;
  uint64_t rounds = 0;  // writer rounds, all writers
  std::string broken;   // the first inconsistent child, described
};

// Each writer's pages lie one per PTE table (@kTableSpan apart), so the
// copy of one writer's range takes several tables, with the FORK_COPY
// race window (if injected) between them.
inline ForkSnapshotResult fork_snapshot_stress(const Space& parent, uint64_t base, int writers,
                                               int pages, int ms) {
  const uint64_t span = static_cast<uint64_t>(pages) * kTableSpan;
  ForkSnapshotResult r;
  for (int w = 0; w < writers; w++) {
    if (parent.map(base + w * span, span, kRW)) {
      r.broken = "map failed";
      return r;
    }
    for (int p = 0; p < pages; p++) parent.fault(base + w * span + p * kTableSpan, true, 0);
  }
  std::atomic<uint64_t> rounds{0};
  Workers threads;
  for (int w = 0; w < writers; w++) {
    threads.spawn([&, w] {
      for (uint64_t v = 1; !threads.stopping(); v++) {
        for (int p = 0; p < pages; p++) parent.fault(base + w * span + p * kTableSpan, true, v);
        rounds.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // At least 4 forks, however slow the build and the machine (each FORK
  // now also shoots down the parent's TLBs): up to four times @ms.
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::milliseconds(ms);
  const auto last_chance = start + 4 * std::chrono::milliseconds(ms);
  for (auto now = start; (now < end || (r.forks < 4 && now < last_chance)) && r.broken.empty();
       now = std::chrono::steady_clock::now()) {
    int err = 0;
    auto child = parent.fork(&err);
    if (!child) {
      r.broken = "fork failed: " + std::to_string(err);
      break;
    }
    r.forks++;
    for (int w = 0; w < writers && r.broken.empty(); w++) {
      std::vector<uint64_t> seen;
      for (int p = 0; p < pages; p++)
        seen.push_back(child->peek(base + w * span + p * kTableSpan).value_or(~0ULL));
      bool prefix = true;
      for (int p = 1; p < pages; p++)
        prefix = prefix && seen[p] <= seen[p - 1] && seen[0] - seen[p] <= 1;
      if (!prefix) {
        r.broken = "fork " + std::to_string(r.forks) + ": child sees writer " + std::to_string(w) +
                   "'s pages as";
        for (uint64_t v : seen) r.broken += " " + std::to_string(v);
      }
    }
  }
  threads.stop();
  r.rounds = rounds.load();
  return r;
}

}  // namespace smm_test
