// SPDX-License-Identifier: GPL-2.0
//
// Flag validation: what shadowmm-bench accepts, and that every refusal is
// one line.
#include "options.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

namespace shadowmm {
namespace {

std::string Refusal(RawFlags raw) {
  Options o;
  std::string err = ParseOptions(raw, &o);
  EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  return err;
}

TEST(Options, Defaults) {
  Options o;
  ASSERT_EQ(ParseOptions(RawFlags{}, &o), "");
  EXPECT_EQ(o.backend, "inproc");
  EXPECT_EQ(o.modes, std::vector<Mode>{Mode::kClassic});
  EXPECT_EQ(o.workload.name, "ebizzy");
  EXPECT_EQ(o.workload.ebizzy, "-mTRp");
  // ebizzy's defaults: 2 x online CPUs, 10 seconds.
  ASSERT_EQ(o.threads.size(), 1u);
  EXPECT_EQ(o.threads[0], 2 * static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_EQ(o.seconds, 10);
}

TEST(Options, ModeAllAndLists) {
  RawFlags raw;
  raw.mode = "all";
  raw.threads = "1,2,4,8";
  raw.duration = 0.5;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.modes.size(), 4u);
  EXPECT_EQ(o.threads, (std::vector<unsigned>{1, 2, 4, 8}));
  EXPECT_EQ(o.seconds, 0.5);

  raw.mode = "spf,vmalock";
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.modes, (std::vector<Mode>{Mode::kSpf, Mode::kVmalock}));
}

TEST(Options, StockHasOneMode) {
  RawFlags raw;
  raw.backend = "stock";
  raw.mode = "all";
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.modes, std::vector<Mode>{Mode::kStock});
  raw.mode = "classic";
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.modes, std::vector<Mode>{Mode::kStock});
  raw.mode = "spf";
  EXPECT_NE(Refusal(raw).find("stock backend"), std::string::npos);
}

TEST(Options, EbizzyTAndSStandInForThreadsAndDuration) {
  RawFlags raw;
  raw.ebizzy = "-mTRp -t 3 -S 2";
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.threads, std::vector<unsigned>{3});
  EXPECT_EQ(o.seconds, 2);
  raw.threads = "4";
  EXPECT_NE(Refusal(raw).find("threads given twice"), std::string::npos);
  raw.threads = "";
  raw.duration = 1;
  EXPECT_NE(Refusal(raw).find("duration given twice"), std::string::npos);
}

TEST(Options, Refusals) {
  RawFlags raw;
  auto with = [](auto change) {
    RawFlags r;
    change(r);
    return Refusal(r);
  };
  EXPECT_NE(with([](RawFlags& r) { r.backend = "qemu"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.mode = "turbo"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.mode = "stock"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.workload = "kernbench"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.threads = "0"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.threads = "1,,2"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.threads = "two"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.threads = "100000"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.duration = -1; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.iterations = -1; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.warmup = -1; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.submit = "carrier-pigeon"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.submit = "uring"; }), "");  // inproc has no ring
  EXPECT_NE(with([](RawFlags& r) { r.batch = 0; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.cpus = "0-"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.cpus = "99999"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.node = 4096; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.node = -2; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.ebizzy = "-q"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.ebizzy_rng = "mt"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.pagefault_size = 0; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.pft_size = 1LL << 40; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.multifault_pages = 0; }), "");
  // A stock budget without swap would only OOM-kill the run.
  EXPECT_NE(with([](RawFlags& r) { r.max_pages = 5, r.backend = "stock"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.touch_chunk_pages = -1; }), "");
}

