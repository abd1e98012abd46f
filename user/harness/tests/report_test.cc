// SPDX-License-Identifier: GPL-2.0
#include "report.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <sstream>

namespace shadowmm {
namespace {

TEST(Report, SpfSummary) {
  shadowmm_stats d{};
  d.counter[SHADOWMM_EV_SPF_ATTEMPT] = 1000;
  d.counter[SHADOWMM_EV_SPF_SUCCESS] = 990;
  d.counter[SHADOWMM_EV_SPF_ABORT_SEQ] = 4;
  d.counter[SHADOWMM_EV_SPF_ABORT_NO_TABLE] = 6;
  d.counter[SHADOWMM_EV_FALLBACK] = 10;
  d.counter[SHADOWMM_EV_MMSEQ_ABORT_SEQ] = 77;  // another mode's: ignored
  FaultPathSummary s = SummarizeFaultPath(Mode::kSpf, d);
  EXPECT_EQ(s.attempts, 1000u);
  EXPECT_EQ(s.successes, 990u);
  EXPECT_EQ(s.fallbacks, 10u);
  EXPECT_EQ(s.aborts_total, 10u);
  EXPECT_EQ(s.aborts.at("seq"), 4u);
  EXPECT_EQ(s.aborts.at("no_table"), 6u);
  EXPECT_EQ(s.aborts.size(), 11u);  // every reason, zero or not (uffd the 11th)
  EXPECT_DOUBLE_EQ(s.abort_ratio, 0.01);
  EXPECT_DOUBLE_EQ(s.abort_ratio_excl_no_table, 0.004);
}

TEST(Report, VmalockSummary) {
  shadowmm_stats d{};
  d.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS] = 90;
  d.counter[SHADOWMM_EV_VMA_LOCK_ABORT] = 6;
  d.counter[SHADOWMM_EV_VMA_LOCK_MISS] = 4;
  d.counter[SHADOWMM_EV_VMA_LOCK_RETRY] = 2;
  d.counter[SHADOWMM_EV_VMA_LOCK_NO_ANON] = 3;
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK] = 5;
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_DROP_RETRY] = 1;  // also in retry
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_VMA_RETRY] = 7;   // ends in another
  FaultPathSummary s = SummarizeFaultPath(Mode::kVmalock, d);
  // Each fault ends in success, an abort (no VMA lock, no anon_vma, a swap
  // fallback) or retry; a miss or a swap wait only repeats a step.
  EXPECT_EQ(s.attempts, 106u);
  EXPECT_EQ(s.aborts_total, 14u);
  EXPECT_EQ(s.successes, 90u);
  EXPECT_EQ(s.retries, 2u);
  EXPECT_EQ(s.aborts.at("abort"), 6u);
  EXPECT_EQ(s.aborts.at("no_anon"), 3u);
  EXPECT_EQ(s.aborts.at("swap_fallback"), 5u);
  EXPECT_EQ(s.aborts.at("miss"), 4u);
  EXPECT_EQ(s.aborts.at("swap_vma_retry"), 7u);
}

TEST(Report, VmalockSwapOutcomes) {
  shadowmm_stats d{};
  d.counter[SHADOWMM_EV_VMA_LOCK_SUCCESS] = 50;
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK] = 10;  // an abort to mmap_lock
  d.counter[SHADOWMM_EV_VMA_LOCK_NO_ANON] = 2;         // likewise
  // drop-retry: counted as a retry as well; vma-retry: tries again.
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_DROP_RETRY] = 5;
  d.counter[SHADOWMM_EV_VMA_LOCK_RETRY] = 5;
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_VMA_RETRY] = 7;
  FaultPathSummary s = SummarizeFaultPath(Mode::kVmalock, d);
  EXPECT_EQ(s.aborts_total, 12u);
  EXPECT_EQ(s.attempts, 50u + 12u + 5u);
  EXPECT_EQ(s.aborts.at("swap_vma_retry"), 7u);
  EXPECT_EQ(s.aborts.at("swap_fallback"), 10u);
}

TEST(Report, SwapSummary) {
  shadowmm_stats d{};
  d.counter[SHADOWMM_EV_FAULT] = 200;
  d.counter[SHADOWMM_EV_PGMAJFAULT] = 100;
  d.counter[SHADOWMM_EV_PSWPIN] = 100;
  d.counter[SHADOWMM_EV_PSWPOUT] = 120;
  d.counter[SHADOWMM_EV_FAULT_RETRY] = 100;
  d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK] = 50;
  SwapSummary s = SummarizeSwap(d);
  EXPECT_EQ(s.majfaults, 100u);
  EXPECT_EQ(s.retries, 150u);
  EXPECT_DOUBLE_EQ(s.slept_share, 0.5);
  EXPECT_DOUBLE_EQ(s.retries_per_major, 1.5);
  EXPECT_DOUBLE_EQ(SummarizeSwap(shadowmm_stats{}).retries_per_major, 0);

  RunRecord run;
  run.mode = Mode::kVmalock;
  EXPECT_EQ(ModeLabel(run), "vmalock");
  run.swap_policy = SHADOWMM_SWAP_VMA_RETRY;
  EXPECT_EQ(ModeLabel(run), "vmalock/vma-retry");
  run.mode = Mode::kSpf;  // the policy is vmalock's only
  EXPECT_EQ(ModeLabel(run), "spf");
}

