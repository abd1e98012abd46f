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
    if (config.max_pages != 0) throw Error("--max_pages applies to --backend=inproc only");
    if (config.geometry && *config.geometry != SHADOWMM_GEOM_HOST)
      throw Error(
          "stock backend: the running kernel's pages are its own: --geometry=host only, not " +
          std::string(GeometryName(*config.geometry)));
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
