// SPDX-License-Identifier: GPL-2.0
//
// shadowmm-bench's command line, checked.  The flags themselves are gflags
// (main.cc); their raw values come here so that validation is testable
// without a process per case, and every refusal is one line.
#ifndef SHADOWMM_HARNESS_OPTIONS_H_
#define SHADOWMM_HARNESS_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend.h"
#include "workload.h"

namespace shadowmm {

// The flags as given (strings unparsed, numbers as gflags parsed them).
struct RawFlags {
  std::string backend = "inproc";
  std::string mode = "classic";
  std::string workload = "ebizzy";
  std::string threads;  // "" : the workload's default
  double duration = 0;  // 0: the workload's default
  int64_t iterations = 0;
  double warmup = 0;
  bool warmup_default = false;  // --warmup not given: the workload's default
  int64_t repetitions = 1;
  bool processes = false;
  bool no_affinity = false;
  bool aslr = false;
  std::string submit = "ioctl";
  int64_t batch = 64;
  int64_t touch_chunk_pages = 0;
  std::string cpus;
  int32_t node = -1;
  std::string json;
  std::string ctl = kDefaultCtlPath;
  int64_t max_pages = 0;
  // Not given: the workload's default (swap: see ParseOptions), else the
  // space's.
  std::optional<int64_t> resident_pages;
  std::optional<int64_t> swap_slots;
  std::optional<int64_t> swap_latency_us;
  std::string swap_policy;  // "": not given; a name, a comma list or "all"
  std::string anon_policy;  // "": not given
  std::string tlb_policy;   // "": not given
  std::string model;        // "": not given
  std::string layout;       // "": not given
  double swap_ratio = 2;
  int64_t swap_hot_pct = 0;
  bool swap_mapper = false;
  std::string geometry;  // "": not given
  std::string bugs;      // "": none
  std::string ebizzy = "-mTRp";
  std::string ebizzy_rng = "0.3";
  int64_t pagefault_size = 128LL << 20;
  int64_t pft_size = 256LL << 20;
  int64_t multifault_pages = 16;
  int64_t spf_test_areas = 64;
  int64_t spf_test_pages = 16;
  int64_t cow_size = 128LL << 20;
  int64_t fork_vmas = 10000;
  int64_t fork_fault_pages = 256;
  int64_t uffd_pages = 64;
  int32_t uffd_resolvers = 2;
  bool uffd_mapper = true;
  std::string mapbench = "local";
  int64_t mapbench_pages = 1;
};

struct Options {
  std::string backend;
  std::vector<Mode> modes;
  std::vector<unsigned> threads;
  double seconds = 0;
  uint64_t iterations = 0;
  double warmup = 0;
  unsigned repetitions = 1;
  bool processes = false;  // every worker a process with its own space
  bool affinity = true;    // pin worker i to the i-th allowed CPU (or --cpus)
  bool aslr = false;       // leave ASLR on for stock runs
  Submit submit = Submit::kIoctl;
  unsigned batch = 64;
  uint64_t touch_chunk_pages = 0;
  std::vector<int> cpus;
  std::optional<int> node;
  std::string json;
  std::string ctl;
  uint64_t max_pages = 0;  // resident budget (--resident_pages); 0: the space's
  std::optional<uint64_t> swap_slots;
  std::optional<uint64_t> swap_latency_us;
  // enum shadowmm_swap_policy values, one run each for vmalock (the other
  // modes run the first only: the policy is vmalock's); empty: the space's.
  std::vector<unsigned> swap_policies;
  std::optional<unsigned> anon_policy;  // enum shadowmm_anon_policy; none: the space's
  std::optional<unsigned> tlb_policy;   // enum shadowmm_tlb_policy; none: the space's
  std::optional<uint64_t> model;        // SET_MODEL's mask; none: the space's
  Layout layout = Layout::kPerThread;
  std::optional<unsigned> geometry;  // enum shadowmm_geometry; none: default
  // Known-bug knobs (enum shadowmm_bug bits) switched on for the whole
  // run, inproc only: a fix's cost measured against the bug it fixes.
  unsigned long bugs = 0;
  WorkloadOptions workload;
};

// The swap workload's resident budget when none is given, in pages.
inline constexpr uint64_t kSwapDefaultResidentPages = 8192;

// The runs of one point, in order: each mode, with each swap policy for
// vmalock and the first for the others (the policy is vmalock's); a
// policy of nullopt when none was given.
std::vector<std::pair<Mode, std::optional<unsigned>>> ModeRuns(
    const std::vector<Mode>& modes, const std::vector<unsigned>& policies);

// Returns "" and fills @out, or a one-line reason.  Does not touch the
// module or the machine beyond asking libnuma which nodes and CPUs exist.
std::string ParseOptions(const RawFlags& raw, Options* out);

// "1,2,4" / "0-3,8" parsers, exposed for tests.  Return "" or a reason.
std::string ParseUnsignedList(const std::string& flag, const std::string& text,
                              std::vector<unsigned>* out);
std::string ParseCpuList(const std::string& text, std::vector<int>* out);

// Applies --node: runs the calling thread (and threads it creates later)
// on the node's CPUs and prefers its memory.  Throws Error.
void BindToNode(int node);

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_OPTIONS_H_
