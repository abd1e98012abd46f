// SPDX-License-Identifier: GPL-2.0
//
// shadowmm-bench: runs a workload on a backend for each requested fault
// mode and thread count, prints ebizzy's result lines per run, then a
// table, and writes JSON.
#include <gflags/gflags.h>
#include <sched.h>
#include <sys/personality.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>

#include "options.h"
#include "report.h"
#include "stock_memory.h"

extern "C" {
#include "smm_api.h"
}

DECLARE_bool(help);  // gflags' own

DEFINE_string(backend, "inproc",
              "Where the address space lives: stock (this process's own mm on the running "
              "kernel), module (a space on <debugfs>/shadowmm/ctl; needs shadowmm.ko and root), "
              "inproc (the shadowmm core linked into this process).");
DEFINE_string(mode, "classic",
              "Fault-locking strategy: classic, spf, vmalock, mmseq, a comma list of them, or all. "
              "The stock backend has only the kernel's own path: classic, stock and all name it.");
DEFINE_string(workload, "ebizzy",
              "ebizzy (records/s of ebizzy's allocate-touch-free cycle, flags in --ebizzy), "
              "multifault (threads fault their own slot, one zaps all, in rounds), "
              "pagefault (will-it-scale page_fault1: map --pagefault_size, touch, unmap), "
              "pft (threads fault and zap disjoint parts of one --pft_size mapping), "
              "spf_test (each thread maps --spf_test_areas areas of --spf_test_pages pages and "
              "faults them in; total and average ns per fault), "
              "swap (threads load and store random pages of a working set --swap_ratio times "
              "the resident budget, checking each page's contents: accesses/s, major faults/s), "
              "cow (fill --cow_size, fork, threads write one word per page while the child maps "
              "them, again: COW faults/s; stock: real fork()), "
              "fork (one thread forks a parent of --fork_vmas VMAs and destroys the child, "
              "again, while the others write-fault and zap --fork_fault_pages pages each: "
              "forks/s, fork latency median and p99, the others' faults/s; stock: real fork()), "
              "uffd (threads read --uffd_pages registered pages each, every read a missing "
              "userfault that --uffd_resolvers threads resolve by copying a checked pattern, "
              "while with --uffd_mapper one more thread maps and unmaps elsewhere: resolved "
              "faults/s, wait median and p99; stock: real userfaultfd(2)), "
              "mapbench (RadixVM's: threads map, write every page of and unmap regions of "
              "--mapbench_pages pages, each its own (--mapbench=local), each handed to the next "
              "thread, which writes and unmaps it (pipeline), or one shared region all write "
              "between barriers, unmapped and mapped again by one thread (global): page "
              "touches/s, TLB shootdowns per unmap; stock: real mmap/munmap, shootdowns from "
              "/proc/interrupts).");
DEFINE_string(threads, "",
              "Worker threads: N or a list like 1,2,4,8 (one run per count). Default: ebizzy's "
              "(-t, else 2 x online CPUs) for ebizzy, online CPUs otherwise.");
DEFINE_double(duration, 0, "Seconds per run (may be fractional). Default: ebizzy's -S, else 10.");
DEFINE_double(warmup, 0,
              "Seconds of the same workload, on the same space, before each measured run; not "
              "counted (ignored with --iterations). pagefault: the first seconds of the run "
              "itself, sampled and discarded as will-it-scale does (default 6 there).");
DEFINE_int32(repetitions, 1,
             "Run every point (thread count x mode) this many times, interleaved: for each "
             "thread count, repetition 1 of every mode, then repetition 2... The table gives the "
             "median and range; every run is in the JSON.");
DEFINE_bool(processes, false,
            "Every worker a process of its own (forked) with its own address space: its own "
            "shadow space on module and inproc, its own mm on stock; as will-it-scale's "
            "*_processes. Default: threads sharing one space.");
DEFINE_bool(no_affinity, false,
            "Do not pin workers. Default: worker i runs on the i-th CPU this process may use "
            "(modulo their number; --cpus gives the list), as will-it-scale pins one per core.");
