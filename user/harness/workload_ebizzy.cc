// SPDX-License-Identifier: GPL-2.0
//
// ebizzy over a Backend: records/s of an allocate-copy-search-free cycle
// (see ebizzy.h for the flags).  -mTRp, the configuration the SPF and
// per-VMA lock series were measured with, makes every record an mmap, a
// run of first-touch faults and an munmap, among chunks that -p keeps in
// separate VMAs: mmap_lock writers against faulting readers.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ebizzy.h"
#include "workloads.h"

namespace shadowmm {

std::optional<EbizzyRng> ParseEbizzyRng(std::string_view name) {
  if (name == "lcg") return EbizzyRng::kLcg;
  if (name == "0.3") return EbizzyRng::kEbizzy03;
  return std::nullopt;
}

namespace {

// strtoul(base 0) of the whole argument; ebizzy rejects 0 for every number.
bool ParseNumber(const std::string& arg, uint64_t* out) {
  if (arg.empty() || arg[0] == '-') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(arg.c_str(), &end, 0);
  if (errno || *end != '\0' || v == 0) return false;
  *out = v;
  return true;
}

}  // namespace

std::string ParseEbizzyFlags(std::string_view flags, EbizzyOptions* o) {
  std::vector<std::string> args;
  for (size_t i = 0; i < flags.size();) {
    while (i < flags.size() && (flags[i] == ' ' || flags[i] == '\t')) i++;
    size_t j = i;
    while (j < flags.size() && flags[j] != ' ' && flags[j] != '\t') j++;
    if (j > i) args.emplace_back(flags.substr(i, j - i));
    i = j;
  }
  for (size_t a = 0; a < args.size(); a++) {
    const std::string& arg = args[a];
    if (arg.size() < 2 || arg[0] != '-')
      return "--ebizzy: unexpected '" + arg + "' (ebizzy flags look like -mTRp -n 10)";
    for (size_t k = 1; k < arg.size(); k++) {
      char c = arg[k];
      switch (c) {
        case 'l':
          o->no_lib_memcpy = true;
          continue;
        case 'm':
          o->always_mmap = true;
          continue;
        case 'M':
          o->never_mmap = true;
          continue;
        case 'p':
          o->use_permissions = true;
          continue;
        case 'P':
          o->use_holes = true;
          continue;
        case 'R':
          o->random_size = true;
          continue;
        case 'T':
          o->touch_pages = true;
          continue;
        case 'v':
          o->verbose++;
          continue;
        case 'z':
          o->linear = true;
          continue;
        case 'n':
        case 's':
        case 'S':
        case 't':
          break;
        default:
          return std::string("--ebizzy: unknown flag -") + c +
                 " (ebizzy's flags: -l -m -M -n N -p -P -R -s N -S N -t N -T -v -z)";
      }
      // The argument is the rest of this word, or the next word.
      std::string value = arg.substr(k + 1);
      if (value.empty()) {
        if (a + 1 >= args.size()) return std::string("--ebizzy: -") + c + " needs a number";
        value = args[++a];
      }
      uint64_t v = 0;
      if (!ParseNumber(value, &v))
        return std::string("--ebizzy: -") + c + " needs a positive number, not '" + value + "'";
      if (c == 'n') o->chunks = v;
      if (c == 's') o->chunk_size = v;
      if ((c == 'S' || c == 't') && v > 1000000)
        return std::string("--ebizzy: -") + c + " " + value + " is too large";
      if (c == 'S') o->seconds = static_cast<unsigned>(v);
      if (c == 't') o->threads = static_cast<unsigned>(v);
      break;
    }
  }
  if (o->always_mmap && o->never_mmap)
    return "--ebizzy: both -m \"always mmap\" and -M \"never mmap\" given";
  if (o->chunk_size < EbizzyOptions::kRecordSize)
    return "--ebizzy: chunk size " + std::to_string(o->chunk_size) + " smaller than record size " +
           std::to_string(EbizzyOptions::kRecordSize);
  if (o->chunks > (1u << 20)) return "--ebizzy: -n " + std::to_string(o->chunks) + " is too many";
  if (o->chunk_size > (1ULL << 30)) return "--ebizzy: -s larger than 1 GiB";
  return "";
}

namespace {

class Ebizzy : public Workload {
 public:
  Ebizzy(std::string flags, const EbizzyOptions& options, EbizzyRng rng)
      : flags_(std::move(flags)), o_(options), rng_(rng) {}

  std::string_view Name() const override { return "ebizzy"; }

  unsigned DefaultThreads() const override {
    return o_.threads ? *o_.threads : 2 * Workload::DefaultThreads();
  }
  double DefaultSeconds() const override { return o_.seconds ? *o_.seconds : 10; }

  std::map<std::string, std::string> Config() const override {
    return {
        {"ebizzy", flags_},
        {"chunks", std::to_string(o_.chunks)},
        {"chunk_size", std::to_string(o_.chunk_size)},
        {"always_mmap", std::to_string(o_.always_mmap)},
        {"use_permissions", std::to_string(o_.use_permissions)},
        {"use_holes", std::to_string(o_.use_holes)},
        {"random_size", std::to_string(o_.random_size)},
        {"touch_pages", std::to_string(o_.touch_pages)},
        {"rng", rng_ == EbizzyRng::kLcg ? "lcg" : "0.3"},
    };
  }