// --bugs: known-bug knobs by name, in-process only, never by accident.
TEST(Options, BugsByNameInprocOnly) {
  RawFlags raw;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.bugs, 0u);
  raw.bugs = "fork_no_vma_lock,vma_seq_relaxed";
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.bugs, (1UL << SHADOWMM_BUG_FORK_NO_VMA_LOCK) | (1UL << SHADOWMM_BUG_VMA_SEQ_RELAXED));
  raw.bugs = "fork_no_vma_lock,nonsense";
  EXPECT_NE(Refusal(raw).find("unknown knob 'nonsense'"), std::string::npos);
  raw.bugs = "fork_no_vma_lock,";
  EXPECT_NE(Refusal(raw).find("unknown knob ''"), std::string::npos);
  raw.bugs = "fork_no_vma_lock";
  raw.backend = "stock";
  EXPECT_NE(Refusal(raw).find("in-process only"), std::string::npos);
  raw.backend = "module";
  EXPECT_NE(Refusal(raw).find("in-process only"), std::string::npos);
}

TEST(Options, ModuleSubmission) {
  RawFlags raw;
  raw.backend = "module";
  raw.submit = "uring";
  raw.batch = 128;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");  // the module itself is checked at run time
  EXPECT_EQ(o.submit, Submit::kUring);
  EXPECT_EQ(o.batch, 128u);
}

TEST(Options, CpuLists) {
  std::vector<int> cpus;
  EXPECT_EQ(ParseCpuList("0", &cpus), "");
  EXPECT_EQ(cpus, std::vector<int>{0});
  if (sysconf(_SC_NPROCESSORS_CONF) >= 2) {
    EXPECT_EQ(ParseCpuList("0-1,0", &cpus), "");
    EXPECT_EQ(cpus, (std::vector<int>{0, 1, 0}));
  }
  EXPECT_NE(ParseCpuList("1-0", &cpus), "");
  EXPECT_NE(ParseCpuList("a", &cpus), "");
  EXPECT_NE(ParseCpuList("", &cpus), "");
}

TEST(Options, RepetitionsProcessesAffinity) {
  RawFlags raw;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.repetitions, 1u);
  EXPECT_FALSE(o.processes);
  EXPECT_TRUE(o.affinity);  // pinned one per CPU unless told otherwise
  raw.repetitions = 5;
  raw.processes = true;
  raw.no_affinity = true;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.repetitions, 5u);
  EXPECT_TRUE(o.processes);
  EXPECT_FALSE(o.affinity);
  raw.cpus = "0";
  EXPECT_NE(Refusal(raw).find("--no-affinity"), std::string::npos);
  raw = RawFlags{};
  raw.repetitions = 0;
  EXPECT_NE(Refusal(raw).find("--repetitions"), std::string::npos);
}

TEST(Options, PagefaultRunsAsWillItScale) {
  RawFlags raw;
  raw.workload = "pagefault";
  raw.warmup_default = true;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.seconds, 5);  // runtest.py's duration
  EXPECT_EQ(o.warmup, 6);   // main.c's discarded samples
  raw.warmup_default = false;
  raw.warmup = 1;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.warmup, 1);
  raw.workload = "ebizzy";
  raw.warmup_default = true;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.warmup, 0);
}

TEST(Options, SpfTest) {
  RawFlags raw;
  raw.workload = "spf_test";
  raw.spf_test_areas = 8;
  raw.spf_test_pages = 32;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.workload.spf_test_areas, 8u);
  EXPECT_EQ(o.workload.spf_test_pages, 32u);
  raw.spf_test_areas = 0;
  EXPECT_NE(Refusal(raw).find("spf_test"), std::string::npos);
}

TEST(Options, SwapWorkloadDefaults) {
  RawFlags raw;
  raw.workload = "swap";
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  // A budget, and a slot for every page of the working set (2x).
  EXPECT_EQ(o.max_pages, kSwapDefaultResidentPages);
  EXPECT_EQ(o.swap_slots, 2 * kSwapDefaultResidentPages);
  EXPECT_FALSE(o.swap_latency_us.has_value());
  EXPECT_TRUE(o.swap_policies.empty());
  EXPECT_EQ(o.workload.swap_ratio, 2);
  EXPECT_EQ(o.workload.swap_hot_pct, 0u);

  raw.resident_pages = 100;
  raw.swap_ratio = 2.5;
  raw.swap_hot_pct = 90;
  raw.swap_latency_us = 0;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.max_pages, 100u);
  EXPECT_EQ(o.swap_slots, 250u);
  EXPECT_EQ(o.swap_latency_us, 0u);
  EXPECT_EQ(o.workload.swap_hot_pct, 90u);

  raw.swap_slots = 7;  // given: kept, even if too few
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.swap_slots, 7u);

  // Other workloads get no budget unless asked.
  RawFlags eb;
  ASSERT_EQ(ParseOptions(eb, &o), "");
  EXPECT_EQ(o.max_pages, 0u);
  EXPECT_FALSE(o.swap_slots.has_value());
}