DEFINE_bool(aslr, false,
            "stock: leave address-space randomisation on. Default: off, as will-it-scale's "
            "runtest.py runs its tests under 'setarch -R' (personality(ADDR_NO_RANDOMIZE), "
            "then the program re-executes itself).");
DEFINE_int64(iterations, 0,
             "Run exactly this many iterations per worker instead of for --duration "
             "(ebizzy: records; pagefault: map/touch/unmap rounds; pft: touch/zap rounds; "
             "multifault: rounds). Makes a run deterministic.");
DEFINE_string(submit, "ioctl",
              "module backend: ioctl (one ioctl per command), write (batches of --batch "
              "records per write()), uring (the same batches as io_uring writes, one ring per "
              "thread).");
DEFINE_int64(batch, 64, "Records per write() or io_uring write with --submit=write|uring.");
DEFINE_int64(touch_chunk_pages, 0,
             "Shadow backends: split every touch of a range into commands of at most this many "
             "pages (1: one command per page fault); 0: one command per range.");
DEFINE_string(cpus, "",
              "Pin worker i to the i-th CPU of this list (modulo its length), e.g. 0-3,8. "
              "Default: no pinning.");
DEFINE_int32(node, -1,
             "Run on this NUMA node's CPUs and prefer its memory (libnuma); -1: no binding.");
DEFINE_string(json, "", "Also write the results as JSON to this file ('-' for stdout).");
DEFINE_string(ctl, shadowmm::kDefaultCtlPath, "module backend: the shadowmm ctl file.");
DEFINE_int64(resident_pages, 0,
             "Resident page budget of the space, in its pages: SET_MEMORY's max_pages on the "
             "shadow backends (faults past it reclaim to swap), the limit of a memory cgroup the "
             "run joins on stock. 0: the space's default (inproc: none; module: its max_pages "
             "parameter; stock: no cgroup); the swap workload's default is 8192.");
DEFINE_int64(max_pages, 0, "The older name of --resident_pages.");
DEFINE_int64(swap_slots, 0,
             "Swap slots of the space, in its pages (stock: the size of a zram device, else a "
             "swap file, that the run sets up and removes). Default: the space's (module: its "
             "swap_slots parameter); the swap workload's is one per page of its working set.");
DEFINE_int64(swap_latency_us, 0,
             "Shadow backends: microseconds a swap-in (and a page written out) sleeps. Default: "
             "the space's (module: its swap_latency_us parameter, 100).");
DEFINE_string(swap_policy, "",
              "Shadow backends: what a vmalock fault does when it must wait for a swap-in: "
              "fallback (6.4: to mmap_lock at once), drop-retry (6.6: drop the VMA lock, wait, "
              "retry under mmap_lock), vma-retry (retry under the VMA lock), a comma list or "
              "all: one run each with vmalock, the first only with the other modes. Default: "
              "the space's (module: <debugfs>/shadowmm/swap_policy).");
DEFINE_string(layout, "",
              "Shadow backends: where threads map. per-thread (default): thread i in an "
              "address range of its own behind a PROT_NONE page, every short-lived mapping a "
              "VMA of its own; shared: every thread in one range beside a written anonymous "
              "page, as in a process, where Linux merges a short-lived mmap with that "
              "neighbour (so its first fault finds an anon_vma, and threads fault in the VMA "
              "the others split and merge).");
DEFINE_string(anon_policy, "",
              "Shadow backends: how a vmalock fault gives a VMA its first anon_vma: fallback "
              "(6.4 to 6.7: redo the fault under mmap_lock) or trylock (6.8+, vmf_anon_prepare(): "
              "under the VMA lock if mmap_read_trylock() succeeds). ebizzy -mTRp's records each "
              "take one such fault. Default: the space's (module: <debugfs>/shadowmm/anon_policy, "
              "trylock).");
