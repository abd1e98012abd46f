// SPDX-License-Identifier: GPL-2.0
//
// The selftest's test groups, registered in this order by main.cc.
#ifndef SHADOWMM_SELFTEST_TESTS_H_
#define SHADOWMM_SELFTEST_TESTS_H_

#include <cstdint>

#include "tap.h"

namespace shadowmm::selftest {

// Where tests put their fixed mappings: well above where MAPs without
// MAP_FIXED land (bottom-up from SHADOWMM_MMAP_MIN_ADDR), 2 MiB aligned so
// page-table boundaries are where a test expects them.
inline constexpr uint64_t kBase = 0x10000000;

void AddFileTests(Tap& tap);     // test_files.cc: debugfs files, params, refcount
void AddOpTests(Tap& tap);       // test_ops.cc: every command and its errors
void AddCopySearchTests(Tap& tap);  // test_copy_search.cc: COPY and SEARCH
void AddAbiTests(Tap& tap);      // test_abi.cc: ioctl and write() framing
void AddSpaceTests(Tap& tap);    // test_spaces.cc: several spaces, threads, fork
void AddReclaimTests(Tap& tap);  // test_reclaim.cc: SET_MEMORY, RECLAIM, swap, shrinker
void AddForkTests(Tap& tap);     // test_fork.cc: FORK, COW, the 6.4 fork knob
void AddUffdTests(Tap& tap);     // test_uffd.cc: userfaults and their channel
void AddTlbTests(Tap& tap);      // test_tlb.cc: shadow TLBs and shootdowns
void AddModelChoiceTests(Tap& tap);  // test_model_choices.cc: SET_MODEL
void AddFailNthTests(Tap& tap);  // test_failnth.cc: allocation failures
void AddCleanupTests(Tap& tap);  // test_spaces.cc: nothing left behind
// Global stats before the first test, for AddCleanupTests' comparison.
void CaptureBaseline();

}  // namespace shadowmm::selftest

#endif  // SHADOWMM_SELFTEST_TESTS_H_