TEST(Options, ResidentPagesAndItsOlderName) {
  RawFlags raw;
  raw.backend = "module";  // the module takes a budget now (SET_MEMORY)
  raw.max_pages = 64;
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.max_pages, 64u);
  raw.resident_pages = 64;  // the same value twice is fine
  ASSERT_EQ(ParseOptions(raw, &o), "");
  raw.resident_pages = 65;
  EXPECT_NE(Refusal(raw).find("older name"), std::string::npos);
}

TEST(Options, SwapPolicies) {
  RawFlags raw;
  raw.mode = "all";
  raw.swap_policy = "all";
  Options o;
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.swap_policies,
            (std::vector<unsigned>{SHADOWMM_SWAP_FALLBACK, SHADOWMM_SWAP_DROP_RETRY,
                                   SHADOWMM_SWAP_VMA_RETRY}));
  // Every policy with vmalock, the first with the modes it does not change.
  auto runs = ModeRuns(o.modes, o.swap_policies);
  using Run = std::pair<Mode, std::optional<unsigned>>;
  EXPECT_EQ(runs, (std::vector<Run>{{Mode::kClassic, SHADOWMM_SWAP_FALLBACK},
                                    {Mode::kSpf, SHADOWMM_SWAP_FALLBACK},
                                    {Mode::kVmalock, SHADOWMM_SWAP_FALLBACK},
                                    {Mode::kVmalock, SHADOWMM_SWAP_DROP_RETRY},
                                    {Mode::kVmalock, SHADOWMM_SWAP_VMA_RETRY},
                                    {Mode::kMmseq, SHADOWMM_SWAP_FALLBACK}}));
  raw.swap_policy = "vma-retry,fallback";
  ASSERT_EQ(ParseOptions(raw, &o), "");
  EXPECT_EQ(o.swap_policies,
            (std::vector<unsigned>{SHADOWMM_SWAP_VMA_RETRY, SHADOWMM_SWAP_FALLBACK}));
  // None given: one run per mode, the space's own policy.
  EXPECT_EQ(ModeRuns({Mode::kVmalock, Mode::kSpf}, {}),
            (std::vector<Run>{{Mode::kVmalock, std::nullopt}, {Mode::kSpf, std::nullopt}}));
}

TEST(Options, AnonPolicy) {
  RawFlags r;
  r.anon_policy = "fallback";
  Options o;
  ASSERT_EQ(ParseOptions(r, &o), "");
  EXPECT_EQ(o.anon_policy, std::optional<unsigned>(SHADOWMM_ANON_FALLBACK));
  r.anon_policy = "trylock";
  ASSERT_EQ(ParseOptions(r, &o), "");
  EXPECT_EQ(o.anon_policy, std::optional<unsigned>(SHADOWMM_ANON_TRYLOCK));
  r.anon_policy = "sometimes";
  EXPECT_NE(Refusal(r).find("--anon_policy: unknown policy 'sometimes'"), std::string::npos);
  r.anon_policy = "fallback";
  r.backend = "stock";
  EXPECT_NE(Refusal(r).find("--anon_policy"), std::string::npos);
}

