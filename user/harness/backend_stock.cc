// SPDX-License-Identifier: GPL-2.0
//
// stock: the running kernel's own fault path on this process's own mm.
// Map is mmap() at an address the kernel picks, Touch really loads or
// stores, so every first access is a real page fault.  The kernel tells a
// process its faults through getrusage(): per thread (RUSAGE_THREAD) for
// BackendThread::Faults(), per process for Stats().
#include <dlfcn.h>
#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "backend.h"

namespace shadowmm {
namespace {

int StockProt(Prot prot) {
  switch (prot) {
    case Prot::kNone:
      return PROT_NONE;
    case Prot::kRead:
      return PROT_READ;
    case Prot::kReadWrite:
      return PROT_READ | PROT_WRITE;
  }
  return PROT_NONE;
}

uint64_t RusageFaults(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<uint64_t>(ru.ru_minflt) + static_cast<uint64_t>(ru.ru_majflt);
}

// The accesses must happen: volatile keeps the compiler from merging or
// dropping them, and a u64 store is what a shadow TOUCH does.
inline void Store(uint64_t addr, uint64_t value) {
  *reinterpret_cast<volatile uint64_t*>(addr) = value;
}
inline uint64_t LoadU64(uint64_t addr) { return *reinterpret_cast<volatile uint64_t*>(addr); }

// ebizzy's malloc() is glibc's; the bench binaries may link another
// allocator (tcmalloc, for the in-process host), which would change what a
// record costs and ignore mallopt().  So ebizzy's heap calls go to glibc's
// own functions, looked up in libc itself.  Not under a sanitizer: those
// builds link no other allocator, and the sanitizer's own malloc must see
// every allocation (TSan orders a block's reuse across threads through it;
// ASan's blocks cannot go to glibc's free()).
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr bool kLookUpGlibc = false;
#else
constexpr bool kLookUpGlibc = true;
#endif

struct GlibcHeap {
  void* (*malloc)(size_t) = std::malloc;
  void (*free)(void*) = std::free;
  int (*mallopt)(int, int) = ::mallopt;

  GlibcHeap() {
    if (!kLookUpGlibc) return;
    void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    if (!libc) return;
    auto m = reinterpret_cast<void* (*)(size_t)>(dlsym(libc, "malloc"));
    auto f = reinterpret_cast<void (*)(void*)>(dlsym(libc, "free"));
    auto o = reinterpret_cast<int (*)(int, int)>(dlsym(libc, "mallopt"));
    if (m && f && o) {
      malloc = m;
      free = f;
      mallopt = o;
    }
  }
};

const GlibcHeap& Glibc() {
  static const GlibcHeap heap;
  return heap;
}

// ebizzy 0.3's my_memcpy() (-l), the same loop: a byte at a time with an
// int index.  GCC at -O2 keeps it a byte loop, as it does in ebizzy built
// with LTP's flags; noinline keeps it from being merged into its caller.
[[gnu::noinline]] void EbizzyByteCopy(void* dest, const void* src, size_t len) {
  char* d = static_cast<char*>(dest);
  const char* s = static_cast<const char*>(src);
  for (int i = 0; i < static_cast<long>(len); i++) d[i] = s[i];
}

// ebizzy 0.3's compare() for bsearch(), including its truncation to int.
int EbizzyCompare(const void* p1, const void* p2) {
  return static_cast<int>(*static_cast<const uint64_t*>(p1) - *static_cast<const uint64_t*>(p2));
}

class StockThread : public BackendThread {
 public:
  explicit StockThread(uint64_t page_size) : page_size_(page_size) {}

  uint64_t Map(uint64_t len, Prot prot) override {
    void* p = mmap(nullptr, RoundUp(len, page_size_), StockProt(prot), MAP_PRIVATE | MAP_ANONYMOUS,
                   -1, 0);
    if (p == MAP_FAILED) throw SysError("mmap", errno);
    return reinterpret_cast<uint64_t>(p);
  }

  void Unmap(uint64_t addr, uint64_t len) override {
    if (munmap(reinterpret_cast<void*>(addr), RoundUp(len, page_size_)))
      throw SysError("munmap", errno);
  }

  void Protect(uint64_t addr, uint64_t len, Prot prot) override {
    if (mprotect(reinterpret_cast<void*>(addr), RoundUp(len, page_size_), StockProt(prot)))
      throw SysError("mprotect", errno);
  }

  void Zap(uint64_t addr, uint64_t len) override {
    if (madvise(reinterpret_cast<void*>(addr), RoundUp(len, page_size_), MADV_DONTNEED))
      throw SysError("madvise(MADV_DONTNEED)", errno);
  }

