// SPDX-License-Identifier: GPL-2.0
#include "report.h"

#include <sys/personality.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
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

// Whether this process's addresses are randomised: the kernel's setting,
// unless the personality turns it off (shadowmm-bench does for stock).
bool Aslr() {
  int persona = personality(0xffffffff);
  if (persona >= 0 && (persona & ADDR_NO_RANDOMIZE)) return false;
  std::ifstream in("/proc/sys/kernel/randomize_va_space");
  int level = 2;
  in >> level;
  return level != 0;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Runs that are repetitions of one point.
bool SamePoint(const RunRecord& a, const RunRecord& b) {
  return a.workload == b.workload && a.backend == b.backend && a.mode == b.mode &&
         a.swap_policy == b.swap_policy && a.submit == b.submit && a.threads == b.threads &&
         a.processes == b.processes;
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
    } else if (what == "miss" || what == "swap_drop_retry" || what == "swap_vma_retry") {
      // Not outcomes: a miss retries the lookup, a swap wait the fault
      // (the drop-retry one is in "retry" too), and each ends in one of
      // the others.
      s.aborts[std::string(what)] = n;
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

std::string ModeLabel(const RunRecord& run) {
  std::string label(ModeName(run.mode));
  if (run.mode == Mode::kVmalock && run.swap_policy)
    label += "/" + std::string(SwapPolicyName(*run.swap_policy));
  return label;
}

SwapSummary SummarizeSwap(const shadowmm_stats& d) {
  SwapSummary s;
  s.majfaults = d.counter[SHADOWMM_EV_PGMAJFAULT];
  s.pswpin = d.counter[SHADOWMM_EV_PSWPIN];
  s.pswpout = d.counter[SHADOWMM_EV_PSWPOUT];
  s.retries = d.counter[SHADOWMM_EV_FAULT_RETRY] + d.counter[SHADOWMM_EV_SPF_ABORT_SWAP] +
              d.counter[SHADOWMM_EV_MMSEQ_ABORT_SWAP] +
              d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK] +
              d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_DROP_RETRY] +
              d.counter[SHADOWMM_EV_VMA_LOCK_SWAP_VMA_RETRY];
  uint64_t faults = d.counter[SHADOWMM_EV_FAULT];
  if (faults) s.slept_share = static_cast<double>(s.majfaults) / faults;
  if (s.majfaults) s.retries_per_major = static_cast<double>(s.retries) / s.majfaults;
  return s;
}

uint64_t RunFaults(const RunRecord& run) { return run.result.delta.counter[SHADOWMM_EV_FAULT]; }

double RecordsPerSecond(const RunRecord& run) {
  return PerSecond(run.result.total.records, run.result.seconds);
}

// Counters cover the whole run, in-run warm-up included.
double RunSeconds(const RunResult& r) { return r.run_seconds > 0 ? r.run_seconds : r.seconds; }

void PrintEbizzyLines(std::ostream& out, const RunRecord& run) {
  const RunResult& r = run.result;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%" PRIu64 " %s/s\nreal %5.2f s\nuser %5.2f s\nsys  %5.2f s\n",
                static_cast<uint64_t>(RecordsPerSecond(run)), run.record_unit.c_str(), r.seconds,
                r.user_seconds, r.sys_seconds);
  out << buf;
  if (r.warmup_samples) {
    std::snprintf(buf, sizeof(buf), "warmup %u samples of %.2f s discarded\n", r.warmup_samples,
                  r.sample_seconds);
    out << buf;
  }
  if (r.total.timed_ns) {
    std::snprintf(buf, sizeof(buf), "faults %" PRIu64 " ns total, %.1f ns per %s\n",
                  r.total.timed_ns,
                  r.total.records ? static_cast<double>(r.total.timed_ns) / r.total.records : 0.0,
                  run.record_unit == "pages" ? "page" : "record");
    out << buf;
  }
}