TEST(Report, TableAndJson) {
  RunRecord run;
  run.workload = "ebizzy";
  run.record_unit = "records";
  run.backend = "module";
  run.mode = Mode::kSpf;
  run.submit = Submit::kUring;
  run.batch = 32;
  run.threads = 2;
  run.config = {{"ebizzy", "-mTRp \"quoted\""}};
  run.result.seconds = 2;
  run.result.total.records = 1000;
  run.result.per_thread.resize(2);
  run.result.per_thread[0].records = 600;
  run.result.per_thread[1].records = 400;
  run.result.delta.counter[SHADOWMM_EV_FAULT] = 5000;

  std::ostringstream ebizzy;
  PrintEbizzyLines(ebizzy, run);
  EXPECT_EQ(ebizzy.str().substr(0, 14), "500 records/s\n");

  std::ostringstream table;
  PrintTable(table, {run});
  EXPECT_NE(table.str().find("uring"), std::string::npos);
  EXPECT_NE(table.str().find("2500"), std::string::npos);  // faults/s

  std::string j = ToJson({run});
  for (const char* key :
       {"\"schema\": \"shadowmm-bench/2\"", "\"kernel\"", "\"workload\": \"ebizzy\"",
        "\"backend\": \"module\"", "\"mode\": \"spf\"", "\"submit\": \"uring\"", "\"batch\": 32",
        "\"threads\": 2", "\"seconds\": 2", "\"records_per_s\": 500", "\"faults\": 5000",
        "\"faults_per_s\": 2500", "\"per_thread_records\": [600, 400]",
        "\"per_thread_faults\": [null, null]", "\"fault\": 5000",
        "\"ebizzy\": \"-mTRp \\\"quoted\\\"\""})
    EXPECT_NE(j.find(key), std::string::npos) << key << "\n" << j;
}

TEST(Report, RepetitionsMakeOnePointWithItsMedian) {
  std::vector<RunRecord> runs;
  for (Mode mode : {Mode::kClassic, Mode::kSpf}) {
    for (uint64_t records : {100, 300, 200}) {
      RunRecord run;
      run.workload = "ebizzy";
      run.record_unit = "records";
      run.backend = "inproc";
      run.mode = mode;
      run.threads = 4;
      run.result.seconds = 1;
      run.result.total.records = mode == Mode::kSpf ? 2 * records : records;
      runs.push_back(run);
    }
  }
  std::ostringstream table;
  PrintTable(table, runs);
  std::string t = table.str();
  // n, the median, the range.
  EXPECT_NE(t.find(" 3            200 "), std::string::npos) << t;
  EXPECT_NE(t.find(" 100..300 "), std::string::npos) << t;
  EXPECT_NE(t.find(" 3            400 "), std::string::npos) << t;
  EXPECT_NE(t.find(" 200..600 "), std::string::npos) << t;
  EXPECT_NE(t.find("2.00x"), std::string::npos) << t;
  EXPECT_EQ(std::count(t.begin(), t.end(), '\n'), 3) << t;  // header and two points
}

TEST(Report, SamplesKernelCountersAndTimedFaultsInJson) {
  RunRecord run;
  run.workload = "spf_test";
  run.record_unit = "pages";
  run.backend = "stock";
  run.mode = Mode::kStock;
  run.threads = 1;
  run.processes = true;
  run.affinity = true;
  run.repetition = 2;
  run.result.seconds = 2;
  run.result.run_seconds = 3;
  run.result.total.records = 64;
  run.result.total.timed_ns = 6400;
  run.result.samples = {10, 30, 34};
  run.result.warmup_samples = 1;
  run.result.sample_seconds = 1;
  run.result.kernel = {{"pgfault", 90}, {"perf_page_faults", 66}};
  std::ostringstream lines;
  PrintEbizzyLines(lines, run);
  EXPECT_NE(lines.str().find("100.0 ns per page"), std::string::npos) << lines.str();
  std::ostringstream table;
  PrintTable(table, {run});
  EXPECT_NE(table.str().find("perf_page_faults 22 pgfault 30"), std::string::npos) << table.str();
  std::string j = ToJson({run});
  for (const char* key :
       {"\"processes\": true", "\"affinity\": true", "\"repetition\": 2", "\"run_seconds\": 3",
        "\"samples\": [10, 30, 34]", "\"warmup_samples\": 1", "\"timed_ns\": 6400",
        "\"ns_per_record\": 100", "\"records_per_s\": 32",
        "\"kernel\": {\"perf_page_faults\": 66, \"pgfault\": 90}", "\"aslr\": "})
    EXPECT_NE(j.find(key), std::string::npos) << key << "\n" << j;
}

}  // namespace
}  // namespace shadowmm
