// SPDX-License-Identifier: GPL-2.0
//
// ebizzy over a Backend: records/s of an allocate-copy-search-free cycle
// (see ebizzy.h for the flags), doing what ebizzy 0.3's search_mem() does:
// on stock the same malloc(), memcpy() (or -l byte loop), bsearch() (or -z
// linear search) and free(); on the shadow backends the same bytes moved
// and compared through the shadow pages by the core (COPY, SEARCH).  -mTRp, the configuration the
// SPF and per-VMA lock series were measured with, makes every record an mmap, a run of first-touch
// faults and an munmap, among chunks that -p keeps in separate VMAs: mmap_lock writers against
// faulting readers.
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ebizzy.h"
#include "stock_thread.h"
#include "workloads.h"

namespace shadowmm {

std::optional<EbizzyRng> ParseEbizzyRng(std::string_view name) {
  // "lcg" is the name this generator had when it was the default.
  if (name == "lcg-fixed" || name == "lcg") return EbizzyRng::kLcgFixed;
  if (name == "0.3") return EbizzyRng::kEbizzy03;
  return std::nullopt;
}

std::string_view EbizzyRngName(EbizzyRng rng) {
  return rng == EbizzyRng::kLcgFixed ? "lcg-fixed" : "0.3";
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
        {"rng", std::string(EbizzyRngName(rng_))},
        {"no_lib_memcpy", std::to_string(o_.no_lib_memcpy)},
        {"linear", std::to_string(o_.linear)},
        {"never_mmap", std::to_string(o_.never_mmap)},
    };
  }

  // ebizzy's allocate() and write_pattern().  Chunks are mappings on every
  // backend (ebizzy's malloc() maps them too, being larger than glibc's
  // first mmap threshold, or takes them from the heap with -M).
  void Setup(Backend& backend, BackendThread& main, unsigned) override {
    const uint64_t page = backend.PageSize();
    if (o_.verbose) PrintSettings(backend);
    if (o_.never_mmap) backend.HeapNeverMmap();
    // Without -m, ebizzy's -p and -P do nothing to the chunks: mprotect()
    // of a malloc()ed chunk fails (glibc puts its header first, so the
    // chunk starts 16 bytes past a page boundary) and a freed one-page
    // malloc() leaves no hole between chunks.
    const bool permissions = o_.use_permissions && o_.always_mmap;
    const bool holes = o_.use_holes && o_.always_mmap;
    const uint64_t array_bytes = o_.chunks * sizeof(uint64_t);
    mem_array_ = main.Map(array_bytes, Prot::kReadWrite);
    std::vector<uint64_t> hole_pages;
    if (o_.use_holes) holes_array_ = main.Map(array_bytes, Prot::kReadWrite);
    for (uint64_t i = 0; i < o_.chunks; i++) {
      mem_.push_back(main.Map(o_.chunk_size, Prot::kReadWrite));
      if (holes) hole_pages.push_back(main.Map(page, Prot::kReadWrite));
    }
    main.Touch(mem_array_, array_bytes, page, Access::kWrite, 0);
    if (o_.use_holes) {
      main.Touch(holes_array_, array_bytes, page, Access::kWrite, 0);
      for (uint64_t hole : hole_pages) main.Unmap(hole, page);
    }
    const uint64_t records = o_.chunk_size / EbizzyOptions::kRecordSize;
    for (uint64_t i = 0; i < o_.chunks; i++) {
      if (o_.touch_pages) {
        // Nothing reads the records: one store per page faults the chunk
        // in as ebizzy's pattern does, at a fraction of the commands.
        main.Touch(mem_[i], o_.chunk_size, page, Access::kWrite, i);
      } else if (i == 0) {
        // mem[i][j] = j: record j holds j, so bsearch() finds every key.
        for (uint64_t j = 0; j < records; j++)
          main.Fault(mem_[0] + j * EbizzyOptions::kRecordSize, Access::kWrite, j);
      } else {
        // Every chunk holds the same records: copy chunk 0's.
        main.Copy(mem_[i], mem_[0], records * EbizzyOptions::kRecordSize, CopyLoop::kMemcpy);
      }
      if (permissions && i % 2 == 0) main.Protect(mem_[i], o_.chunk_size, Prot::kRead);
    }
    if (o_.verbose) std::printf("Wrote memory\n");
  }

  // ebizzy's search_mem().
  // The loop is written once; the stock backend's thread is final, so the
  // instance for it calls malloc, memcpy and bsearch as directly as ebizzy
  // does, without a virtual call per step (a -R record is ~50 ns).
  void Run(Backend& backend, WorkerContext& ctx) override {
    if (auto* stock = dynamic_cast<StockThread*>(&ctx.thread))
      Loop(*stock, backend, ctx);
    else
      Loop(ctx.thread, backend, ctx);
  }

 private:
  template <class Thread>
  void Loop(Thread& t, Backend& backend, WorkerContext& ctx) {
    const uint64_t page = backend.PageSize();
    // Shifts, not 64-bit divisions: a -R record of ebizzy's costs ~50 ns,
    // and one division is a fifth of that.
    const int page_shift = std::countr_zero(page);
    const uint64_t record = EbizzyOptions::kRecordSize;
    const uint64_t records_per_chunk = o_.chunk_size / record;
    const CopyLoop loop = o_.no_lib_memcpy ? CopyLoop::kByteLoop : CopyLoop::kMemcpy;
    const SearchKind search = o_.linear ? SearchKind::kLinear : SearchKind::kBinary;
    uint32_t state = 0;
    while (ctx.Next()) {
      unsigned chunk = EbizzyRand(static_cast<unsigned>(o_.chunks), &state, rng_);
      uint64_t copy_size = o_.chunk_size;
      if (o_.random_size)
        copy_size =
            (EbizzyRand(static_cast<unsigned>(records_per_chunk), &state, rng_) + 1) * record;
      // A mask, not RoundUp()'s 64-bit division: with -R and 0.3's
      // one-record copies a record costs tens of nanoseconds, as ebizzy's.
      const uint64_t span = (copy_size + page - 1) & ~(page - 1);
      uint64_t copy = o_.always_mmap ? t.Map(copy_size, Prot::kReadWrite) : t.HeapAlloc(copy_size);
      if (o_.touch_pages) {
        t.Touch(copy, copy_size, page, Access::kWrite, 0xff);
        ctx.counters.pages += span >> page_shift;
      } else {
        t.Copy(copy, mem_[chunk], copy_size, loop);
        unsigned key = EbizzyRand(static_cast<unsigned>(copy_size / record), &state, rng_);
        t.Search(copy, copy_size, record, key, search);
        ctx.counters.pages += 2 * (span >> page_shift);
      }
      if (o_.always_mmap)
        t.Unmap(copy, span);
      else
        t.HeapFree(copy);
      ctx.counters.records++;
    }
    t.HeapRelease();
  }

 public:
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
  if (!rng) throw Error("--ebizzy_rng must be 0.3 or lcg-fixed, not '" + options.ebizzy_rng + "'");
  return std::make_unique<Ebizzy>(options.ebizzy, o, *rng);
}

}  // namespace shadowmm