  // ebizzy's allocate() and write_pattern().
  void Setup(Backend& backend, BackendThread& main, unsigned) override {
    const uint64_t page = backend.PageSize();
    if (o_.verbose) PrintSettings(backend);
    const uint64_t array_bytes = o_.chunks * sizeof(uint64_t);
    mem_array_ = main.Map(array_bytes, Prot::kReadWrite);
    std::vector<uint64_t> holes;
    if (o_.use_holes) holes_array_ = main.Map(array_bytes, Prot::kReadWrite);
    for (uint64_t i = 0; i < o_.chunks; i++) {
      mem_.push_back(main.Map(o_.chunk_size, Prot::kReadWrite));
      if (o_.use_holes) holes.push_back(main.Map(page, Prot::kReadWrite));
    }
    main.Touch(mem_array_, array_bytes, page, Access::kWrite, 0);
    if (o_.use_holes) {
      main.Touch(holes_array_, array_bytes, page, Access::kWrite, 0);
      for (uint64_t hole : holes) main.Unmap(hole, page);
    }
    for (uint64_t i = 0; i < o_.chunks; i++) {
      main.Touch(mem_[i], o_.chunk_size, page, Access::kWrite, i);
      if (o_.use_permissions && i % 2 == 0) main.Protect(mem_[i], o_.chunk_size, Prot::kRead);
    }
    if (o_.verbose) std::printf("Wrote memory\n");
  }

  // ebizzy's search_mem().
  void Run(Backend& backend, WorkerContext& ctx) override {
    BackendThread& t = ctx.thread;
    const uint64_t page = backend.PageSize();
    const uint64_t records_per_chunk = o_.chunk_size / EbizzyOptions::kRecordSize;
    uint32_t state = 0;
    uint64_t heap = o_.always_mmap ? 0 : t.Map(o_.chunk_size, Prot::kReadWrite);
    while (ctx.Next()) {
      unsigned chunk = EbizzyRand(static_cast<unsigned>(o_.chunks), &state, rng_);
      uint64_t copy_size = o_.chunk_size;
      if (o_.random_size)
        copy_size = (EbizzyRand(static_cast<unsigned>(records_per_chunk), &state, rng_) + 1) *
                    EbizzyOptions::kRecordSize;
      const uint64_t span = RoundUp(copy_size, page);
      uint64_t copy = o_.always_mmap ? t.Map(copy_size, Prot::kReadWrite) : heap;
      if (o_.touch_pages) {
        t.Touch(copy, span, page, Access::kWrite, 0xff);
        ctx.counters.pages += span / page;
      } else {
        t.Touch(mem_[chunk], span, page, Access::kRead, 0);
        t.Touch(copy, span, page, Access::kWrite, 0);
        unsigned key =
            EbizzyRand(static_cast<unsigned>(copy_size / EbizzyOptions::kRecordSize), &state, rng_);
        t.Fault(copy + key * EbizzyOptions::kRecordSize, Access::kRead, 0);
        ctx.counters.pages += 2 * span / page;
      }
      if (o_.always_mmap) t.Unmap(copy, span);
      ctx.counters.records++;
    }
    if (heap) t.Unmap(heap, o_.chunk_size);
  }

  void Teardown(Backend&, BackendThread& main) override {
    for (uint64_t chunk : mem_) main.Unmap(chunk, o_.chunk_size);
    mem_.clear();
    const uint64_t array_bytes = o_.chunks * sizeof(uint64_t);
    main.Unmap(mem_array_, array_bytes);
    if (o_.use_holes) main.Unmap(holes_array_, array_bytes);
  }

 private:
  void PrintSettings(Backend& backend) const {
    std::printf(
        "always_mmap %u\nnever_mmap %u\nchunks %llu\n"
        "prevent coalescing using permissions %u\nprevent coalescing using holes %u\n"
        "random_size %u\nchunk_size %llu\ntouch_pages %u\npage size %llu\n",
        o_.always_mmap, o_.never_mmap, static_cast<unsigned long long>(o_.chunks),
        o_.use_permissions, o_.use_holes, o_.random_size,
        static_cast<unsigned long long>(o_.chunk_size), o_.touch_pages,
        static_cast<unsigned long long>(backend.PageSize()));
  }

  std::string flags_;
  EbizzyOptions o_;
  EbizzyRng rng_;
  std::vector<uint64_t> mem_;
  uint64_t mem_array_ = 0;
  uint64_t holes_array_ = 0;
};

}  // namespace

std::unique_ptr<Workload> MakeEbizzy(const WorkloadOptions& options) {
  EbizzyOptions o;
  std::string err = ParseEbizzyFlags(options.ebizzy, &o);
  if (!err.empty()) throw Error(err);
  std::optional<EbizzyRng> rng = ParseEbizzyRng(options.ebizzy_rng);
  if (!rng) throw Error("--ebizzy_rng must be lcg or 0.3, not '" + options.ebizzy_rng + "'");
  return std::make_unique<Ebizzy>(options.ebizzy, o, *rng);
}

}  // namespace shadowmm
