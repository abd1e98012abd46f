// SPDX-License-Identifier: GPL-2.0
#include "ebizzy.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "backend.h"
#include "test_util.h"
#include "workload.h"
#include "workloads.h"

namespace shadowmm {
namespace {

TEST(EbizzyFlags, DefaultsAreEbizzys) {
  EbizzyOptions o;
  ASSERT_EQ(ParseEbizzyFlags("", &o), "");
  EXPECT_EQ(o.chunks, 10u);
  EXPECT_EQ(o.chunk_size, 512u * 1024);
  EXPECT_FALSE(o.always_mmap || o.touch_pages || o.random_size || o.use_permissions);
  EXPECT_FALSE(o.threads.has_value());
  EXPECT_FALSE(o.seconds.has_value());
}

TEST(EbizzyFlags, HeadlineClusterAndArguments) {
  EbizzyOptions o;
  ASSERT_EQ(ParseEbizzyFlags("-mTRp -n 20 -s0x1000 -t4 -S 3 -vv", &o), "");
  EXPECT_TRUE(o.always_mmap);
  EXPECT_TRUE(o.touch_pages);
  EXPECT_TRUE(o.random_size);
  EXPECT_TRUE(o.use_permissions);
  EXPECT_FALSE(o.use_holes);
  EXPECT_EQ(o.chunks, 20u);
  EXPECT_EQ(o.chunk_size, 4096u);
  EXPECT_EQ(o.threads, 4u);
  EXPECT_EQ(o.seconds, 3u);
  EXPECT_EQ(o.verbose, 2u);
}

TEST(EbizzyFlags, ArgumentInsideACluster) {
  EbizzyOptions o;
  ASSERT_EQ(ParseEbizzyFlags("-mn5 -P", &o), "");
  EXPECT_TRUE(o.always_mmap);
  EXPECT_EQ(o.chunks, 5u);
  EXPECT_TRUE(o.use_holes);
}

TEST(EbizzyFlags, RefusesWhatEbizzyRefuses) {
  EbizzyOptions o;
  EXPECT_NE(ParseEbizzyFlags("-x", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-n 0", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-t", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-s 4", &o), "");  // smaller than a record
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-mM", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("mTRp", &o), "");
  o = {};
  EXPECT_NE(ParseEbizzyFlags("-S abc", &o), "");
}

TEST(EbizzyRng, LcgAndThe03Expression) {
  uint32_t state = 0;
  // state = 0 * a + c = 12345; 12345 / 65536 = 0.
  EXPECT_EQ(EbizzyRand(10, &state, EbizzyRng::kLcgFixed), 0u);
  EXPECT_EQ(state, 12345u);
  uint32_t expect = 12345u * 1103515245u + 12345u;
  EXPECT_EQ(EbizzyRand(1000, &state, EbizzyRng::kLcgFixed), (expect / 65536) % 1000);

  state = 0;
  for (int i = 0; i < 100; i++) EXPECT_EQ(EbizzyRand(10, &state, EbizzyRng::kEbizzy03), 0u);
  EXPECT_EQ(state, 0u);
  EXPECT_EQ(ParseEbizzyRng("0.3"), EbizzyRng::kEbizzy03);
  EXPECT_EQ(ParseEbizzyRng("lcg-fixed"), EbizzyRng::kLcgFixed);
  EXPECT_EQ(EbizzyRngName(EbizzyRng::kLcgFixed), "lcg-fixed");
  EXPECT_FALSE(ParseEbizzyRng("mt19937").has_value());
}

// ebizzy 0.3's behaviour is the default, wherever the default is set.
TEST(EbizzyRng, DefaultIs03) {
  WorkloadOptions wo;
  EXPECT_EQ(wo.ebizzy_rng, "0.3");
  wo.name = "ebizzy";
  wo.ebizzy = "-mTR";
  EXPECT_EQ(MakeWorkload(wo)->Config().at("rng"), "0.3");
  wo.ebizzy_rng = "lcg-fixed";
  EXPECT_EQ(MakeWorkload(wo)->Config().at("rng"), "lcg-fixed");
  wo.ebizzy_rng = "lcg2";
  EXPECT_THROW(MakeWorkload(wo), Error);
}

// Copy (memcpy and -l's byte loop) and Search (bsearch and -z's linear
// search) on every backend there is: the same bytes arrive, the same
// records are found, a missing key is an error as in ebizzy.
class CopySearchOn : public testing::TestWithParam<std::string> {};

TEST_P(CopySearchOn, SameBytesSameRecords) {
  if (GetParam() == "module" && !ModuleAvailable())
    GTEST_SKIP() << CtlPath() << " is absent: load shadowmm.ko";
  std::unique_ptr<Backend> backend = MakeBackend(Config(GetParam(), 1));
  std::unique_ptr<BackendThread> t = backend->Attach(0);
  const uint64_t records = 3 * 4096 / 8 + 5, bytes = records * 8;
  const uint64_t src = t->Map(bytes, Prot::kReadWrite);
  for (uint64_t j = 0; j < records; j++) t->Fault(src + 8 * j, Access::kWrite, 3 * j);
  for (CopyLoop loop : {CopyLoop::kMemcpy, CopyLoop::kByteLoop}) {
    const uint64_t dst = t->Map(bytes + 4096, Prot::kReadWrite);
    // Off by one record, so pieces cross page boundaries differently.
    t->Copy(dst + 8, src, bytes, loop);
    EXPECT_EQ(t->Load(dst), 0u);
    for (uint64_t j = 0; j < records; j += 97) ASSERT_EQ(t->Load(dst + 8 + 8 * j), 3 * j);
    EXPECT_EQ(t->Load(dst + 8 + bytes - 8), 3 * (records - 1));
    for (SearchKind kind : {SearchKind::kBinary, SearchKind::kLinear}) {
      for (uint64_t j : {uint64_t{0}, uint64_t{511}, records - 1}) {
        std::optional<uint64_t> at = t->Search(dst + 8, bytes, 8, 3 * j, kind);
        ASSERT_TRUE(at.has_value());
        EXPECT_EQ(*at, j);
      }
      EXPECT_THROW(t->Search(dst + 8, bytes, 8, 3 * 5 + 1, kind), Error);
    }
    t->Unmap(dst, bytes + 4096);
  }
  t->Unmap(src, bytes);
}

INSTANTIATE_TEST_SUITE_P(Backends, CopySearchOn, testing::Values("stock", "inproc", "module"),
                         [](const testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// -M: glibc's heap stops mapping large allocations (ebizzy's mallopt()).
// Process-wide and for good, so in a child.
TEST(EbizzyHeap, NeverMmapIsMalloptOnStock) {
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  // There the stock heap is the sanitizer's malloc, which has no
  // M_MMAP_MAX: what this checks is glibc's.
  GTEST_SKIP() << "the sanitizer's malloc stands in for glibc's";
#endif
  EXPECT_EXIT(
      {
        std::unique_ptr<Backend> backend = MakeBackend(Config("stock", 1));
        std::unique_ptr<BackendThread> t = backend->Attach(0);
        void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        auto info = reinterpret_cast<struct mallinfo2 (*)()>(dlsym(libc, "mallinfo2"));
        uint64_t big = t->HeapAlloc(64 << 20);  // mapped, glibc's default
        const size_t mapped = info().hblks;
        t->HeapFree(big);
        backend->HeapNeverMmap();
        big = t->HeapAlloc(128 << 20);  // beyond any dynamic threshold
        const size_t after = info().hblks;
        t->HeapFree(big);
        std::exit(mapped == 1 && after == 0 ? 0 : 1);
      },
      testing::ExitedWithCode(0), "");
}

// The shadow heap: one mapping per thread, reused, replaced when too small.
TEST(EbizzyHeap, ShadowHeapIsOneMappingReused) {
  std::unique_ptr<Backend> backend = MakeBackend(Config("inproc", 1));
  std::unique_ptr<BackendThread> t = backend->Attach(1);
  const uint64_t maps = backend->Stats().counter[SHADOWMM_EV_OP_MAP];
  uint64_t a = t->HeapAlloc(8);
  EXPECT_THROW(t->HeapAlloc(8), Error);  // one at a time
  t->HeapFree(a);
  EXPECT_EQ(t->HeapAlloc(4096), a);
  t->HeapFree(a);
  uint64_t b = t->HeapAlloc(3 * 4096);
  t->HeapFree(b);
  t->HeapRelease();
  const shadowmm_stats st = backend->Stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_OP_MAP] - maps, 2u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_OP_UNMAP], 2u);
}

struct EbizzyRun {
  RunResult result;
  shadowmm_stats end{};
};

EbizzyRun RunEbizzy(const std::string& backend_name, const std::string& flags,
                    const std::string& rng, unsigned threads, uint64_t iterations) {
  WorkloadOptions wo;
  wo.name = "ebizzy";
  wo.ebizzy = flags;
  wo.ebizzy_rng = rng;
  std::unique_ptr<Workload> w = MakeWorkload(wo);
  std::unique_ptr<Backend> backend = MakeBackend(Config(backend_name, threads));
  RunConfig rc;
  rc.threads = threads;
  rc.iterations = iterations;
  EbizzyRun run;
  run.result = RunWorkload(*backend, *w, rc);
  run.end = backend->Stats();
  return run;
}

uint64_t Delta(const EbizzyRun& r, shadowmm_counter c) { return r.result.delta.counter[c]; }

// Without -T every record copies its chunk and searches the copy, through
// the shadow pages: COPY moves chunk_size bytes, SEARCH finds the key.
TEST(EbizzyWorkload, CopiesAndSearchesThroughTheShadowPages) {
  EbizzyRun run = RunEbizzy("inproc", "-n 3 -s 16384", "0.3", 2, 7);
  EXPECT_EQ(run.result.total.records, 14u);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_OP_COPY), 14u);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_COPY_BYTES), 14u * 16384);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_OP_SEARCH), 14u);
  // 0.3's key is 0: bisection over 2048 records probes 12 times.
  EXPECT_EQ(Delta(run, SHADOWMM_EV_SEARCH_COMPARE), 14u * 12);
  // The heap copy faults once per thread; the chunks were written in setup.
  EXPECT_EQ(Delta(run, SHADOWMM_EV_FAULT), 2u * 4);
}

