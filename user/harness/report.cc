// SPDX-License-Identifier: GPL-2.0
#include "report.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace shadowmm {
namespace {

uint64_t Counter(const shadowmm_stats& st, const char* name) {
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
    if (CounterName(i) == name) return st.counter[i];
  return 0;
}

double PerSecond(uint64_t n, double seconds) { return seconds > 0 ? n / seconds : 0; }

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0 || line.rfind("cpu\t", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" ", colon + 1));
    }
  }
  return "";
}

bool Hypervisor() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) return line.find(" hypervisor") != std::string::npos;
  return false;
}

}  // namespace

FaultPathSummary SummarizeFaultPath(Mode mode, const shadowmm_stats& d) {
  FaultPathSummary s;
  s.fallbacks = Counter(d, "fallback");
  std::string prefix;
  switch (mode) {
    case Mode::kStock:
    case Mode::kClassic:
      s.attempts = Counter(d, "fault");
      s.successes =
          s.attempts - std::min(s.attempts, Counter(d, "fault_sigsegv") + Counter(d, "fault_oom"));
      return s;
    case Mode::kSpf:
      prefix = "spf_";
      break;
    case Mode::kMmseq:
      prefix = "mmseq_";
      break;
    case Mode::kVmalock:
      prefix = "vma_lock_";
      break;
  }
  uint64_t no_table = 0;
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++) {
    std::string_view name = CounterName(i);
    if (name.substr(0, prefix.size()) != prefix) continue;
    std::string_view what = name.substr(prefix.size());
    uint64_t n = d.counter[i];
    if (what == "attempt") {
      s.attempts = n;
    } else if (what == "success") {
      s.successes = n;
    } else if (what == "retry") {
      s.retries = n;
    } else if (what == "miss") {
      // Not an outcome: a miss retries the lookup and ends in one of the others.
      s.aborts["miss"] = n;
    } else {
      if (what.substr(0, 6) == "abort_") what.remove_prefix(6);
      s.aborts[std::string(what)] = n;
      s.aborts_total += n;
      if (what == "no_table") no_table = n;
    }
  }
  // vmalock has no attempt counter: every try ends in exactly one of these.
  if (mode == Mode::kVmalock) s.attempts = s.successes + s.aborts_total + s.retries;
  if (s.attempts > 0) {
    s.abort_ratio = static_cast<double>(s.aborts_total) / s.attempts;
    s.abort_ratio_excl_no_table = static_cast<double>(s.aborts_total - no_table) / s.attempts;
  }
  return s;
}

uint64_t RunFaults(const RunRecord& run) { return run.result.delta.counter[SHADOWMM_EV_FAULT]; }

void PrintEbizzyLines(std::ostream& out, const RunRecord& run) {
  const RunResult& r = run.result;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%" PRIu64 " %s/s\nreal %5.2f s\nuser %5.2f s\nsys  %5.2f s\n",
                static_cast<uint64_t>(PerSecond(r.total.records, r.seconds)),
                run.record_unit.c_str(), r.seconds, r.user_seconds, r.sys_seconds);
  out << buf;
}

void PrintTable(std::ostream& out, const std::vector<RunRecord>& runs) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-10s %-7s %-8s %-6s %7s %7s %14s %12s %8s %10s\n", "workload",
                "backend", "mode", "submit", "threads", "seconds", "records/s", "faults/s",
                "abort%", "vs-first");
  out << buf;
  // The last column compares each run with the first of the same workload,
  // backend and thread count: with --mode=all, each mode against classic.
  for (const RunRecord& run : runs) {
    const RunResult& r = run.result;
    double rate = PerSecond(r.total.records, r.seconds);
    double base = 0;
    for (const RunRecord& other : runs) {
      if (other.workload == run.workload && other.backend == run.backend &&
          other.threads == run.threads && other.submit == run.submit) {
        base = PerSecond(other.result.total.records, other.result.seconds);
        break;
      }
    }
    FaultPathSummary fp = SummarizeFaultPath(run.mode, r.delta);
    std::string abort_pct = "-";
    if (run.mode != Mode::kStock && run.mode != Mode::kClassic) {
      char p[32];
      std::snprintf(p, sizeof(p), "%.2f", 100 * fp.abort_ratio);
      abort_pct = p;
    }
    std::snprintf(
        buf, sizeof(buf), "%-10s %-7s %-8s %-6s %7u %7.2f %14.0f %12.0f %8s %9.2fx\n",
        run.workload.c_str(), run.backend.c_str(), std::string(ModeName(run.mode)).c_str(),
        run.submit ? std::string(SubmitName(*run.submit)).c_str() : "-", run.threads, r.seconds,
        rate, PerSecond(RunFaults(run), r.seconds), abort_pct.c_str(), base > 0 ? rate / base : 0);
    out << buf;
  }
}

