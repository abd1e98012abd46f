// SPDX-License-Identifier: GPL-2.0
//
// Flag validation: what shadowmm-bench accepts, and that every refusal is
// one line.
#include "options.h"

#include <gtest/gtest.h>
#include <unistd.h>

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
  EXPECT_NE(with([](RawFlags& r) { r.max_pages = 5, r.backend = "stock"; }), "");
  EXPECT_NE(with([](RawFlags& r) { r.touch_chunk_pages = -1; }), "");
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

}  // namespace
}  // namespace shadowmm