  void Touch(uint64_t addr, uint64_t len, uint64_t stride, Access access, uint64_t value) override {
    if (stride == 0 || stride % 8 != 0) throw Error("touch stride must be a multiple of 8");
    // The page size is a power of two: no division in a hot path.
    const uint64_t end = addr + ((len + page_size_ - 1) & ~(page_size_ - 1));
    if (access == Access::kWrite) {
      for (uint64_t a = addr; a < end; a += stride) Store(a, value);
    } else {
      uint64_t sink = 0;
      for (uint64_t a = addr; a < end; a += stride) sink += LoadU64(a);
      sink_ = sink;
    }
  }

  void Fault(uint64_t addr, Access access, uint64_t value) override {
    if (access == Access::kWrite)
      Store(addr, value);
    else
      sink_ = LoadU64(addr);
  }

  uint64_t Load(uint64_t addr) override { return LoadU64(addr); }

  void Copy(uint64_t dst, uint64_t src, uint64_t len, CopyLoop loop) override {
    if (loop == CopyLoop::kByteLoop)
      EbizzyByteCopy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), len);
    else
      std::memcpy(reinterpret_cast<void*>(dst), reinterpret_cast<const void*>(src), len);
  }

  std::optional<uint64_t> Search(uint64_t addr, uint64_t len, uint64_t record, uint64_t key,
                                 SearchKind kind) override {
    const char* base = reinterpret_cast<const char*>(addr);
    const void* found = nullptr;
    // Records are a power of two in practice (ebizzy's are 8 bytes): a
    // shift, where ebizzy's compiler sees a constant, not a 64-bit
    // division, which costs as much as the rest of a one-record search.
    const int shift = (record & (record - 1)) == 0 ? std::countr_zero(record) : -1;
    auto per_record = [&](uint64_t bytes) { return shift >= 0 ? bytes >> shift : bytes / record; };
    if (kind == SearchKind::kLinear) {
      // ebizzy's linear_search().
      for (const char* p = base; p < base + len; p += record) {
        if (*reinterpret_cast<const uint64_t*>(p) == key) {
          found = p;
          break;
        }
      }
    } else {
      found = std::bsearch(&key, base, per_record(len), record, EbizzyCompare);
    }
    if (!found) throw Error("ebizzy: couldn't find key " + std::to_string(key));
    return per_record(static_cast<uint64_t>(static_cast<const char*>(found) - base));
  }

  uint64_t HeapAlloc(uint64_t len) override {
    void* p = Glibc().malloc(len);
    if (!p) throw SysError("malloc", ENOMEM);
    return reinterpret_cast<uint64_t>(p);
  }
  void HeapFree(uint64_t addr) override { Glibc().free(reinterpret_cast<void*>(addr)); }

  std::optional<uint64_t> Faults() const override { return RusageFaults(RUSAGE_THREAD); }

 private:
  uint64_t page_size_;
  uint64_t sink_ = 0;
};

class StockBackend : public Backend {
 public:
  explicit StockBackend(const BackendConfig& config)
      : page_size_(static_cast<uint64_t>(sysconf(_SC_PAGESIZE))) {
    if (config.mode != Mode::kStock && config.mode != Mode::kClassic)
      throw Error("stock backend runs the kernel's own fault path only: --mode=" +
                  std::string(ModeName(config.mode)) + " needs --backend=module or inproc");
    if (config.submit != Submit::kIoctl) throw Error("--submit applies to --backend=module only");
    if (config.max_pages != 0) throw Error("--max_pages applies to --backend=inproc only");
  }

  std::string_view Name() const override { return "stock"; }
  uint64_t PageSize() const override { return page_size_; }
  std::unique_ptr<BackendThread> Attach(unsigned) override {
    return std::make_unique<StockThread>(page_size_);
  }
  void SetMode(Mode mode) override {
    if (mode != Mode::kStock && mode != Mode::kClassic)
      throw Error("stock backend has no mode '" + std::string(ModeName(mode)) + "'");
  }
  Mode GetMode() override { return Mode::kStock; }

  void HeapNeverMmap() override {
    if (Glibc().mallopt(M_MMAP_MAX, 0) != 1) throw Error("mallopt(M_MMAP_MAX, 0) failed");
  }

  shadowmm_stats Stats() override {
    shadowmm_stats st{};
    st.nr_counters = SHADOWMM_NR_COUNTERS;
    st.mms_live = 1;
    st.counter[SHADOWMM_EV_FAULT] = RusageFaults(RUSAGE_SELF);
    return st;
  }

 private:
  uint64_t page_size_;
};

}  // namespace

std::unique_ptr<Backend> MakeStockBackend(const BackendConfig& config) {
  return std::make_unique<StockBackend>(config);
}

}  // namespace shadowmm