void PrintTable(std::ostream& out, const std::vector<RunRecord>& runs) {
  char buf[384];
  int mode_width = 8;
  for (const RunRecord& run : runs)
    mode_width = std::max(mode_width, static_cast<int>(ModeLabel(run).size()));
  std::snprintf(buf, sizeof(buf), "%-10s %-7s %-*s %-6s %8s %3s %14s %23s %12s %8s %9s\n",
                "workload", "backend", mode_width, "mode", "submit", "threads", "n", "records/s",
                "range (min..max)", "faults/s", "abort%", "vs-first");
  out << buf;
  // One line per point, in the order points first appear; rates are the
  // median over the point's repetitions.  The last column compares each
  // point's median with the median of the first point of the same
  // workload, backend and thread count: with --mode=all, each mode against
  // classic.
  std::vector<std::vector<const RunRecord*>> points;
  for (const RunRecord& run : runs) {
    auto it = std::find_if(points.begin(), points.end(),
                           [&](const auto& p) { return SamePoint(*p.front(), run); });
    if (it == points.end())
      points.push_back({&run});
    else
      it->push_back(&run);
  }
  auto median_rate = [](const std::vector<const RunRecord*>& point) {
    std::vector<double> v;
    for (const RunRecord* r : point) v.push_back(RecordsPerSecond(*r));
    return Median(v);
  };
  for (const auto& point : points) {
    const RunRecord& run = *point.front();
    std::vector<double> rates, fault_rates, aborts;
    for (const RunRecord* r : point) {
      rates.push_back(RecordsPerSecond(*r));
      fault_rates.push_back(PerSecond(RunFaults(*r), RunSeconds(r->result)));
      aborts.push_back(SummarizeFaultPath(r->mode, r->result.delta).abort_ratio);
    }
    double rate = Median(rates);
    double base = 0;
    for (const auto& other : points) {
      const RunRecord& o = *other.front();
      if (o.workload == run.workload && o.backend == run.backend && o.threads == run.threads &&
          o.submit == run.submit && o.processes == run.processes) {
        base = median_rate(other);
        break;
      }
    }
    std::string abort_pct = "-";
    if (run.mode != Mode::kStock && run.mode != Mode::kClassic) {
      char p[32];
      std::snprintf(p, sizeof(p), "%.2f", 100 * Median(aborts));
      abort_pct = p;
    }
    std::string range = "-";
    if (point.size() > 1) {
      char p[64];
      std::snprintf(p, sizeof(p), "%.0f..%.0f", *std::min_element(rates.begin(), rates.end()),
                    *std::max_element(rates.begin(), rates.end()));
      range = p;
    }
    std::string threads = std::to_string(run.threads) + (run.processes ? "p" : "");
    std::snprintf(buf, sizeof(buf), "%-10s %-7s %-*s %-6s %8s %3zu %14.0f %23s %12.0f %8s %8.2fx\n",
                  run.workload.c_str(), run.backend.c_str(), mode_width, ModeLabel(run).c_str(),
                  run.submit ? std::string(SubmitName(*run.submit)).c_str() : "-", threads.c_str(),
                  point.size(), rate, range.c_str(), Median(fault_rates), abort_pct.c_str(),
                  base > 0 ? rate / base : 0);
    out << buf;
  }

  // Swapping, for the points that swapped: major faults (faults that slept
  // for a swap-in), the share of faults they were, and how many retries
  // or aborts each caused (stock: the kernel counts none for a process).
  bool swap_header = false;
  for (const auto& point : points) {
    const RunRecord& run = *point.front();
    std::vector<double> major_rates, in_rates, out_rates, slept, retries;
    bool swapped = false;
    for (const RunRecord* r : point) {
      SwapSummary sw = SummarizeSwap(r->result.delta);
      double secs = RunSeconds(r->result);
      swapped |= sw.majfaults || sw.pswpout;
      major_rates.push_back(PerSecond(sw.majfaults, secs));
      in_rates.push_back(PerSecond(sw.pswpin, secs));
      out_rates.push_back(PerSecond(sw.pswpout, secs));
      slept.push_back(100 * sw.slept_share);
      retries.push_back(sw.retries_per_major);
    }
    if (!swapped) continue;
    if (!swap_header) {
      std::snprintf(buf, sizeof(buf),
                    "\nswap, medians:\n%-10s %-7s %-*s %8s %12s %12s %12s %8s %10s\n", "workload",
                    "backend", mode_width, "mode", "threads", "majflt/s", "pswpin/s", "pswpout/s",
                    "slept%", "retry/maj");
      out << buf;
      swap_header = true;
    }
    std::string threads = std::to_string(run.threads) + (run.processes ? "p" : "");
    std::string retry = run.backend == "stock" ? "-" : [&] {
      char p[32];
      std::snprintf(p, sizeof(p), "%.2f", Median(retries));
      return std::string(p);
    }();
    std::string in = "-", outs = "-";
    if (run.backend != "stock") {
      char p[32];
      std::snprintf(p, sizeof(p), "%.0f", Median(in_rates));
      in = p;
      std::snprintf(p, sizeof(p), "%.0f", Median(out_rates));
      outs = p;
    }
    std::snprintf(buf, sizeof(buf), "%-10s %-7s %-*s %8s %12.0f %12s %12s %8.2f %10s\n",
                  run.workload.c_str(), run.backend.c_str(), mode_width, ModeLabel(run).c_str(),
                  threads.c_str(), Median(major_rates), in.c_str(), outs.c_str(), Median(slept),
                  retry.c_str());
    out << buf;
  }

  // The running kernel's own view of stock runs: /proc/vmstat (whole
  // machine) and the page-faults event (this process and its workers).
  bool header = false;
  for (const auto& point : points) {
    const RunRecord& run = *point.front();
    if (run.result.kernel.empty()) continue;
    if (!header) {
      out << "\nkernel counters per second, median (stock; vmstat is machine-wide):\n";
      header = true;
    }
    std::map<std::string, std::vector<double>> per_name;
    for (const RunRecord* r : point)
      for (const auto& [name, value] : r->result.kernel)
        per_name[name].push_back(PerSecond(value, RunSeconds(r->result)));
    std::string line = run.workload + " " + std::to_string(run.threads) +
                       (run.processes ? " processes:" : " threads:");
    for (const auto& [name, values] : per_name) {
      char p[96];
      std::snprintf(p, sizeof(p), " %s %.0f", name.c_str(), Median(values));
      line += p;
    }
    out << line << "\n";
  }
}