DEFINE_string(tlb_policy, "",
              "Shadow backends: the space's TLBs. none: no TLB, every access walks and takes the "
              "PTE lock (no shootdowns); rcu: a TLB per CPU, shootdowns by IPI, page tables freed "
              "by RCU; ipi: the same, tables freed after an IPI round and speculative walks with "
              "interrupts off (not on PREEMPT_RT). Default: the space's (module: "
              "<debugfs>/shadowmm/tlb_policy, rcu).");
DEFINE_string(model, "",
              "Shadow backends: modelling choices to put back as shadowmm had them before the "
              "A/B against real kernels, a comma list (none: each as Linux does it, the "
              "default). unmap_write: an unmap holds the mmap write lock through its zap, table "
              "frees and shootdown (Linux's munmap() downgrades to read after detaching the "
              "VMAs); tlb_waiters_stay: a thread waiting for the mmap lock stays in the space's "
              "CPU mask and takes shootdowns (in Linux it sleeps and its CPU is lazy).");
DEFINE_bool(stock_sweep, false,
            "Only remove what stock runs killed by SIGKILL or the OOM killer left behind (their "
            "memory cgroup, swap device or file, listed in /run/shadowmm-bench), then exit.");
DEFINE_double(swap_ratio, 2, "swap: working set as a multiple of the resident budget (1..64).");
DEFINE_bool(swap_mapper, false,
            "swap: worker 0 does not access the working set: it maps a page elsewhere, touches "
            "it and unmaps it, over and over (an mmap_lock writer, as in any process that "
            "allocates), so faults that retry under mmap_lock meet one; it needs --threads of 2 "
            "or more, and its maps are counted apart (mapper_cycles).");
DEFINE_int64(swap_hot_pct, 0,
             "swap: 0 picks pages uniformly; 50..99 sends that percentage of accesses to the "
             "complementary percentage of pages (90: 90% of accesses to 10% of the pages).");
DEFINE_string(geometry, "",
              "Page size and table geometry of the shadow space: host (the running kernel's), "
              "4k (x86-64: 4 KiB, 4x512) or 64k (ppc64 radix: 64 KiB, 13/9/9/5 bits). "
              "Default: the space's default (inproc: host; module: <debugfs>/shadowmm/geometry). "
              "Stock: host only.");
DEFINE_string(bugs, "",
              "inproc: known-bug knobs to switch on for the run, comma-separated (names as in "
              "README's \"Known bugs, on purpose\"), to measure what a fix costs against its "
              "bug; every run's line and JSON record say so.  Never for a result.");
DEFINE_string(ebizzy, "-mTRp",
              "ebizzy's own flags, as ebizzy 0.3 takes them: -m always mmap, -M never mmap, "
              "-n N chunks (10), -p mprotect even chunks read-only, -P holes between chunks, "
              "-R random copy size, -s N chunk bytes (524288), -S N seconds, -t N threads, "
              "-T touch pages instead of copy and search, -l byte-loop copy instead of memcpy, "
              "-z linear search instead of bsearch, -v verbose. Default: the headline "
              "configuration -mTRp; '' for ebizzy's defaults.");
DEFINE_string(ebizzy_rng, "0.3",
              "ebizzy's random numbers, every thread's state starting at 0 (the seed of 0.3): "
              "0.3 (default: the 0.3 sources' 'state *= 1103515245 + 12345', which stays 0: "
              "every record takes chunk 0, key 0 and, with -R, a one-record copy) or lcg-fixed "
              "(the LCG it was meant to be, state = state * 1103515245 + 12345, from seed 0).");
DEFINE_int64(pagefault_size, 128LL << 20,
             "pagefault: bytes mapped, touched and unmapped per round.");
DEFINE_int64(pft_size, 256LL << 20, "pft: bytes of the shared mapping, split among the threads.");
DEFINE_int64(multifault_pages, 16, "multifault: pages in each thread's slot.");
DEFINE_int64(spf_test_areas, 64, "spf_test: areas (VMAs) each thread maps and faults in.");
DEFINE_int64(spf_test_pages, 16, "spf_test: pages in each area.");
DEFINE_int64(cow_size, 128LL << 20, "cow: bytes filled and forked, split between the threads.");
DEFINE_int64(fork_vmas, 10000,
             "fork: one-page mappings of the parent, alternately read-write and read-only.");