// The runner's thread wrote the chunks in setup, then only waits: it
// leaves the space (TLB_LEAVE) before the workers start, as its CPU would
// switch away on Linux, so one worker's unmaps interrupt nobody (before
// TLB_LEAVE each of them interrupted the runner's thread).
TEST(EbizzyWorkload, TheWaitingRunnerTakesNoShootdowns) {
  EbizzyRun one = RunEbizzy("inproc", "-mTRp", "0.3", 1, 20);
  EXPECT_EQ(Delta(one, SHADOWMM_EV_TLB_SHOOTDOWN), 0u);
  EXPECT_GE(Delta(one, SHADOWMM_EV_TLB_LEAVE), 1u);
}

// -z: ebizzy's linear search.  With 0.3's key 0 it stops at the first
// record; with the fixed LCG it scans to a random key.
TEST(EbizzyWorkload, LinearSearch) {
  EbizzyRun run = RunEbizzy("inproc", "-z -n 3 -s 16384", "0.3", 1, 5);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_SEARCH_COMPARE), 5u);
  run = RunEbizzy("inproc", "-z -n 3 -s 16384", "lcg-fixed", 1, 20);
  EXPECT_GT(Delta(run, SHADOWMM_EV_SEARCH_COMPARE), 20u * 100);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_OP_SEARCH), 20u);
}