std::string ToJson(const std::vector<RunRecord>& runs) {
  std::ostringstream j;
  utsname u{};
  uname(&u);
  j << "{\n  \"schema\": \"shadowmm-bench/2\",\n  \"host\": {";
  j << "\"kernel\": " << JsonString(u.release) << ", \"machine\": " << JsonString(u.machine)
    << ", \"hostname\": " << JsonString(u.nodename)
    << ", \"cpus_online\": " << sysconf(_SC_NPROCESSORS_ONLN)
    << ", \"page_size\": " << sysconf(_SC_PAGESIZE) << ", \"cpu_model\": " << JsonString(CpuModel())
    << ", \"hypervisor\": " << (Hypervisor() ? "true" : "false")
    << ", \"aslr\": " << (Aslr() ? "true" : "false") << "},\n  \"runs\": [";
  for (size_t n = 0; n < runs.size(); n++) {
    const RunRecord& run = runs[n];
    const RunResult& r = run.result;
    uint64_t faults = RunFaults(run);
    j << (n ? ",\n" : "\n") << "    {";
    j << "\"workload\": " << JsonString(run.workload)
      << ", \"backend\": " << JsonString(run.backend)
      << ", \"geometry\": " << (run.geometry.empty() ? "null" : JsonString(run.geometry))
      << ", \"page_size\": " << run.page_size << ", \"mode\": " << JsonString(ModeName(run.mode))
      << ", \"submit\": " << (run.submit ? JsonString(SubmitName(*run.submit)) : "null")
      << ", \"batch\": "
      << (run.submit && *run.submit != Submit::kIoctl ? std::to_string(run.batch) : "null")
      << ", \"touch_chunk_pages\": " << run.touch_chunk_pages << ", \"threads\": " << run.threads
      << ", \"cpus\": " << (run.cpus.empty() ? "null" : JsonString(run.cpus))
      << ", \"node\": " << (run.node ? std::to_string(*run.node) : "null")
      << ", \"processes\": " << (run.processes ? "true" : "false")
      << ", \"affinity\": " << (run.affinity ? "true" : "false")
      << ", \"repetition\": " << run.repetition << ",\n     \"memory\": ";
    if (run.memory) {
      const shadowmm_memory& m = *run.memory;
      j << "{\"max_pages\": " << m.max_pages << ", \"wmark_high\": " << m.wmark_high
        << ", \"wmark_low\": " << m.wmark_low << ", \"swap_slots\": " << m.swap_slots
        << ", \"swap_latency_us\": " << m.swap_latency_us
        << ", \"setup\": " << (run.memory_note.empty() ? "null" : JsonString(run.memory_note))
        << "}";
    } else {
      j << "null";
    }
    j << ", \"swap_policy\": "
      << (run.swap_policy ? JsonString(SwapPolicyName(*run.swap_policy)) : "null");
    j << ", \"anon_policy\": "
      << (run.anon_policy ? JsonString(AnonPolicyName(*run.anon_policy)) : "null");
    j << ", \"tlb_policy\": "
      << (run.tlb_policy ? JsonString(TlbPolicyName(*run.tlb_policy)) : "null");
    j << ", \"model\": " << (run.model ? JsonString(ModelName(*run.model)) : "null");
    j << ", \"layout\": " << (run.layout.empty() ? "null" : JsonString(run.layout));
    j << ", \"bugs\": " << (run.bugs.empty() ? "null" : JsonString(run.bugs));
    SwapSummary sw = SummarizeSwap(r.delta);
    j << ",\n     \"swap\": {\"majfaults\": " << sw.majfaults
      << ", \"majfaults_per_s\": " << JsonNumber(PerSecond(sw.majfaults, RunSeconds(r)))
      << ", \"pswpin\": " << sw.pswpin << ", \"pswpout\": " << sw.pswpout
      << ", \"retries\": " << sw.retries << ", \"slept_share\": " << JsonNumber(sw.slept_share)
      << ", \"retries_per_majfault\": " << JsonNumber(sw.retries_per_major) << "}";
    j << ",\n     \"seconds\": " << JsonNumber(r.seconds)
      << ", \"run_seconds\": " << JsonNumber(RunSeconds(r))
      << ", \"warmup_seconds\": " << JsonNumber(run.warmup)
      << ", \"user_seconds\": " << JsonNumber(r.user_seconds)
      << ", \"sys_seconds\": " << JsonNumber(r.sys_seconds)
      << ", \"record_unit\": " << JsonString(run.record_unit)
      << ", \"records\": " << r.total.records
      << ", \"records_per_s\": " << JsonNumber(RecordsPerSecond(run)) << ", \"faults\": " << faults
      << ", \"faults_per_s\": " << JsonNumber(PerSecond(faults, RunSeconds(r)))
      << ", \"pages\": " << r.total.pages << ", \"iterations\": " << r.total.iterations;
    j << ",\n     \"per_thread_records\": [";
    for (size_t i = 0; i < r.per_thread.size(); i++)
      j << (i ? ", " : "") << r.per_thread[i].records;
    j << "], \"per_thread_faults\": [";
    for (size_t i = 0; i < r.per_thread.size(); i++)
      j << (i ? ", " : "")
        << (r.per_thread[i].faults ? std::to_string(*r.per_thread[i].faults) : "null");
    j << "]";
    j << ",\n     \"sample_seconds\": " << JsonNumber(r.sample_seconds)
      << ", \"warmup_samples\": " << r.warmup_samples << ", \"samples\": [";
    for (size_t i = 0; i < r.samples.size(); i++) j << (i ? ", " : "") << r.samples[i];
    j << "]";
    if (r.total.timed_ns)
      j << ", \"timed_ns\": " << r.total.timed_ns << ", \"ns_per_record\": "
        << JsonNumber(r.total.records ? static_cast<double>(r.total.timed_ns) / r.total.records
                                      : 0);
    else
      j << ", \"timed_ns\": null, \"ns_per_record\": null";
    j << ",\n     \"kernel\": ";
    if (r.kernel.empty()) {
      j << "null";
    } else {
      j << "{";
      bool first_k = true;
      for (const auto& [name, value] : r.kernel) {
        j << (first_k ? "" : ", ") << JsonString(name) << ": " << value;
        first_k = false;
      }
      j << "}";
    }

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
    j << "},\n     \"results\": {";
    first = true;
    for (const auto& [key, value] : run.results) {
      // Counts exactly, not in JsonNumber()'s 6 digits.
      const bool count = value >= 0 && value < 0x1p53 && value == std::floor(value);
      j << (first ? "" : ", ") << JsonString(key) << ": "
        << (count ? std::to_string(static_cast<uint64_t>(value)) : JsonNumber(value));
      first = false;
    }
    j << "}}";
  }
  j << "\n  ]\n}\n";
  return j.str();
}

}  // namespace shadowmm
