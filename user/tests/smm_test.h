// SPDX-License-Identifier: GPL-2.0
// Helpers shared by the core's userspace tests: an RAII shadow space with
// one wrapper per command, and a fixture that fails a test which leaks an
// allocation or trips a WARN_ON in the core.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern "C" {
#include "shim_test.h"
#include "smm_api.h"
}

namespace smm_test {

// The page of the geometry a Space has unless a test asks for another:
// x86-64's, on every host, so that these tests' layouts hold everywhere.
// Tests of other geometries take the page size from the space.
inline constexpr uint64_t kPage = SHADOWMM_PAGE_SIZE_MIN;
inline constexpr uint64_t kRW = SHADOWMM_PROT_READ | SHADOWMM_PROT_WRITE;
inline constexpr uint64_t kRO = SHADOWMM_PROT_READ;
inline constexpr uint64_t kNone = SHADOWMM_PROT_NONE;
// A PTE table spans 2 MiB.
inline constexpr uint64_t kTableSpan = kPage * 512;

// Single-threaded, exhaustive tests replay less under TSan, which slows
// them 5-15x and adds only what races with the RCU callback thread: a
// sample of the sequences finds that as well, and the unit and ASan
// builds still run all of them.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif

// One shadow address space.
class Space {
 public:
  explicit Space(unsigned mode = SHADOWMM_MODE_CLASSIC, smm_limits limits = {},
                 unsigned geometry = SHADOWMM_GEOM_4K) {
    create_result_ = smm_mm_create(&limits, mode, geometry, &mm_);
  }
  ~Space() { reset(); }
  Space(const Space&) = delete;
  Space& operator=(const Space&) = delete;

  // A space the core made (FORK's child), owned from here.
  struct Adopted {};
  Space(Adopted, smm_mm* mm) : mm_(mm) {}

  int create_result() const { return create_result_; }
  // FORK: the child, or nullptr with the errno in *err.
  std::unique_ptr<Space> fork(int* err = nullptr) const {
    smm_mm* child = nullptr;
    const int ret = smm_fork(mm_, &child);
    if (err) *err = ret;
    return ret ? nullptr : std::make_unique<Space>(Adopted{}, child);
  }
  // The u64 at @addr without faulting (present or swapped), or nullopt.
  std::optional<uint64_t> peek(uint64_t addr) const {
    __u64 val = 0;
    if (smm_mm_peek(mm_, addr, &val) != 1) return std::nullopt;
    return val;
  }
  smm_mm* get() const { return mm_; }
  shadowmm_info info() const {
    shadowmm_info info{};
    smm_mm_info(mm_, &info);
    return info;
  }
  uint64_t page_size() const { return info().page_size; }
  void reset() {
    if (mm_) smm_mm_destroy(mm_);
    mm_ = nullptr;
  }