DEFINE_int64(fork_fault_pages, 256, "fork: pages each faulting thread writes and zaps per round.");
DEFINE_int64(uffd_pages, 64, "uffd: registered pages each faulting thread walks.");
DEFINE_int32(uffd_resolvers, 2, "uffd: threads that read events and copy pages in.");
DEFINE_bool(uffd_mapper, true, "uffd: one more thread maps, writes and unmaps elsewhere.");
DEFINE_string(mapbench, "local",
              "mapbench: local (each thread its own regions), pipeline (thread i maps and writes, "
              "thread i + 1 writes and unmaps) or global (one shared region, unmapped and mapped "
              "again between rounds).");
DEFINE_int64(mapbench_pages, 1,
             "mapbench: pages per region (sv6's npg); global: per thread, the shared region is "
             "threads x this.");

namespace shadowmm {
namespace {

constexpr const char* kUsage =
    "runs page-fault scalability workloads on the stock kernel, the shadowmm module or the "
    "shadowmm core in-process.\n"
    "usage: shadowmm-bench [--backend=stock|module|inproc] [--mode=classic|spf|vmalock|mmseq|all]\n"
    "                      [--workload=ebizzy|multifault|pagefault|pft|spf_test|swap|cow|fork|\n"
    "                                  uffd|mapbench]\n"
    "                      [--threads=1,2,4] [--duration=S] [--json=FILE] [--flagfile=FILE] ...\n"
    "e.g.   shadowmm-bench --backend=inproc --mode=all --threads=1,2,4 --duration=5 "
    "--ebizzy=-mTRp";

// Word-wraps @text at @width columns, every line indented by @indent.
std::string Wrap(const std::string& text, size_t indent, size_t width) {
  std::string out, line(indent, ' ');
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    std::string word = text.substr(start, end - start);
    if (line.size() > indent && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.assign(indent, ' ');
    }
    if (line.size() > indent) line += ' ';
    line += word;
    start = end + 1;
  }
  return out + line + "\n";
}

void PrintHelp() {
  std::printf("shadowmm-bench: %s\n\nflags:\n", kUsage);
  std::vector<gflags::CommandLineFlagInfo> flags;
  gflags::GetAllFlags(&flags);
  for (const auto& f : flags) {
    if (f.filename.find("main.cc") == std::string::npos) continue;
    std::printf("  --%s (%s, default \"%s\")\n%s", f.name.c_str(), f.type.c_str(),
                f.default_value.c_str(), Wrap(f.description, 6, 80).c_str());
  }
  std::printf(
      "  --flagfile=FILE\n      Read flags from FILE, one --flag=value per line.\n"
      "  --help\n      This text.\n\n"
      "Output: ebizzy's \"N records/s\" lines per run, then a table; --json adds\n"
      "per-run counters (user/harness/README.md has the schema).  Exit status 0 on success,\n"
      "1 with a one-line message on stderr when a flag or the machine does not allow the run,\n"
      "77 with a one-line \"skipped:\" message when the machine cannot set it up (stock swap\n"
      "without root, a memory cgroup or swapon).\n");
}

RawFlags FromGflags() {
  RawFlags raw;
  raw.backend = FLAGS_backend;
  raw.mode = FLAGS_mode;
  raw.workload = FLAGS_workload;
  raw.threads = FLAGS_threads;
  raw.duration = FLAGS_duration;
  raw.iterations = FLAGS_iterations;
  raw.warmup = FLAGS_warmup;
  raw.warmup_default = gflags::GetCommandLineFlagInfoOrDie("warmup").is_default;
  raw.repetitions = FLAGS_repetitions;
  raw.processes = FLAGS_processes;
  raw.no_affinity = FLAGS_no_affinity;
  raw.aslr = FLAGS_aslr;
  raw.submit = FLAGS_submit;
  raw.batch = FLAGS_batch;
  raw.touch_chunk_pages = FLAGS_touch_chunk_pages;
  raw.cpus = FLAGS_cpus;
  raw.node = FLAGS_node;
  raw.json = FLAGS_json;
  raw.ctl = FLAGS_ctl;
  raw.max_pages = FLAGS_max_pages;
  auto given = [](const char* name) {
    return !gflags::GetCommandLineFlagInfoOrDie(name).is_default;
  };
  if (given("resident_pages")) raw.resident_pages = FLAGS_resident_pages;
  if (given("swap_slots")) raw.swap_slots = FLAGS_swap_slots;
  if (given("swap_latency_us")) raw.swap_latency_us = FLAGS_swap_latency_us;
  raw.swap_policy = FLAGS_swap_policy;
  raw.anon_policy = FLAGS_anon_policy;
  raw.tlb_policy = FLAGS_tlb_policy;
  raw.model = FLAGS_model;
  raw.layout = FLAGS_layout;
  raw.swap_ratio = FLAGS_swap_ratio;
  raw.swap_hot_pct = FLAGS_swap_hot_pct;
  raw.swap_mapper = FLAGS_swap_mapper;
  raw.geometry = FLAGS_geometry;
  raw.bugs = FLAGS_bugs;
  raw.ebizzy = FLAGS_ebizzy;
  raw.ebizzy_rng = FLAGS_ebizzy_rng;
  raw.pagefault_size = FLAGS_pagefault_size;
  raw.pft_size = FLAGS_pft_size;
  raw.multifault_pages = FLAGS_multifault_pages;
  raw.spf_test_areas = FLAGS_spf_test_areas;
  raw.spf_test_pages = FLAGS_spf_test_pages;
  raw.cow_size = FLAGS_cow_size;
  raw.fork_vmas = FLAGS_fork_vmas;
  raw.fork_fault_pages = FLAGS_fork_fault_pages;
  raw.uffd_pages = FLAGS_uffd_pages;
  raw.uffd_resolvers = FLAGS_uffd_resolvers;
  raw.uffd_mapper = FLAGS_uffd_mapper;
  raw.mapbench = FLAGS_mapbench;
  raw.mapbench_pages = FLAGS_mapbench_pages;
  return raw;
}

// will-it-scale's runtest.py runs every test under `setarch -R`: the same
// addresses each run, so placement does not add noise.  Sets the
// personality and executes this program again with the same arguments; a
// machine that refuses gets runtest.py's warning and the run goes on.
void ExecWithoutAslr(const std::vector<std::string>& args) {
  int persona = personality(0xffffffff);
  if (persona < 0 || (persona & ADDR_NO_RANDOMIZE)) return;
  if (std::getenv("SHADOWMM_BENCH_REEXEC")) return;  // it did not stick: no loop
  if (personality(persona | ADDR_NO_RANDOMIZE) < 0) {
    std::fprintf(stderr,
                 "shadowmm-bench: warning: cannot disable ASLR, address space randomization "
                 "may cause variability\n");
    return;
  }
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  setenv("SHADOWMM_BENCH_REEXEC", "1", 1);
  std::fflush(nullptr);
  execv("/proc/self/exe", argv.data());
  std::fprintf(stderr, "shadowmm-bench: warning: re-exec without ASLR failed; ASLR stays on\n");
  personality(persona);
}

// Pinning list: --cpus, else the CPUs this process may run on (after
// --node bound it), else none with --no-affinity.
std::vector<int> WorkerCpus(const Options& o) {
  if (!o.affinity) return {};
  if (!o.cpus.empty()) return o.cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set)) return {};
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