TEST(Options, TlbPolicy) {
  RawFlags r;
  Options o;
  for (unsigned p = 0; p < SHADOWMM_NR_TLB_POLICIES; p++) {
    r.tlb_policy = std::string(TlbPolicyName(p));
    ASSERT_EQ(ParseOptions(r, &o), "");
    EXPECT_EQ(o.tlb_policy, std::optional<unsigned>(p));
  }
  r.tlb_policy = "lazy";
  EXPECT_NE(Refusal(r).find("--tlb_policy: unknown policy 'lazy'"), std::string::npos);
  r.tlb_policy = "none";
  r.backend = "stock";
  EXPECT_NE(Refusal(r).find("--tlb_policy"), std::string::npos);
}

TEST(Options, Model) {
  RawFlags r;
  Options o;
  ASSERT_EQ(ParseOptions(r, &o), "");
  EXPECT_EQ(o.model, std::nullopt) << "not given: the space's default";
  for (unsigned c = 0; c < SHADOWMM_NR_MODEL_CHOICES; c++) {
    r.model = ModelName(uint64_t{1} << c);
    ASSERT_EQ(ParseOptions(r, &o), "");
    EXPECT_EQ(o.model, std::optional<uint64_t>(uint64_t{1} << c)) << r.model;
  }
  EXPECT_EQ(ModelName(SHADOWMM_MODEL_ALL), "unmap_write,tlb_waiters_stay");
  r.model = "tlb_waiters_stay,unmap_write";
  ASSERT_EQ(ParseOptions(r, &o), "");
  EXPECT_EQ(o.model, std::optional<uint64_t>(SHADOWMM_MODEL_ALL));
  r.model = "none";
  ASSERT_EQ(ParseOptions(r, &o), "");
  EXPECT_EQ(o.model, std::optional<uint64_t>(0));
  for (const char* bad : {"unmap_read", "unmap_write,", ",", "unmap_write,lazy"}) {
    r.model = bad;
    EXPECT_NE(Refusal(r).find("--model: unknown choice in '"), std::string::npos) << bad;
  }
  r.model = "unmap_write";
  r.backend = "stock";
  EXPECT_NE(Refusal(r).find("--model"), std::string::npos);
}

TEST(Options, SwapRefusals) {
  auto with = [](auto change) {
    RawFlags r;
    r.workload = "swap";
    change(r);
    return Refusal(r);
  };
  EXPECT_NE(with([](RawFlags& r) { r.swap_policy = "turbo"; }).find("unknown policy 'turbo'"),
            std::string::npos);
  EXPECT_NE(with([](RawFlags& r) { r.swap_policy = "fallback,"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_policy = "Fallback"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.resident_pages = -1; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.resident_pages = 1LL << 40; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_slots = -1; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_latency_us = -1; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_latency_us = 2000000; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_ratio = 0.5; }).find("--swap_ratio"), std::string::npos);
  EXPECT_NE(with([](RawFlags& r) { r.swap_ratio = 65; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_ratio = std::nan(""); }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_hot_pct = 30; }).find("--swap_hot_pct"),
            std::string::npos);
  EXPECT_NE(with([](RawFlags& r) { r.swap_hot_pct = 100; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.swap_hot_pct = -1; }), "");
  // The stock backend has the kernel's own swap-in path and device latency.
  EXPECT_NE(with([](RawFlags& r) {
              r.backend = "stock";
              r.swap_policy = "fallback";
            }).find("stock"),
            std::string::npos);
  EXPECT_NE(with([](RawFlags& r) {
              r.backend = "stock";
              r.swap_latency_us = 10;
            }),
            "");
  EXPECT_NE(with([](RawFlags& r) {
              r.backend = "stock";
              r.swap_slots = 0;
            }).find("OOM"),
            std::string::npos);
  EXPECT_NE(with([](RawFlags& r) {
              r.backend = "stock";
              r.processes = true;
            }),
            "");
  // The same flags are fine where they apply.
  EXPECT_EQ(with([](RawFlags& r) {
              r.backend = "module";
              r.swap_policy = "vma-retry";
              r.swap_latency_us = 10;
              r.processes = true;
            }),
            "");
  EXPECT_EQ(with([](RawFlags& r) { r.backend = "stock"; }), "");
}

}  // namespace
}  // namespace shadowmm
