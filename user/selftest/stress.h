// SPDX-License-Identifier: GPL-2.0
//
// shadowmm-selftest --stress: threads on one shared ctl descriptor map,
// unmap, protect, zap, fault and touch, each checking every result
// against its own model of its part of the space, while all of them share
// one region whose contents nobody can predict.  Then the space's counters
// must add up and, once it is closed, the module's gauges must be back
// where they were.
#ifndef SHADOWMM_SELFTEST_STRESS_H_
#define SHADOWMM_SELFTEST_STRESS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace shadowmm::selftest {

// A phase runs one fault path; kSwitchModes flips the space between all
// of them while the threads run.
inline constexpr int kSwitchModes = -1;

struct StressOptions {
  double seconds = 10;  // in all, split evenly between the phases
  unsigned threads = 4;
  std::vector<int> modes;  // enum shadowmm_mode values or kSwitchModes
  std::string inject;      // race-window mask for the run; empty: leave it
  uint64_t seed = 1;
  // A resident budget of an eighth of the pages the threads may touch
  // (they zap and unmap as they go, so about half of what they hold), with swap
  // behind it: faults reclaim and swap in, phase by phase under each
  // vmalock swap policy in turn.
  bool swap = false;
};

// Prints TAP (one test per phase); returns the number of failed phases.
int RunStress(const StressOptions& opts);

// deadlock.cc: the spf_irqoff_spin_ptl scenario for @seconds; with @knob
// the bug is on and the call is not meant to return.  0: ran clean.
int RunDeadlock(double seconds, bool knob);

}  // namespace shadowmm::selftest

#endif  // SHADOWMM_SELFTEST_STRESS_H_
