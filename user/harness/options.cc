// SPDX-License-Identifier: GPL-2.0
#include "options.h"

#include <numa.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "arena.h"
#include "ebizzy.h"

extern "C" {
#include "smm_api.h"
}

namespace shadowmm {
namespace {

constexpr unsigned kMaxThreads = 4096;

bool ParseUint(const std::string& s, unsigned long long* v) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return false;
  errno = 0;
  *v = std::strtoull(s.c_str(), nullptr, 10);
  return errno == 0;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

}  // namespace

std::string ParseUnsignedList(const std::string& flag, const std::string& text,
                              std::vector<unsigned>* out) {
  out->clear();
  for (const std::string& item : Split(text, ',')) {
    unsigned long long v = 0;
    if (!ParseUint(item, &v) || v == 0 || v > kMaxThreads)
      return "--" + flag + ": '" + item + "' is not a count from 1 to " +
             std::to_string(kMaxThreads) + " (give N or a list like 1,2,4)";
    out->push_back(static_cast<unsigned>(v));
  }
  return "";
}

std::string ParseCpuList(const std::string& text, std::vector<int>* out) {
  out->clear();
  long configured = sysconf(_SC_NPROCESSORS_CONF);
  for (const std::string& item : Split(text, ',')) {
    std::vector<std::string> range = Split(item, '-');
    unsigned long long lo = 0, hi = 0;
    bool ok = range.size() <= 2 && ParseUint(range[0], &lo);
    hi = lo;
    if (ok && range.size() == 2) ok = ParseUint(range[1], &hi) && hi >= lo;
    if (!ok) return "--cpus: '" + item + "' is not a CPU or range (e.g. 0-3,8)";
    if (hi >= static_cast<unsigned long long>(configured) || hi >= CPU_SETSIZE)
      return "--cpus: CPU " + std::to_string(hi) + " does not exist (this machine has " +
             std::to_string(configured) + ")";
    for (unsigned long long c = lo; c <= hi; c++) out->push_back(static_cast<int>(c));
  }
  return "";
}

std::string ParseOptions(const RawFlags& raw, Options* out) {
  Options o;
  if (raw.backend != "stock" && raw.backend != "module" && raw.backend != "inproc")
    return "--backend: unknown backend '" + raw.backend + "' (stock|module|inproc)";
  o.backend = raw.backend;

  if (raw.mode == "all") {
    if (raw.backend == "stock")
      o.modes = {Mode::kStock};
    else
      o.modes.assign(std::begin(kShadowModes), std::end(kShadowModes));
  } else {
    for (const std::string& name : Split(raw.mode, ',')) {
      std::optional<Mode> m = ParseMode(name);
      if (!m) return "--mode: unknown mode '" + name + "' (classic|spf|vmalock|mmseq|all)";
      if (raw.backend == "stock") {
        if (*m != Mode::kClassic && *m != Mode::kStock)
          return "--mode=" + name +
                 ": the stock backend runs the kernel's own fault path only (classic|stock|all)";
        m = Mode::kStock;
      } else if (*m == Mode::kStock) {
        return "--mode=stock is the stock backend's (use --backend=stock)";
      }
      o.modes.push_back(*m);
    }
  }

  std::optional<Submit> submit = ParseSubmit(raw.submit);
  if (!submit) return "--submit: unknown '" + raw.submit + "' (ioctl|write|uring)";
  if (*submit != Submit::kIoctl && raw.backend != "module")
    return "--submit=" + raw.submit + " applies to --backend=module only";
  o.submit = *submit;
  if (raw.batch < 1 || raw.batch > 4096) return "--batch must be 1..4096 records per write";
  o.batch = static_cast<unsigned>(raw.batch);
  if (raw.touch_chunk_pages < 0) return "--touch_chunk_pages must be >= 0";
  o.touch_chunk_pages = static_cast<uint64_t>(raw.touch_chunk_pages);
  if (raw.max_pages < 0) return "--max_pages must be >= 0";
  if (raw.resident_pages && *raw.resident_pages < 0) return "--resident_pages must be >= 0";
  if (raw.resident_pages && raw.max_pages && *raw.resident_pages != raw.max_pages)
    return "--max_pages is --resident_pages's older name: give one";
  o.max_pages = static_cast<uint64_t>(raw.resident_pages.value_or(raw.max_pages));
  if (o.max_pages > (1ULL << 32)) return "--resident_pages must be at most 4294967296";
  if (raw.swap_slots) {
    if (*raw.swap_slots < 0) return "--swap_slots must be >= 0";
    o.swap_slots = static_cast<uint64_t>(*raw.swap_slots);
  }
  if (raw.swap_latency_us) {
    if (*raw.swap_latency_us < 0 || *raw.swap_latency_us > 1000000)
      return "--swap_latency_us must be 0..1000000 microseconds";
    if (raw.backend == "stock")
      return "--swap_latency_us: the stock backend's swap device has its own latency";
    o.swap_latency_us = static_cast<uint64_t>(*raw.swap_latency_us);
  }
  if (!raw.swap_policy.empty()) {
    if (raw.backend == "stock")
      return "--swap_policy: the stock backend's swap-in path is the kernel's own";
    if (raw.swap_policy == "all") {
      for (unsigned p = 0; p < SHADOWMM_NR_SWAP_POLICIES; p++) o.swap_policies.push_back(p);
    } else {
      for (const std::string& name : Split(raw.swap_policy, ',')) {
        std::optional<unsigned> p = ParseSwapPolicy(name);
        if (!p)
          return "--swap_policy: unknown policy '" + name + "' (fallback|drop-retry|vma-retry|all)";
        o.swap_policies.push_back(*p);
      }
    }
  }
  if (!raw.layout.empty()) {
    if (raw.backend == "stock")
      return "--layout: the stock backend's mappings go where the running kernel puts them";
    std::optional<Layout> layout = ParseLayout(raw.layout);
    if (!layout) return "--layout: unknown layout '" + raw.layout + "' (shared|per-thread)";
    o.layout = *layout;
  }
  if (!raw.anon_policy.empty()) {
    if (raw.backend == "stock")
      return "--anon_policy: the stock backend's faults are the running kernel's own";
    o.anon_policy = ParseAnonPolicy(raw.anon_policy);
    if (!o.anon_policy)
      return "--anon_policy: unknown policy '" + raw.anon_policy + "' (fallback|trylock)";
  }
  if (!raw.tlb_policy.empty()) {
    if (raw.backend == "stock")
      return "--tlb_policy: the stock backend's TLBs are the machine's own";
    o.tlb_policy = ParseTlbPolicy(raw.tlb_policy);
    if (!o.tlb_policy)
      return "--tlb_policy: unknown policy '" + raw.tlb_policy + "' (none|rcu|ipi)";
  }
  if (!raw.model.empty()) {
    if (raw.backend == "stock") return "--model: the stock backend is the kernel itself";
    o.model = ParseModel(raw.model);
    if (!o.model)
      return "--model: unknown choice in '" + raw.model +
             "' (a comma list of unmap_write, tlb_waiters_stay; or none)";
  }
  if (!raw.geometry.empty()) {
    o.geometry = ParseGeometry(raw.geometry);
    if (!o.geometry) return "--geometry: unknown geometry '" + raw.geometry + "' (host|4k|64k)";
    if (raw.backend == "stock" && *o.geometry != SHADOWMM_GEOM_HOST)
      return "--geometry=" + raw.geometry +
             ": the stock backend has the running kernel's own pages (host only)";
  }
  if (!raw.bugs.empty()) {
    if (raw.backend != "inproc")
      return "--bugs: knobs are set in-process only (the module's are its bugs file)";
    for (size_t pos = 0;;) {
      const size_t comma = raw.bugs.find(',', pos);
      const std::string name = raw.bugs.substr(pos, comma - pos);
      unsigned b = 0;
      while (smm_bug_name(b) && name != smm_bug_name(b)) b++;
      if (!smm_bug_name(b)) return "--bugs: unknown knob '" + name + "'";
      o.bugs |= 1UL << b;
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
  }
  o.ctl = raw.ctl;
  o.json = raw.json;

  if (raw.duration < 0 || raw.duration > 1e6) return "--duration must be 0 < S <= 1e6 seconds";
  if (raw.iterations < 0) return "--iterations must be >= 0";
  if (raw.warmup < 0 || raw.warmup > 1e6) return "--warmup must be 0 <= S <= 1e6 seconds";
  o.warmup = raw.warmup;
  if (raw.repetitions < 1 || raw.repetitions > 1000) return "--repetitions must be 1..1000";
  o.repetitions = static_cast<unsigned>(raw.repetitions);
  o.processes = raw.processes;
  o.affinity = !raw.no_affinity;
  if (raw.no_affinity && !raw.cpus.empty())
    return "--no-affinity and --cpus contradict each other (give one)";
  o.aslr = raw.aslr;
  o.iterations = static_cast<uint64_t>(raw.iterations);

  o.workload.name = raw.workload;
  o.workload.ebizzy = raw.ebizzy;
  o.workload.ebizzy_rng = raw.ebizzy_rng;
  if (raw.pagefault_size <= 0) return "--pagefault_size must be positive";
  if (raw.pft_size <= 0) return "--pft_size must be positive";
  if (static_cast<uint64_t>(raw.pagefault_size) > AddressArenas::kArenaSize / 2 ||
      static_cast<uint64_t>(raw.pft_size) > AddressArenas::kArenaSize / 2)
    return "--pagefault_size and --pft_size must be at most " +
           std::to_string(AddressArenas::kArenaSize / 2 >> 20) + " MiB";
  if (raw.multifault_pages <= 0) return "--multifault_pages must be positive";
  if (raw.spf_test_areas <= 0 || raw.spf_test_pages <= 0)
    return "--spf_test_areas and --spf_test_pages must be positive";
  o.workload.spf_test_areas = static_cast<uint64_t>(raw.spf_test_areas);
  o.workload.spf_test_pages = static_cast<uint64_t>(raw.spf_test_pages);
  o.workload.pagefault_bytes = static_cast<uint64_t>(raw.pagefault_size);
  o.workload.pft_bytes = static_cast<uint64_t>(raw.pft_size);
  o.workload.multifault_pages = static_cast<uint64_t>(raw.multifault_pages);
  if (raw.cow_size <= 0 || static_cast<uint64_t>(raw.cow_size) > AddressArenas::kArenaSize / 2)
    return "--cow_size must be positive and at most " +
           std::to_string(AddressArenas::kArenaSize / 2 >> 20) + " MiB";
  if (raw.fork_vmas <= 0 || raw.fork_vmas > (1 << 20)) return "--fork_vmas must be 1..1048576";
  if (raw.fork_fault_pages <= 0 || raw.fork_fault_pages > (1 << 20))
    return "--fork_fault_pages must be 1..1048576";
  o.workload.cow_bytes = static_cast<uint64_t>(raw.cow_size);
  o.workload.fork_vmas = static_cast<uint64_t>(raw.fork_vmas);
  o.workload.fork_fault_pages = static_cast<uint64_t>(raw.fork_fault_pages);
  if (raw.uffd_pages <= 0 || raw.uffd_pages > (1 << 20)) return "--uffd_pages must be 1..1048576";
  if (raw.uffd_resolvers <= 0 || raw.uffd_resolvers > 64) return "--uffd_resolvers must be 1..64";
  o.workload.uffd_pages = static_cast<uint64_t>(raw.uffd_pages);
  o.workload.uffd_resolvers = static_cast<unsigned>(raw.uffd_resolvers);
  o.workload.uffd_mapper = raw.uffd_mapper;
  // Checked by MakeWorkload() below (a negative count becomes too large).
  o.workload.mapbench_mode = raw.mapbench;
  o.workload.mapbench_pages = static_cast<uint64_t>(raw.mapbench_pages);
  if (raw.swap_hot_pct < 0 || raw.swap_hot_pct > 100)
    return "--swap_hot_pct must be 0 (uniform) or 50..99";
  o.workload.swap_ratio = raw.swap_ratio;
  o.workload.swap_hot_pct = static_cast<unsigned>(raw.swap_hot_pct);
  if (raw.swap_mapper && raw.workload != "swap") return "--swap_mapper is the swap workload's";
  o.workload.swap_mapper = raw.swap_mapper;

  std::unique_ptr<Workload> workload;
  try {
    workload = MakeWorkload(o.workload);
  } catch (const Error& e) {
    return e.what();
  }

  // The swap workload's defaults: a budget, and a slot for every page of
  // the working set, so reclaim never runs out of swap.
  if (raw.workload == "swap") {
    if (!o.max_pages) o.max_pages = kSwapDefaultResidentPages;
    if (!o.swap_slots)
      o.swap_slots =
          static_cast<uint64_t>(std::ceil(raw.swap_ratio * static_cast<double>(o.max_pages)));
  }
  if (raw.backend == "stock" && o.max_pages && !o.swap_slots.value_or(0))
    return "--backend=stock: a --resident_pages budget needs --swap_slots (a memory cgroup "
           "limit without swap only OOM-kills)";
  if (raw.backend == "stock" && raw.processes && (o.max_pages || o.swap_slots.value_or(0)))
    return "--processes: the stock backend's budget and swap are one cgroup and device for "
           "this process, not one per worker";

  // ebizzy's own -t and -S stand in for --threads and --duration; both
  // at once would leave one of them ignored.
  if (raw.workload == "ebizzy") {
    EbizzyOptions eb;
    ParseEbizzyFlags(raw.ebizzy, &eb);  // valid: MakeWorkload parsed it
    if (eb.threads && !raw.threads.empty())
      return "threads given twice: --threads and --ebizzy='-t N' (give one)";
    if (eb.seconds && raw.duration > 0)
      return "duration given twice: --duration and --ebizzy='-S N' (give one)";
  }
  if (!raw.threads.empty()) {
    if (std::string err = ParseUnsignedList("threads", raw.threads, &o.threads); !err.empty())
      return err;
  }
  if (o.threads.empty()) o.threads = {workload->DefaultThreads()};
  for (unsigned t : o.threads)
    if (t == 0 || t > kMaxThreads)
      return "threads must be 1.." + std::to_string(kMaxThreads) + ", not " + std::to_string(t);
  o.seconds = raw.duration > 0 ? raw.duration : workload->DefaultSeconds();
  if (raw.warmup_default) o.warmup = workload->DefaultWarmupSeconds();
  if (o.iterations == 0 && o.seconds <= 0) return "--duration must be positive";

  if (!raw.cpus.empty()) {
    if (std::string err = ParseCpuList(raw.cpus, &o.cpus); !err.empty()) return err;
  }
  if (raw.node >= 0) {
    if (numa_available() < 0) return "--node: NUMA is not available on this machine";
    if (raw.node > numa_max_node())
      return "--node " + std::to_string(raw.node) + ": nodes are 0.." +
             std::to_string(numa_max_node());
    o.node = raw.node;
  } else if (raw.node != -1) {
    return "--node must be a node number (or -1: no binding)";
  }
  *out = std::move(o);
  return "";
}

std::vector<std::pair<Mode, std::optional<unsigned>>> ModeRuns(
    const std::vector<Mode>& modes, const std::vector<unsigned>& policies) {
  std::vector<std::pair<Mode, std::optional<unsigned>>> runs;
  for (Mode mode : modes) {
    if (policies.empty())
      runs.emplace_back(mode, std::nullopt);
    else if (mode != Mode::kVmalock)
      runs.emplace_back(mode, policies.front());
    else
      for (unsigned p : policies) runs.emplace_back(mode, p);
  }
  return runs;
}

void BindToNode(int node) {
  if (numa_available() < 0) throw Error("--node: NUMA is not available on this machine");
  if (numa_run_on_node(node) != 0)
    throw SysError("--node " + std::to_string(node) + ": numa_run_on_node", errno);
  numa_set_preferred(node);
}

}  // namespace shadowmm