std::string ToJson(const std::vector<RunRecord>& runs) {
  std::ostringstream j;
  utsname u{};
  uname(&u);
  j << "{\n  \"schema\": \"shadowmm-bench/1\",\n  \"host\": {";
  j << "\"kernel\": " << JsonString(u.release) << ", \"machine\": " << JsonString(u.machine)
    << ", \"hostname\": " << JsonString(u.nodename)
    << ", \"cpus_online\": " << sysconf(_SC_NPROCESSORS_ONLN)
    << ", \"page_size\": " << sysconf(_SC_PAGESIZE) << ", \"cpu_model\": " << JsonString(CpuModel())
    << ", \"hypervisor\": " << (Hypervisor() ? "true" : "false") << "},\n  \"runs\": [";
  for (size_t n = 0; n < runs.size(); n++) {
    const RunRecord& run = runs[n];
    const RunResult& r = run.result;
    uint64_t faults = RunFaults(run);
    j << (n ? ",\n" : "\n") << "    {";
    j << "\"workload\": " << JsonString(run.workload)
      << ", \"backend\": " << JsonString(run.backend)
      << ", \"mode\": " << JsonString(ModeName(run.mode))
      << ", \"submit\": " << (run.submit ? JsonString(SubmitName(*run.submit)) : "null")
      << ", \"batch\": "
      << (run.submit && *run.submit != Submit::kIoctl ? std::to_string(run.batch) : "null")
      << ", \"touch_chunk_pages\": " << run.touch_chunk_pages << ", \"threads\": " << run.threads
      << ", \"cpus\": " << (run.cpus.empty() ? "null" : JsonString(run.cpus))
      << ", \"node\": " << (run.node ? std::to_string(*run.node) : "null")
      << ",\n     \"seconds\": " << JsonNumber(r.seconds)
      << ", \"user_seconds\": " << JsonNumber(r.user_seconds)
      << ", \"sys_seconds\": " << JsonNumber(r.sys_seconds)
      << ", \"record_unit\": " << JsonString(run.record_unit)
      << ", \"records\": " << r.total.records
      << ", \"records_per_s\": " << JsonNumber(PerSecond(r.total.records, r.seconds))
      << ", \"faults\": " << faults
      << ", \"faults_per_s\": " << JsonNumber(PerSecond(faults, r.seconds))
      << ", \"pages\": " << r.total.pages << ", \"iterations\": " << r.total.iterations;
    j << ",\n     \"per_thread_records\": [";
    for (size_t i = 0; i < r.per_thread.size(); i++)
      j << (i ? ", " : "") << r.per_thread[i].records;
    j << "], \"per_thread_faults\": [";
    for (size_t i = 0; i < r.per_thread.size(); i++)
      j << (i ? ", " : "")
        << (r.per_thread[i].faults ? std::to_string(*r.per_thread[i].faults) : "null");
    j << "]";

    FaultPathSummary fp = SummarizeFaultPath(run.mode, r.delta);
    j << ",\n     \"fault_path\": {\"attempts\": " << fp.attempts
      << ", \"successes\": " << fp.successes << ", \"fallbacks\": " << fp.fallbacks
      << ", \"retries\": " << fp.retries << ", \"aborts_total\": " << fp.aborts_total
      << ", \"abort_ratio\": " << JsonNumber(fp.abort_ratio)
      << ", \"abort_ratio_excl_no_table\": " << JsonNumber(fp.abort_ratio_excl_no_table)
      << ", \"aborts\": {";
    bool first = true;
    for (const auto& [reason, count] : fp.aborts) {
      j << (first ? "" : ", ") << JsonString(reason) << ": " << count;
      first = false;
    }
    j << "}}";

    j << ",\n     \"counters\": {";
    for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
      j << (i ? ", " : "") << JsonString(CounterName(i)) << ": " << r.delta.counter[i];
    j << "},\n     \"gauges\": {\"pages_live\": " << r.after.pages_live
      << ", \"tables_live\": " << r.after.tables_live << ", \"vmas_live\": " << r.after.vmas_live
      << "}";
    j << ",\n     \"config\": {";
    first = true;
    for (const auto& [key, value] : run.config) {
      j << (first ? "" : ", ") << JsonString(key) << ": " << JsonString(value);
      first = false;
    }
    j << "}}";
  }
  j << "\n  ]\n}\n";
  return j.str();
}

}  // namespace shadowmm
