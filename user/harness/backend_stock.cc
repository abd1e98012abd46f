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

#include "stock_memory.h"
#include "stock_thread.h"

namespace shadowmm {

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

namespace {
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
}  // namespace

GlibcHeap::GlibcHeap() {
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

namespace {

class StockBackend : public Backend {
 public:
  explicit StockBackend(const BackendConfig& config)
      : page_size_(static_cast<uint64_t>(sysconf(_SC_PAGESIZE))) {
    if (config.mode != Mode::kStock && config.mode != Mode::kClassic)
      throw Error("stock backend runs the kernel's own fault path only: --mode=" +
                  std::string(ModeName(config.mode)) + " needs --backend=module or inproc");
    if (config.submit != Submit::kIoctl) throw Error("--submit applies to --backend=module only");
    if (config.geometry && *config.geometry != SHADOWMM_GEOM_HOST)
      throw Error(
          "stock backend: the running kernel's pages are its own: --geometry=host only, not " +
          std::string(GeometryName(*config.geometry)));
    if (config.swap_policy) SetSwapPolicy(*config.swap_policy);
    if (config.swap_latency_us)
      throw Error("stock backend: the swap device has its own latency (no --swap_latency_us)");
    if (config.max_pages || config.swap_slots) {
      shadowmm_memory m{};
      m.max_pages = config.max_pages;
      m.swap_slots = config.swap_slots.value_or(0);
      SetMemory(m);
    }
  }

  std::string_view Name() const override { return "stock"; }
  uint64_t PageSize() const override { return page_size_; }
  unsigned Geometry() const override {
    return page_size_ == 65536 ? SHADOWMM_GEOM_64K : SHADOWMM_GEOM_4K;
  }
  std::unique_ptr<BackendThread> Attach(unsigned) override {
    return std::make_unique<StockThread>(page_size_);
  }
  void SetMode(Mode mode) override {
    if (mode != Mode::kStock && mode != Mode::kClassic)
      throw Error("stock backend has no mode '" + std::string(ModeName(mode)) + "'");
  }
  Mode GetMode() override { return Mode::kStock; }

  bool IsThisProcess() const override { return true; }
  std::unique_ptr<Userfaults> OpenUserfaults() override { return MakeStockUserfaults(page_size_); }
  std::unique_ptr<Backend> Fork() override {
    throw Error("stock backend: the space is this process's own mm: fork() the process instead");
  }

  void HeapNeverMmap() override {
    if (Glibc().mallopt(M_MMAP_MAX, 0) != 1) throw Error("mallopt(M_MMAP_MAX, 0) failed");
  }

  shadowmm_stats Stats() override {
    shadowmm_stats st{};
    st.nr_counters = SHADOWMM_NR_COUNTERS;
    st.mms_live = 1;
    st.counter[SHADOWMM_EV_FAULT] = RusageFaults(RUSAGE_SELF);
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    st.counter[SHADOWMM_EV_PGMAJFAULT] = static_cast<uint64_t>(ru.ru_majflt);
    return st;
  }

  shadowmm_memory Memory() override {
    shadowmm_memory m{};
    if (memory_) {
      m.max_pages = memory_->limit_bytes() / page_size_;
      m.swap_slots = memory_->swap_bytes() / page_size_;
    }
    return m;
  }
  std::optional<unsigned> SwapPolicy() override { return std::nullopt; }

  // The old cgroup and swap device go before the new ones come: the
  // process is back in its own cgroup in between.
  void SetMemory(const shadowmm_memory& m) override {
    if (m.wmark_high || m.wmark_low || m.swap_latency_us)
      throw Error("stock backend: watermarks and swap latency are the kernel's own");
    memory_.reset();
    if (m.max_pages || m.swap_slots)
      memory_ = std::make_unique<StockMemory>(m.max_pages * page_size_, m.swap_slots * page_size_,
                                              page_size_);
  }

  void SetSwapPolicy(unsigned policy) override {
    throw Error("stock backend: the kernel's swap-in path is its own (no swap policy '" +
                std::string(SwapPolicyName(policy)) + "')");
  }

  std::optional<uint64_t> Reclaim(uint64_t addr, uint64_t len, uint64_t) override {
    if (!len) throw Error("stock backend: reclaim needs a range (MADV_PAGEOUT)");
    if (madvise(reinterpret_cast<void*>(addr), len, MADV_PAGEOUT) != 0)
      throw SysError("madvise(MADV_PAGEOUT)", errno);
    return std::nullopt;
  }

  std::string MemoryNote() const override { return memory_ ? memory_->description() : ""; }

 private:
  uint64_t page_size_;
  std::unique_ptr<StockMemory> memory_;
};

}  // namespace

std::unique_ptr<Backend> MakeStockBackend(const BackendConfig& config) {
  return std::make_unique<StockBackend>(config);
}

}  // namespace shadowmm
