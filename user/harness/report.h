// SPDX-License-Identifier: GPL-2.0
//
// Results: the line ebizzy prints, a table for people and JSON for
// scripts (schema in README.md next to this file).
#ifndef SHADOWMM_HARNESS_REPORT_H_
#define SHADOWMM_HARNESS_REPORT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "backend.h"
#include "workload.h"

namespace shadowmm {

struct RunRecord {
  std::string workload;
  std::string record_unit;  // "records" or "pages"
  std::string backend;
  std::string geometry;    // what the space resolved to: "4k", "64k"
  uint64_t page_size = 0;  // the backend's page
  Mode mode = Mode::kClassic;
  std::optional<Submit> submit;  // module backend only
  unsigned batch = 0;            // records per write (write/uring)
  uint64_t touch_chunk_pages = 0;
  unsigned threads = 0;
  std::string cpus;  // as given, "" for none
  std::optional<int> node;
  std::map<std::string, std::string> config;
  // What the workload measured itself (Workload::Results()).
  std::map<std::string, double> results;
  unsigned repetition = 1;  // 1..--repetitions
  bool processes = false;   // workers were processes, each with its own space
  bool affinity = false;    // workers were pinned (cpus lists where)
  double warmup = 0;        // --warmup seconds (in-run for pagefault)
  // The space's budget and swap store as the run began (stock: the cgroup
  // limit and swap device), its swap policy when it had swap, and what the
  // stock backend set up for them.
  std::optional<shadowmm_memory> memory;
  std::optional<unsigned> swap_policy;
  // vmalock runs: how a VMA's first fault got its anon_vma.
  std::optional<unsigned> anon_policy;
  std::optional<unsigned> tlb_policy;  // enum shadowmm_tlb_policy; stock: none
  std::optional<uint64_t> model;       // SET_MODEL's mask; stock: none
  // Shadow backends: where the threads mapped (--layout); "" on stock.
  std::string layout;
  // Known-bug knobs that were on (--bugs), comma-separated; "" for none.
  std::string bugs;
  std::string memory_note;
  RunResult result;
};

// The mode as the table names it: "vmalock/drop-retry" for a vmalock run
// with a swap policy, the mode's name otherwise.
std::string ModeLabel(const RunRecord& run);

// What swapping cost a run: major faults (those that slept for a swap-in)
// and the retries and aborts they caused, from the counter deltas.
struct SwapSummary {
  uint64_t majfaults = 0;  // pgmajfault
  uint64_t pswpin = 0;
  uint64_t pswpout = 0;
  // fault_retry + spf_abort_swap + mmseq_abort_swap + vma_lock_swap_*:
  // each time a swap-in sent a fault round again.
  uint64_t retries = 0;
  double slept_share = 0;        // pgmajfault / fault
  double retries_per_major = 0;  // retries / pgmajfault
};
SwapSummary SummarizeSwap(const shadowmm_stats& delta);

// Records per second of a run: over the measured samples for a workload
// with an in-run warm-up, over the whole run otherwise.
double RecordsPerSecond(const RunRecord& run);

// What the fault path did over the run, from the counter deltas: the
// counters of the run's mode (spf_*, mmseq_*, vma_lock_*), or faults that
// entered the handler for classic and stock.
struct FaultPathSummary {
  uint64_t attempts = 0;
  uint64_t successes = 0;
  uint64_t fallbacks = 0;                  // to the classic path
  uint64_t retries = 0;                    // vmalock only
  std::map<std::string, uint64_t> aborts;  // reason -> count
  uint64_t aborts_total = 0;
  double abort_ratio = 0;  // aborts_total / attempts
  // The same without aborts for a missing table, which first faults into
  // an empty range take by design.
  double abort_ratio_excl_no_table = 0;
};
FaultPathSummary SummarizeFaultPath(Mode mode, const shadowmm_stats& delta);

// Faults over the run: the FAULT counter (stock: minor + major faults of
// the process).
uint64_t RunFaults(const RunRecord& run);

// ebizzy's result lines: "N records/s", "real", "user", "sys"; then, for a
// workload that times its faults (spf_test), the total and average ns.
void PrintEbizzyLines(std::ostream& out, const RunRecord& run);
// One line per point (workload, backend, mode, submit, threads or
// processes): the median rate over its repetitions, their range, and the
// median's ratio to the first mode's at the same point.  Then the kernel's
// own counters of stock runs.  Intervals and tests: scripts/bench-report.py
// and shadowmm-compare.
void PrintTable(std::ostream& out, const std::vector<RunRecord>& runs);
std::string ToJson(const std::vector<RunRecord>& runs);

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_REPORT_H_
