// SPDX-License-Identifier: GPL-2.0
//
// shadowmm-bench as a user meets it: --help, refusals (one line on stderr,
// exit status 1) and a short real run with JSON.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "test_util.h"

namespace shadowmm {
namespace {

struct Result {
  int status = -1;
  std::string out;
  std::string err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Result Bench(const std::string& args) {
  // Unique per call: ctest runs the Cli tests in parallel.
  static int calls;
  std::string stem = testing::TempDir() + "/shadowmm-bench." + std::to_string(getpid()) + "." +
                     std::to_string(calls++);
  std::string out = stem + ".out", err = stem + ".err";
  std::string cmd = std::string(SHADOWMM_BENCH_PATH) + " " + args + " >" + out + " 2>" + err;
  int raw = std::system(cmd.c_str());
  Result r;
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = Slurp(out);
  r.err = Slurp(err);
  unlink(out.c_str());
  unlink(err.c_str());
  return r;
}

void ExpectOneLineRefusal(const std::string& args, const std::string& needle = "") {
  SCOPED_TRACE(args);
  Result r = Bench(args);
  EXPECT_NE(r.status, 0);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // exactly one line
  if (!needle.empty()) {
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
}

TEST(Cli, HelpExplainsEveryFlag) {
  Result r = Bench("--help");
  EXPECT_EQ(r.status, 0);
  for (const char* flag :
       {"--backend",    "--mode",           "--workload", "--threads",           "--duration",
        "--iterations", "--submit",         "--batch",    "--touch_chunk_pages", "--cpus",
        "--node",       "--json",           "--ctl",      "--max_pages",         "--ebizzy ",
        "--ebizzy_rng", "--pagefault_size", "--pft_size", "--multifault_pages",  "--flagfile"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
  for (const char* flag : {"--repetitions", "--processes", "--no_affinity", "--aslr",
                           "--spf_test_areas", "--spf_test_pages", "--resident_pages",
                           "--swap_slots", "--swap_latency_us", "--swap_policy", "--swap_ratio",
                           "--swap_hot_pct", "--stock_sweep", "--mapbench ", "--mapbench_pages"})
    EXPECT_NE(r.out.find(flag), std::string::npos) << flag;
}

TEST(Cli, Refusals) {
  ExpectOneLineRefusal("--threads=0", "threads");
  ExpectOneLineRefusal("--mode=turbo", "turbo");
  ExpectOneLineRefusal("--backend=qemu", "qemu");
  ExpectOneLineRefusal("--backend=stock --mode=spf", "stock");
  ExpectOneLineRefusal("--no_such_flag");
  ExpectOneLineRefusal("positional");
  ExpectOneLineRefusal("--ebizzy=-q", "-q");
  ExpectOneLineRefusal("--json=/nonexistent/dir/out.json --iterations=1 --threads=1", "json");
  ExpectOneLineRefusal("--backend=module --ctl=/nonexistent/ctl --threads=1", "/nonexistent/ctl");
  if (!ModuleAvailable() && CtlPath() == kDefaultCtlPath)
    ExpectOneLineRefusal("--backend=module --threads=1");
}

TEST(Cli, ShortRunWithJson) {
  std::string stem = testing::TempDir() + "/shadowmm-bench." + std::to_string(getpid());
  std::string json = stem + ".json";
  std::string flags = stem + ".flags";
  {
    std::ofstream f(flags);
    f << "--backend=inproc\n--mode=classic,spf\n--threads=1,2\n--iterations=20\n";
  }
  Result r = Bench("--flagfile=" + flags + " --ebizzy='-mTRp -s 65536' --json=" + json);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(" records/s\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("workload"), std::string::npos);
  std::string j = Slurp(json);
  for (const char* key :
       {"\"workload\": \"ebizzy\"", "\"backend\": \"inproc\"", "\"mode\": \"spf\"",
        "\"threads\": 2", "\"seconds\"", "\"records_per_s\"", "\"faults\"", "\"faults_per_s\"",
        "\"fault_path\"", "\"aborts\"", "\"spf_attempt\"", "\"records\": 40"})
    EXPECT_NE(j.find(key), std::string::npos) << key << "\n" << j;
  unlink(json.c_str());
  unlink(flags.c_str());
}

TEST(Cli, StockRun) {
  Result r = Bench(
      "--backend=stock --workload=pagefault --pagefault_size=1048576 --threads=2 "
      "--iterations=2 --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("\"mode\": \"stock\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"records\": 1024"), std::string::npos) << r.out;
}

TEST(Cli, TimedRunWithWarmup) {
  Result r = Bench("--workload=pft --pft_size=1048576 --threads=2 --duration=0.1 --warmup=0.1");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(" pages/s\n"), std::string::npos) << r.out;
}

TEST(Cli, GeometryIsTheSpacesAndReported) {
  Result r = Bench(
      "--backend=inproc --mode=spf --threads=1 --iterations=5 --no-affinity --geometry=64k "
      "--ebizzy='-mTRp -s 65536' --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("geometry=64k page=65536"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"geometry\": \"64k\", \"page_size\": 65536"), std::string::npos) << r.out;
  r = Bench("--backend=inproc --threads=1 --iterations=5 --no-affinity --geometry=4k");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("geometry=4k page=4096"), std::string::npos) << r.out;
}

TEST(Cli, GeometryOtherThanHostIsRefusedOnStock) {
  Result r = Bench("--backend=stock --threads=1 --iterations=5 --geometry=64k");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("--geometry=64k"), std::string::npos) << r.err;
  r = Bench("--backend=inproc --geometry=16k");
  EXPECT_NE(r.status, 0);
  EXPECT_NE(r.err.find("unknown geometry '16k'"), std::string::npos) << r.err;
}

TEST(Cli, RepetitionsInterleaveAndKeepEverySample) {
  Result r = Bench(
      "--backend=inproc --mode=classic,spf --threads=1 --iterations=5 --repetitions=3 "
      "--no-affinity --ebizzy='-mTRp -s 65536' --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  // Round-robin: repetition 1 of every mode before repetition 2.
  size_t c1 = r.out.find("mode=classic threads=1 rep=1/3");
  size_t s1 = r.out.find("mode=spf threads=1 rep=1/3");
  size_t c2 = r.out.find("mode=classic threads=1 rep=2/3");
  ASSERT_NE(c1, std::string::npos) << r.out;
  ASSERT_NE(s1, std::string::npos) << r.out;
  ASSERT_NE(c2, std::string::npos) << r.out;
  EXPECT_LT(c1, s1);
  EXPECT_LT(s1, c2);
  for (const char* key : {"\"repetition\": 3", "\"affinity\": false", "\"samples\": ["})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
  size_t runs = 0;
  for (size_t at = 0; (at = r.out.find("\"workload\": \"ebizzy\"", at)) != std::string::npos; at++)
    runs++;
  EXPECT_EQ(runs, 6u);
}

TEST(Cli, ProcessesSpfTestAndStockCounters) {
  Result r = Bench(
      "--backend=stock --workload=spf_test --spf_test_areas=4 --spf_test_pages=4 --threads=2 "
      "--processes --iterations=2 --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("processes=2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" ns per page"), std::string::npos) << r.out;
  for (const char* key : {"\"processes\": true", "\"affinity\": true", "\"records\": 64",
                          "\"kernel\": {", "\"pgfault\": ", "\"timed_ns\": "})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  // runtest.py's setarch -R, unless this machine refuses (then it warns).
  if (r.err.find("ASLR") == std::string::npos) {
    EXPECT_NE(r.out.find("\"aslr\": false"), std::string::npos) << r.out;
  }
  Result on =
      Bench("--backend=stock --workload=spf_test --threads=1 --iterations=1 --aslr --json=-");
  ASSERT_EQ(on.status, 0) << on.err;
  EXPECT_EQ(on.out.find("\"aslr\": false"), std::string::npos) << on.out;
}

TEST(Cli, RepetitionAndAffinityRefusals) {
  ExpectOneLineRefusal("--repetitions=0", "repetitions");
  ExpectOneLineRefusal("--no-affinity --cpus=0", "no-affinity");
  ExpectOneLineRefusal("--workload=spf_test --spf_test_areas=0", "spf_test");
}

TEST(Cli, MapbenchReportsTouchesAndShootdownsPerUnmap) {
  Result r = Bench(
      "--backend=inproc --workload=mapbench --mapbench=pipeline --threads=2 --iterations=50 "
      "--no-affinity --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find(" touches/s\n"), std::string::npos) << r.out;
  // 1 or, when the other thread left before the last unmap, 0.99.
  EXPECT_NE(r.out.find("mapbench pipeline: 100 unmaps, "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(" shootdowns and "), std::string::npos) << r.out;
  for (const char* key : {"\"config\": {\"mapbench\": \"pipeline\", \"pages\": \"1\"}",
                          "\"results\": {\"ipis_per_unmap\": ", "\"shootdowns_per_unmap\": ",
                          "\"underflows\": ", "\"records\": 200"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  r = Bench("--backend=stock --workload=mapbench --mapbench=local --threads=2 --iterations=50");
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("mapbench local: 100 unmaps"), std::string::npos) << r.out;
  ExpectOneLineRefusal("--workload=mapbench --mapbench=random", "random");
  ExpectOneLineRefusal("--workload=mapbench --mapbench_pages=0", "mapbench_pages");
}

TEST(Cli, SwapRunPerPolicy) {
  Result r = Bench(
      "--backend=inproc --workload=swap --mode=classic,vmalock --swap_policy=all --threads=2 "
      "--iterations=200 --resident_pages=64 --swap_latency_us=0 --no-affinity --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  // classic once (the policy is vmalock's), vmalock once per policy.
  for (const char* line :
       {"mode=classic threads=2 geometry=", "mode=vmalock threads=2 geometry=",
        "resident_pages=64 swap_slots=128 swap_latency_us=0 swap_policy=fallback",
        "swap_policy=drop-retry", "swap_policy=vma-retry", " accesses/s\n", "vmalock/vma-retry",
        "swap, medians:", "retry/maj"})
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  size_t runs = 0;
  for (size_t at = 0; (at = r.out.find("\"workload\": \"swap\"", at)) != std::string::npos; at++)
    runs++;
  EXPECT_EQ(runs, 4u);
  for (const char* key : {"\"swap_policy\": \"vma-retry\"", "\"memory\": {\"max_pages\": 64",
                          "\"majfaults\": ", "\"slept_share\": ", "\"retries_per_majfault\": ",
                          "\"working_set_pages\": \"128\"", "\"records\": 400"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key;
}

// ebizzy -mTRp's records are fresh VMAs, each faulted once: with
// --anon_policy=fallback every vmalock fault goes to mmap_lock (6.4),
// with trylock (6.8+) one thread alone never has to.
TEST(Cli, AnonPolicyDecidesEbizzysFirstFaults) {
  for (const char* policy : {"fallback", "trylock"}) {
    SCOPED_TRACE(policy);
    Result r = Bench(std::string("--backend=inproc --mode=vmalock --threads=1 --iterations=50 "
                                 "--no-affinity --json=- --anon_policy=") +
                     policy);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(
        r.out.find(std::string(" anon_policy=") + policy + " tlb_policy=rcu layout=per-thread\n"),
        std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find(std::string("\"anon_policy\": \"") + policy + "\""), std::string::npos);
    const bool fallback = std::string(policy) == "fallback";
    EXPECT_NE(r.out.find(fallback ? "\"vma_lock_no_anon\": 50" : "\"vma_lock_anon_prepare\": 50"),
              std::string::npos)
        << r.out;
  }
  ExpectOneLineRefusal("--backend=inproc --anon_policy=maybe", "--anon_policy");
}

// --tlb_policy: none has no TLB, so an unmap interrupts nobody; with rcu
// and ipi each record's unmap shoots down the other thread, which has the
// space in its TLB mask.  The header line and the JSON say which.
TEST(Cli, TlbPolicyIsTheSpaces) {
  for (const char* policy : {"none", "rcu", "ipi"}) {
    SCOPED_TRACE(policy);
    Result r = Bench(std::string("--backend=inproc --mode=spf --threads=2 --iterations=50 "
                                 "--no-affinity --json=- --tlb_policy=") +
                     policy);
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(std::string(" tlb_policy=") + policy + " "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(std::string("\"tlb_policy\": \"") + policy + "\""), std::string::npos);
    const bool none = std::string(policy) == "none";
    // Each worker entered the space's mask and left it when done (not
    // shootdowns: under load one worker may finish before the other starts).
    EXPECT_EQ(r.out.find("\"tlb_leave\": 0") != std::string::npos, none) << r.out;
  }
  ExpectOneLineRefusal("--backend=inproc --tlb_policy=lazy", "--tlb_policy");
}

// --swap_mapper: worker 0 maps, touches and unmaps elsewhere (an
// mmap_lock writer); the others' accesses are the records.
// --layout=shared: a record's mapping joins the written page beside it,
// as in a process, so even with 6.4's fallback its fault under the VMA
// lock finds the anon_vma there; and the threads share that VMA.
TEST(Cli, SharedLayoutMergesRecordsWithTheirNeighbour) {
  Result r = Bench(
      "--backend=inproc --mode=vmalock --anon_policy=fallback --layout=shared --threads=2 "
      "--iterations=50 --no-affinity --json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  // No record needs an anon_vma of its own; a fault may still lose its
  // VMA to the other thread's map or unmap (vma_lock_abort, _miss).
  for (const char* key : {" layout=shared\n", "\"layout\": \"shared\"", "\"op_map\": 100,",
                          "\"vma_lock_no_anon\": 0,", "\"anon_vma_alloc\": 0,"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  EXPECT_EQ(r.out.find("\"vma_lock_success\": 0,"), std::string::npos) << r.out;
  ExpectOneLineRefusal("--backend=inproc --layout=tiled", "--layout");
  ExpectOneLineRefusal("--backend=stock --mode=stock --layout=shared", "--layout");
}

TEST(Cli, SwapWithAMapper) {
  Result r = Bench(
      "--backend=inproc --workload=swap --mode=vmalock --swap_policy=drop-retry --threads=3 "
      "--iterations=100 --resident_pages=64 --swap_latency_us=0 --no-affinity --swap_mapper "
      "--json=-");
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* key : {"\"mapper\": \"1\"", "\"mapper_cycles\": \"100\"", "\"records\": 200",
                          "\"op_map\": 100", "\"op_unmap\": 100"})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << "\n" << r.out;
  ExpectOneLineRefusal(
      "--backend=inproc --workload=swap --threads=1 --swap_mapper "
      "--resident_pages=64 --iterations=10",
      "--swap_mapper");
  ExpectOneLineRefusal("--backend=inproc --workload=ebizzy --swap_mapper", "--swap_mapper");
}

TEST(Cli, SwapRefusals) {
  ExpectOneLineRefusal("--workload=swap --swap_policy=turbo", "turbo");
  ExpectOneLineRefusal("--workload=swap --swap_ratio=0.5", "--swap_ratio");
  ExpectOneLineRefusal("--workload=swap --swap_hot_pct=20", "--swap_hot_pct");
  ExpectOneLineRefusal("--workload=swap --swap_latency_us=-5", "--swap_latency_us");
  ExpectOneLineRefusal("--workload=swap --resident_pages=-1", "--resident_pages");
  ExpectOneLineRefusal("--workload=swap --resident_pages=8 --max_pages=9", "older name");
  ExpectOneLineRefusal("--backend=stock --workload=swap --swap_policy=fallback", "stock");
  ExpectOneLineRefusal("--backend=stock --workload=swap --swap_slots=0", "OOM");
}

}  // namespace
}  // namespace shadowmm