  int exec(shadowmm_cmd& cmd) const { return smm_exec(mm_, &cmd); }
  int set_tlb_policy(unsigned policy) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_SET_TLB_POLICY, .value = policy};
    return exec(cmd);
  }
  int map(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags = SHADOWMM_MAP_FIXED,
          uint64_t* out = nullptr) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_MAP, .addr = addr, .len = len, .prot = prot, .flags = flags};
    int ret = exec(cmd);
    if (out) *out = cmd.out_addr;
    return ret;
  }
  int unmap(uint64_t addr, uint64_t len) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_UNMAP, .addr = addr, .len = len};
    return exec(cmd);
  }
  int protect(uint64_t addr, uint64_t len, uint64_t prot) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_PROTECT, .addr = addr, .len = len, .prot = prot};
    return exec(cmd);
  }
  int zap(uint64_t addr, uint64_t len) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_ZAP, .addr = addr, .len = len};
    return exec(cmd);
  }
  // A userfault command (UFFD_REGISTER ... UFFD_WAKE); *out_len: COPY's.
  int uffd(uint64_t op, uint64_t addr, uint64_t len, uint64_t flags = 0, uint64_t value = 0,
           uint64_t* out_len = nullptr) const {
    shadowmm_cmd cmd{.op = op, .addr = addr, .len = len, .flags = flags, .value = value};
    int ret = exec(cmd);
    if (out_len) *out_len = cmd.out_len;
    return ret;
  }
  int uffd_register(uint64_t addr, uint64_t len) const {
    return uffd(SHADOWMM_OP_UFFD_REGISTER, addr, len, SHADOWMM_UFFD_MISSING);
  }
  int uffd_unregister(uint64_t addr, uint64_t len) const {
    return uffd(SHADOWMM_OP_UFFD_UNREGISTER, addr, len);
  }
  // Reads (write=false, result in *out) or writes @value at @addr.
  int fault(uint64_t addr, bool write, uint64_t value = 0, uint64_t* out = nullptr,
            bool* faulted = nullptr) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_FAULT,
                     .addr = addr,
                     .flags = write ? SHADOWMM_ACCESS_WRITE : 0,
                     .value = value};
    int ret = exec(cmd);
    if (out) *out = cmd.out_value;
    if (faulted) *faulted = cmd.out_faults;
    return ret;
  }
  int touch(uint64_t addr, uint64_t len, uint64_t stride, bool write, uint64_t* faults = nullptr,
            uint64_t value = 1) const {
    shadowmm_cmd cmd{.op = SHADOWMM_OP_TOUCH,
                     .addr = addr,
                     .len = len,
                     .flags = write ? SHADOWMM_ACCESS_WRITE : 0,
                     .stride = stride,
                     .value = value};
    int ret = exec(cmd);
    if (faults) *faults = cmd.out_faults;
    return ret;
  }
  shadowmm_stats stats() const {
    shadowmm_stats st;
    smm_mm_stats(mm_, &st);
    return st;
  }
  uint64_t counter(shadowmm_counter c) const { return stats().counter[c]; }
  std::vector<smm_vma_info> vmas() const {
    std::vector<smm_vma_info> v(4096);
    long n = smm_mm_vmas(mm_, v.data(), static_cast<long>(v.size()));
    v.resize(static_cast<size_t>(n));
    if (n > 4096) smm_mm_vmas(mm_, v.data(), n);
    return v;
  }
  // Empty when the space is consistent, else what is wrong.
  std::string validate() const {
    char why[256] = "";
    return smm_mm_validate(mm_, why, sizeof(why)) ? std::string(why) : std::string();
  }

 private:
  smm_mm* mm_ = nullptr;
  int create_result_ = 0;
};

// Every test starts and ends with the same live allocations and no new
// warnings: a leak or a WARN_ON anywhere in the core fails the test.
class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rcu_barrier();
    allocs_ = smm_shim_allocs_live(-1);
    warnings_ = smm_shim_warnings();
  }
  void TearDown() override {
    smm_set_race_injection(0);
    smm_set_bugs(0);
    smm_shim_signal_after(-1);
    smm_shim_fail_nth(0);
    smm_shim_background_reclaim(true);
    rcu_barrier();
    EXPECT_EQ(smm_shim_allocs_live(-1), allocs_) << "allocations leaked";
    EXPECT_EQ(smm_shim_warnings(), warnings_) << "the core warned";
  }

 private:
  long allocs_ = 0;
  long warnings_ = 0;
};

inline const char* mode_name(unsigned mode) { return smm_mode_name(mode); }

// Faults that ended: every FAULT is exactly one of these.
inline uint64_t faults_accounted(const shadowmm_stats& st) {
  const auto* c = st.counter;
  return c[SHADOWMM_EV_SPF_SUCCESS] + c[SHADOWMM_EV_MMSEQ_SUCCESS] +
         c[SHADOWMM_EV_VMA_LOCK_SUCCESS] + c[SHADOWMM_EV_FAULT_CLASSIC] +
         c[SHADOWMM_EV_FAULT_SIGSEGV] + c[SHADOWMM_EV_FAULT_OOM] + c[SHADOWMM_EV_FAULT_SIGBUS];
}

// Worker threads with a stop flag.  Stopping (explicitly or when the
// object goes out of scope, e.g. after a failed ASSERT) raises the flag
// before joining, so a test can never hang on its own workers.
class Workers {
 public:
  ~Workers() { stop(); }
  template <class F>
  void spawn(F&& f) {
    threads_.emplace_back(std::forward<F>(f));
  }
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }
  void stop() {
    stop_ = true;
    threads_.clear();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::jthread> threads_;
};

// Duration of the bounded concurrent tests, SMM_STRESS_MS or @fallback.
int stress_ms(int fallback);

}  // namespace smm_test