// -R with 0.3's generator: every record copies one record of chunk 0.
TEST(EbizzyWorkload, Rng03CopiesOneRecordOfChunk0) {
  EbizzyRun run = RunEbizzy("inproc", "-mR -n 3 -s 16384", "0.3", 1, 10);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_COPY_BYTES), 10u * 8);
  EXPECT_EQ(Delta(run, SHADOWMM_EV_SEARCH_COMPARE), 10u);
  // The fixed LCG copies random sizes.
  run = RunEbizzy("inproc", "-mR -n 3 -s 16384", "lcg-fixed", 1, 10);
  EXPECT_GT(Delta(run, SHADOWMM_EV_COPY_BYTES), 10u * 8);
}

// -l and -M change how stock copies and allocates, not what a shadow
// record does: the same counters as without them.
TEST(EbizzyWorkload, ByteLoopAndNeverMmapOnShadowBackends) {
  EbizzyRun plain = RunEbizzy("inproc", "-n 2 -s 8192", "0.3", 1, 6);
  EbizzyRun flags = RunEbizzy("inproc", "-l -M -n 2 -s 8192", "0.3", 1, 6);
  for (shadowmm_counter c :
       {SHADOWMM_EV_ACCESS, SHADOWMM_EV_FAULT, SHADOWMM_EV_COPY_BYTES, SHADOWMM_EV_SEARCH_COMPARE})
    EXPECT_EQ(Delta(plain, c), Delta(flags, c)) << CounterName(c);
}

// Stock runs every flag of ebizzy 0.3 (a few records each).
TEST(EbizzyWorkload, StockRunsEveryFlag) {
  for (const char* flags : {"", "-m", "-mT", "-mTRp", "-mRp", "-l", "-z", "-R", "-TR", "-p", "-P",
                            "-mpP", "-s 65536", "-mlz"}) {
    SCOPED_TRACE(flags);
    EbizzyRun run = RunEbizzy("stock", std::string(flags) + " -n 3 -s 65536", "lcg-fixed", 2, 5);
    EXPECT_EQ(run.result.total.records, 10u);
  }
}

}  // namespace
}  // namespace shadowmm