std::string BugNames(unsigned long mask) {
  std::string out;
  for (unsigned b = 0; smm_bug_name(b); b++)
    if (mask & (1UL << b)) out += (out.empty() ? "" : ",") + std::string(smm_bug_name(b));
  return out;
}

std::string CpuListText(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) j++;
    out += (out.empty() ? "" : ",") + std::to_string(cpus[i]);
    if (j > i) out += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

// A run this machine does not allow (Skip): automake's "skipped" status.
constexpr int kExitSkip = 77;

int Main(int argc, char** argv) {
  const std::vector<std::string> args(argv, argv + argc);
  gflags::SetUsageMessage(kUsage);
  gflags::ParseCommandLineNonHelpFlags(&argc, &argv, /*remove_flags=*/true);
  if (FLAGS_help) {
    PrintHelp();
    return 0;
  }
  gflags::HandleCommandLineHelpFlags();  // --helpfull, --version...
  if (argc > 1) {
    std::fprintf(stderr, "shadowmm-bench: unexpected argument '%s' (flags are --name=value)\n",
                 argv[1]);
    return 1;
  }
  if (FLAGS_stock_sweep) {
    SweepStockLeftovers();
    return 0;
  }
  Options o;
  if (std::string err = ParseOptions(FromGflags(), &o); !err.empty()) {
    std::fprintf(stderr, "shadowmm-bench: %s\n", err.c_str());
    return 1;
  }

  if (o.backend == "stock" && !o.aslr) ExecWithoutAslr(args);
  unsetenv("SHADOWMM_BENCH_REEXEC");

  std::ofstream json_file;
  if (!o.json.empty() && o.json != "-") {
    json_file.open(o.json);
    if (!json_file) {
      std::fprintf(stderr, "shadowmm-bench: cannot write --json file %s\n", o.json.c_str());
      return 1;
    }
  }

  std::vector<RunRecord> runs;
  try {
    std::optional<InprocBugs> bugs;
    if (o.bugs) bugs.emplace(o.bugs);
    if (o.node) BindToNode(*o.node);
    const std::vector<int> cpus = WorkerCpus(o);
    // For each thread count, repetition r of every mode before r + 1, so
    // that drift (a neighbour's build, the CPU's clock) hits every mode.
    for (unsigned threads : o.threads) {
      for (unsigned rep = 1; rep <= o.repetitions; rep++) {
        for (auto [mode, policy] : ModeRuns(o.modes, o.swap_policies)) {
          std::unique_ptr<Workload> workload = MakeWorkload(o.workload);
          BackendConfig bc;
          bc.name = o.backend;
          bc.mode = mode;
          bc.threads = threads;
          bc.submit = o.submit;
          bc.batch = o.batch;
          bc.touch_chunk_pages = o.touch_chunk_pages;
          bc.ctl_path = o.ctl;
          bc.max_pages = o.max_pages;
          bc.swap_slots = o.swap_slots;
          bc.swap_latency_us = o.swap_latency_us;
          bc.swap_policy = policy;
          bc.anon_policy = o.anon_policy;
          bc.tlb_policy = o.tlb_policy;
          bc.model = o.model;
          bc.layout = o.layout;
          bc.geometry = o.geometry;

          RunConfig rc;
          rc.threads = threads;
          rc.seconds = o.seconds;
          rc.iterations = o.iterations;
          rc.cpus = cpus;
          rc.warmup = o.warmup;
          rc.kernel_counters = o.backend == "stock";

          RunRecord run;
          run.workload = std::string(workload->Name());
          run.record_unit = std::string(workload->RecordUnit());
          run.backend = o.backend;
          run.mode = mode;
          if (o.backend == "module") run.submit = o.submit;
          run.batch = o.batch;
          run.touch_chunk_pages = o.touch_chunk_pages;
          run.threads = threads;
          run.cpus = CpuListText(cpus);
          run.node = o.node;
          run.repetition = rep;
          run.processes = o.processes;
          run.affinity = !cpus.empty();
          run.warmup = o.iterations == 0 ? o.warmup : 0;

          // Workers that are processes make their own spaces: one made
          // here says what geometry they get.
          std::unique_ptr<Backend> backend = MakeBackend(bc);
          run.geometry = std::string(GeometryName(backend->Geometry()));
          run.page_size = backend->PageSize();
          run.memory = backend->Memory();
          // The policy is how a vmalock fault waits: for a swap-in, and
          // for a userfault (uffd runs have no swap but differ by it).
          if (run.memory->swap_slots || (run.workload == "uffd" && mode == Mode::kVmalock))
            run.swap_policy = backend->SwapPolicy();
          if (mode == Mode::kVmalock) run.anon_policy = backend->AnonPolicy();
          run.tlb_policy = backend->TlbPolicy();
          run.model = backend->Model();
          if (o.backend != "stock") run.layout = std::string(LayoutName(o.layout));
          run.memory_note = backend->MemoryNote();
          run.bugs = BugNames(o.bugs);
          if (o.processes) backend.reset();

          std::printf("# %s %s backend=%s mode=%s %s=%u", run.workload.c_str(),
                      run.workload == "ebizzy"     ? o.workload.ebizzy.c_str()
                      : run.workload == "mapbench" ? o.workload.mapbench_mode.c_str()
                                                   : "",
                      run.backend.c_str(), std::string(ModeName(mode)).c_str(),
                      o.processes ? "processes" : "threads", threads);
          if (o.repetitions > 1) std::printf(" rep=%u/%u", rep, o.repetitions);
          std::printf(" geometry=%s page=%llu", run.geometry.c_str(),
                      static_cast<unsigned long long>(run.page_size));
          if (run.memory->max_pages || run.memory->swap_slots)
            std::printf(" resident_pages=%llu swap_slots=%llu",
                        static_cast<unsigned long long>(run.memory->max_pages),
                        static_cast<unsigned long long>(run.memory->swap_slots));
          if (run.memory->swap_slots && run.backend != "stock")
            std::printf(" swap_latency_us=%llu",
                        static_cast<unsigned long long>(run.memory->swap_latency_us));
          if (run.swap_policy)
            std::printf(" swap_policy=%s", std::string(SwapPolicyName(*run.swap_policy)).c_str());
          if (run.anon_policy)
            std::printf(" anon_policy=%s", std::string(AnonPolicyName(*run.anon_policy)).c_str());
          if (run.tlb_policy)
            std::printf(" tlb_policy=%s", std::string(TlbPolicyName(*run.tlb_policy)).c_str());
          // Only choices that depart from Linux (the JSON has the mask).
          if (run.model && *run.model) std::printf(" model=%s", ModelName(*run.model).c_str());
          if (!run.layout.empty()) std::printf(" layout=%s", run.layout.c_str());
          if (!run.bugs.empty()) std::printf(" BUGS=%s", run.bugs.c_str());
          if (!run.memory_note.empty()) std::printf(" (%s)", run.memory_note.c_str());
          std::printf("\n");
          std::fflush(stdout);
          if (o.processes) {
            run.result = RunWorkloadProcesses(bc, o.workload, rc);
          } else {
            run.result = RunWorkload(*backend, *workload, rc);
          }
          run.config = workload->Config();  // after the run: the swap workload's sizes
          run.results = workload->Results();
          PrintEbizzyLines(std::cout, run);
          std::cout << workload->Summary();
          std::cout.flush();
          runs.push_back(std::move(run));
        }
      }
    }
  } catch (const Skip& e) {
    std::fprintf(stderr, "shadowmm-bench: skipped: %s\n", e.what());
    return kExitSkip;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shadowmm-bench: %s\n", e.what());
    return 1;
  }

  std::cout << "\n";
  PrintTable(std::cout, runs);
  if (o.bugs)
    std::cout << "KNOWN BUGS ON in every run above: " << BugNames(o.bugs)
              << " (--bugs: what the fix costs, not a result)\n";
  if (o.json == "-") {
    std::cout << ToJson(runs);
  } else if (json_file.is_open()) {
    json_file << ToJson(runs);
    json_file.close();
    if (!json_file) {
      std::fprintf(stderr, "shadowmm-bench: writing %s failed\n", o.json.c_str());
      return 1;
    }
  }
  return 0;
}

}  // namespace
}  // namespace shadowmm

int main(int argc, char** argv) { return shadowmm::Main(argc, argv); }
