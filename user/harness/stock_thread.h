// SPDX-License-Identifier: GPL-2.0
//
// The stock backend's thread: the running kernel's own fault path on this
// process's own mm.  Declared here, and final, so a workload whose records
// cost tens of nanoseconds (ebizzy -R without -m: malloc, an 8-byte copy,
// a one-record bsearch, free) can compile its loop against it directly,
// as ebizzy's compiles against libc, instead of paying a virtual call per
// step (see workload_ebizzy.cc).  Everything else uses it through
// BackendThread.
#ifndef SHADOWMM_HARNESS_STOCK_THREAD_H_
#define SHADOWMM_HARNESS_STOCK_THREAD_H_

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "backend.h"

namespace shadowmm {

int StockProt(Prot prot);
uint64_t RusageFaults(int who);

// The accesses must happen, and threads may share a page (the swap
// workload's working set): relaxed atomics are never merged or dropped,
// race-free for TSan, and compile to the plain u64 store or load a shadow
// TOUCH does.
inline void StockStore(uint64_t addr, uint64_t value) {
  __atomic_store_n(reinterpret_cast<uint64_t*>(addr), value, __ATOMIC_RELAXED);
}
inline uint64_t StockLoad(uint64_t addr) {
  return __atomic_load_n(reinterpret_cast<uint64_t*>(addr), __ATOMIC_RELAXED);
}

// ebizzy's heap: glibc's malloc/free/mallopt (backend_stock.cc says why).
struct GlibcHeap {
  void* (*malloc)(size_t) = std::malloc;
  void (*free)(void*) = std::free;
  int (*mallopt)(int, int) = ::mallopt;
  GlibcHeap();
};
const GlibcHeap& Glibc();

// ebizzy 0.3's my_memcpy() (-l) and compare() (backend_stock.cc).
void EbizzyByteCopy(void* dest, const void* src, size_t len);
int EbizzyCompare(const void* p1, const void* p2);

class StockThread final : public BackendThread {
 public:
  explicit StockThread(uint64_t page_size)
      : page_size_(page_size), malloc_(Glibc().malloc), free_(Glibc().free) {}

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
      for (uint64_t a = addr; a < end; a += stride) StockStore(a, value);
    } else {
      uint64_t sink = 0;
      for (uint64_t a = addr; a < end; a += stride) sink += StockLoad(a);
      sink_ = sink;
    }
  }

  void Fault(uint64_t addr, Access access, uint64_t value) override {
    if (access == Access::kWrite)
      StockStore(addr, value);
    else
      sink_ = StockLoad(addr);
  }

  uint64_t Load(uint64_t addr) override { return StockLoad(addr); }

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
    void* p = malloc_(len);
    if (!p) throw SysError("malloc", ENOMEM);
    return reinterpret_cast<uint64_t>(p);
  }
  void HeapFree(uint64_t addr) override { free_(reinterpret_cast<void*>(addr)); }

  std::optional<uint64_t> Faults() const override { return RusageFaults(RUSAGE_THREAD); }

 private:
  uint64_t page_size_;
  void* (*malloc_)(size_t);
  void (*free_)(void*);
  uint64_t sink_ = 0;
};

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_STOCK_THREAD_H_
