// SPDX-License-Identifier: GPL-2.0
//
// stock: the running kernel's own fault path on this process's own mm.
// Map is mmap() at an address the kernel picks, Touch really loads or
// stores, so every first access is a real page fault.  The kernel tells a
// process its faults through getrusage(): per thread (RUSAGE_THREAD) for
// BackendThread::Faults(), per process for Stats().
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
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
    const uint64_t end = addr + RoundUp(len, page_size_);
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
