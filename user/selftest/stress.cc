// SPDX-License-Identifier: GPL-2.0
#include "stress.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ctl.h"
#include "tap.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;
constexpr size_t R = sizeof(shadowmm_cmd);
// Layout, from 8 GiB, in pages of the space: the shared region (faults and
// zaps by everyone, never remapped), the churn region (everyone maps,
// unmaps, protects and faults there: the races the fault paths exist for),
// then one slot of 1,024 pages per thread.  With 4 KiB pages a thread's
// region is 2.25 MiB, so it has two PTE tables of its own and shares the
// upper levels with its neighbours, whose unmaps free tables next to its
// lockless walks; with 64 KiB pages everything is 16 times larger (a PTE
// table spans 2 MiB in both geometries), so a region has 18 PTE tables and
// still shares the PMD's.  MAPs without MAP_FIXED land far below.
constexpr uint64_t kStressBase = 0x200000000;
constexpr uint64_t kSharedPages = 256;
constexpr uint64_t kChurnOffsetPages = 512;
constexpr uint64_t kChurnPages = 32;
constexpr uint64_t kOwnPages = 576;
constexpr uint64_t kSlotPages = 1024;

uint64_t ChurnBase() { return kStressBase + kChurnOffsetPages * P; }
// Every value stored in the shared region carries this tag, so a read of
// anything else (a stale or freed page) shows.
constexpr uint64_t kTag = 0xa5ULL << 56;
constexpr uint64_t kTagMask = 0xffULL << 56;

uint64_t OwnBase(unsigned t) { return kStressBase + (t + 1) * kSlotPages * P; }

class Rng {  // splitmix64: a fixed seed gives each thread a fixed sequence
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t Next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  uint64_t Below(uint64_t n) { return Next() % n; }

 private:
  uint64_t s_;
};

// What the threads' models say the space's counters must show.
struct Tally {
  uint64_t ops = 0, mismatches = 0;
  uint64_t accesses = 0, sigsegv = 0, own_faults = 0;
  uint64_t maps = 0, unmaps = 0, protects = 0, zaps = 0;
  uint64_t churn_unmaps = 0;  // counted by the module only if a VMA was there

  void Add(const Tally& o) {
    ops += o.ops;
    mismatches += o.mismatches;
    accesses += o.accesses;
    sigsegv += o.sigsegv;
    own_faults += o.own_faults;
    maps += o.maps;
    unmaps += o.unmaps;
    protects += o.protects;
    zaps += o.zaps;
    churn_unmaps += o.churn_unmaps;
  }
};

struct PageModel {
  bool mapped = false;
  bool present = false;
  uint64_t prot = kNone;
  uint64_t value = 0;
};

// A command with the result the model predicts for it.
struct Planned {
  shadowmm_cmd cmd{};
  int err = 0;
  bool check_faults = false;
  uint64_t faults = 0;
  bool check_value = false;
  uint64_t value = 0;
};

std::string Describe(const shadowmm_cmd& c) {
  static const char* const names[] = {"NONE",  "MAP",   "UNMAP",     "PROTECT", "ZAP",
                                      "FAULT", "TOUCH", "GET_STATS", "SET_MODE"};
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%s addr %#llx len %#llx prot %llu flags %#llx",
                c.op < std::size(names) ? names[c.op] : "?", (unsigned long long)c.addr,
                (unsigned long long)c.len, (unsigned long long)c.prot, (unsigned long long)c.flags);
  return buf;
}

class Worker {
 public:
  Worker(const Space& s, unsigned t, uint64_t seed, bool fixed_mode, uint64_t mode)
      : s_(s),
        t_(t),
        base_(OwnBase(t)),
        rng_(seed),
        pages_(kOwnPages),
        fixed_mode_(fixed_mode),
        mode_(mode) {}

  void set_swap(bool swap) { swap_ = swap; }

  void Setup() {
    Planned p = PlanMap(0, kOwnPages, kRW);
    Check(p, s_.Ioctl(p.cmd));
  }

  void Run(const std::atomic<bool>& stop) {
    // The mix, as cumulative percentages.
    static constexpr std::pair<uint64_t, void (Worker::*)()> kMix[] = {
        {22, &Worker::OpAccess}, {30, &Worker::OpTouch},    {37, &Worker::OpBatch},
        {43, &Worker::OpVma},    {47, &Worker::OpZap},      {60, &Worker::OpShared},
        {93, &Worker::OpChurn},  {98, &Worker::OpNonFixed}, {100, &Worker::OpStats},
    };
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t r = rng_.Below(100);
      for (const auto& [upto, op] : kMix) {
        if (r < upto) {
          (this->*op)();
          break;
        }
      }
      tally_.ops++;
    }
  }

  // After a swap phase: reads every page the model holds where a read
  // may, so each swapped-out one comes back through a swap-in and its
  // value is checked.  A timed phase on a slow kernel can end before any
  // fault needed a swapped page (the debug guest, 2 s a phase: once no
  // swap-in at all, which the phase requires).
  void ReadBack() {
    for (uint64_t p = 0; p < kOwnPages; p++) {
      const PageModel& pg = pages_[p];
      if (!pg.mapped || !pg.present || pg.prot == kNone) continue;
      Planned pl = PlanAccess(p, false, 0);
      Check(pl, s_.Ioctl(pl.cmd));
    }
  }

  const Tally& tally() const { return tally_; }

 private:
  uint64_t Addr(uint64_t p) const { return base_ + p * P; }

  void Span(uint64_t* p, uint64_t* k) {
    *k = 1 + rng_.Below(rng_.Below(4) ? 8 : 64);
    *p = rng_.Below(kOwnPages - *k + 1);
  }

  uint64_t RandomProt() {
    static const uint64_t prots[] = {kRW, kRW, kRO, kNone};
    return prots[rng_.Below(4)];
  }

  void Mismatch(const std::string& what) {
    if (++tally_.mismatches <= 5) Tap::Diag("stress thread " + std::to_string(t_) + ": " + what);
  }

  void Check(const Planned& p, int err) {
    if (err != p.err) {
      Mismatch(Describe(p.cmd) + ": " + ErrName(err) + ", model says " + ErrName(p.err));
      return;
    }
    // With swap, a page the model has present may have been swapped out
    // and fault again: never fewer faults than the model's, though.
    if (p.check_faults && (swap_ ? p.cmd.out_faults < p.faults : p.cmd.out_faults != p.faults))
      Mismatch(Describe(p.cmd) + ": out_faults " + Show(p.cmd.out_faults) + ", model says " +
               Show(p.faults));
    if (p.check_value && p.cmd.out_value != p.value)
      Mismatch(Describe(p.cmd) + ": value " + Show(p.cmd.out_value) + ", model says " +
               Show(p.value));
  }

  bool AnyMapped(uint64_t p, uint64_t k, bool want) const {
    for (uint64_t i = p; i < p + k; i++)
      if (pages_[i].mapped == want) return true;
    return false;
  }

  // ---- the model: each Plan* applies a command to it as the module must ----

  // One access to the first u64 of page p.
  int ModelAccess(uint64_t p, bool write, uint64_t value, uint64_t* faults, uint64_t* seen) {
    PageModel& pg = pages_[p];
    tally_.accesses++;
    const bool allowed = pg.mapped && (write ? pg.prot == kRW : pg.prot != kNone);
    if (!(pg.present && allowed)) {
      tally_.own_faults++;
      ++*faults;
    }
    if (!allowed) {
      tally_.sigsegv++;
      return EFAULT;
    }
    pg.present = true;
    if (write) pg.value = value;
    *seen = pg.value;
    return 0;
  }

  Planned PlanAccess(uint64_t p, bool write, uint64_t value) {
    Planned pl;
    pl.cmd = FaultCmd(Addr(p), write, value);
    pl.check_faults = true;
    pl.err = ModelAccess(p, write, value, &pl.faults, &pl.value);
    pl.check_value = pl.err == 0;
    return pl;
  }

  Planned PlanTouch(uint64_t p, uint64_t k, bool write, uint64_t value) {
    Planned pl;
    pl.cmd = TouchCmd(Addr(p), k * P, P, write, value);
    pl.check_faults = true;
    uint64_t seen;
    for (uint64_t i = p; i < p + k && !pl.err; i++)
      pl.err = ModelAccess(i, write, value, &pl.faults, &seen);
    return pl;
  }

  Planned PlanMap(uint64_t p, uint64_t k, uint64_t prot) {
    Planned pl;
    pl.cmd = MapCmd(Addr(p), k * P, prot);
    if (AnyMapped(p, k, true)) {
      pl.err = EEXIST;
      return pl;
    }
    for (uint64_t i = p; i < p + k; i++) pages_[i] = {true, false, prot, 0};
    tally_.maps++;
    return pl;
  }

  Planned PlanUnmap(uint64_t p, uint64_t k) {
    Planned pl;
    pl.cmd = Cmd(SHADOWMM_OP_UNMAP, Addr(p), k * P);
    if (AnyMapped(p, k, true)) tally_.unmaps++;  // counted only if a VMA was there
    for (uint64_t i = p; i < p + k; i++) pages_[i] = {};
    return pl;
  }

  Planned PlanProtect(uint64_t p, uint64_t k, uint64_t prot) {
    Planned pl;
    pl.cmd = ProtectCmd(Addr(p), k * P, prot);
    if (AnyMapped(p, k, false)) {
      pl.err = ENOMEM;
      return pl;
    }
    for (uint64_t i = p; i < p + k; i++) pages_[i].prot = prot;
    tally_.protects++;
    return pl;
  }

  Planned PlanZap(uint64_t p, uint64_t k) {
    Planned pl;
    pl.cmd = Cmd(SHADOWMM_OP_ZAP, Addr(p), k * P);
    if (AnyMapped(p, k, false)) {
      pl.err = ENOMEM;
      return pl;
    }
    for (uint64_t i = p; i < p + k; i++) {
      pages_[i].present = false;
      pages_[i].value = 0;
    }
    tally_.zaps++;
    return pl;
  }

  Planned PlanRandom() {
    uint64_t p, k;
    Span(&p, &k);
    switch (rng_.Below(7)) {
      case 0:
        return PlanMap(p, k, RandomProt());
      case 1:
        return PlanUnmap(p, k);
      case 2:
        return PlanProtect(p, k, RandomProt());
      case 3:
        return PlanZap(p, k);
      case 4:
        return PlanTouch(p, k, rng_.Below(2), rng_.Next());
      default:
        return PlanAccess(p, rng_.Below(2), rng_.Next());
    }
  }

  // ---- operations ----

  void OpAccess() {
    Planned pl = PlanAccess(rng_.Below(kOwnPages), rng_.Below(3) != 0, rng_.Next());
    Check(pl, s_.Ioctl(pl.cmd));
  }

  void OpTouch() {
    uint64_t p, k;
    Span(&p, &k);
    Planned pl = PlanTouch(p, k, rng_.Below(2), rng_.Next());
    Check(pl, s_.Ioctl(pl.cmd));
  }

  void OpVma() {
    uint64_t p, k;
    Span(&p, &k);
    Planned pl;
    switch (rng_.Below(3)) {
      case 0:
        // Mostly into a hole, so that the region does not only shrink.
        if (!pages_[p].mapped && rng_.Below(4)) {
          uint64_t j = 1;
          while (j < k && !pages_[p + j].mapped) j++;
          k = j;
        }
        pl = PlanMap(p, k, RandomProt());
        break;
      case 1:
        pl = PlanUnmap(p, k);
        break;
      default:
        pl = PlanProtect(p, k, RandomProt());
        break;
    }
    Check(pl, s_.Ioctl(pl.cmd));
  }

  void OpZap() {
    uint64_t p, k;
    Span(&p, &k);
    Planned pl = PlanZap(p, k);
    Check(pl, s_.Ioctl(pl.cmd));
  }

  // Records up to and including the first the model expects to fail.
  void OpBatch() {
    std::vector<shadowmm_cmd> recs;
    const uint64_t n = 2 + rng_.Below(6);
    int first_err = 0;
    while (recs.size() < n && !first_err) {
      Planned pl = PlanRandom();
      recs.push_back(pl.cmd);
      first_err = pl.err;
    }
    const ssize_t want =
        first_err ? (recs.size() == 1 ? -first_err : static_cast<ssize_t>((recs.size() - 1) * R))
                  : static_cast<ssize_t>(recs.size() * R);
    const ssize_t got = s_.Submit(recs);
    if (got != want)
      Mismatch("write() of " + std::to_string(recs.size()) + " records (last: " +
               Describe(recs.back()) + "): " + Show(got) + ", model says " + Show(want));
  }

  void OpShared() {
    const uint64_t k = 1 + rng_.Below(16);
    const uint64_t p = rng_.Below(kSharedPages - k + 1);
    const uint64_t addr = kStressBase + p * P;
    const uint64_t value = kTag | (uint64_t{t_} << 40) | (rng_.Next() >> 24);
    shadowmm_cmd c;
    switch (rng_.Below(8)) {
      case 0:
        c = Cmd(SHADOWMM_OP_ZAP, addr, k * P);
        tally_.zaps++;
        break;
      case 1:
      case 2:
        c = TouchCmd(addr, k * P, P, rng_.Below(2), value);
        tally_.accesses += k;
        break;
      case 3:
      case 4:
      case 5:
        c = FaultCmd(addr + 8 * rng_.Below(P / 8), true, value);
        tally_.accesses++;
        break;
      default:
        c = FaultCmd(addr + 8 * rng_.Below(P / 8), false);
        tally_.accesses++;
        break;
    }
    const int err = s_.Ioctl(c);
    if (err) {
      Mismatch(Describe(c) + " (shared): " + ErrName(err));
    } else if (c.op == SHADOWMM_OP_FAULT && !(c.flags & SHADOWMM_ACCESS_WRITE) &&
               c.out_value != 0 && (c.out_value & kTagMask) != kTag) {
      Mismatch(Describe(c) + " (shared): read " + Show(c.out_value) + ", not a stored value");
    }
  }

  // Nobody can predict the churn region: results are checked for being
  // possible at all, and the counters only where every outcome is known.
  void OpChurn() {
    const uint64_t k = 1 + rng_.Below(4);
    const uint64_t addr = ChurnBase() + rng_.Below(kChurnPages - k + 1) * P;
    const uint64_t value = kTag | (uint64_t{t_} << 40) | (rng_.Next() >> 24);
    shadowmm_cmd c;
    switch (rng_.Below(9)) {
      case 0:
        c = MapCmd(addr, k * P, RandomProt());
        break;
      case 1:
        c = Cmd(SHADOWMM_OP_UNMAP, addr, k * P);
        break;
      case 2:
        c = ProtectCmd(addr, k * P, RandomProt());
        break;
      case 3:
        c = Cmd(SHADOWMM_OP_ZAP, addr, k * P);
        break;
      default:
        c = FaultCmd(addr + 8 * rng_.Below(P / 8), rng_.Below(2), value);
        break;
    }
    const int err = s_.Ioctl(c);
    bool ok = true;
    switch (c.op) {
      case SHADOWMM_OP_MAP:
        ok = !err || err == EEXIST;
        tally_.maps += !err;
        break;
      case SHADOWMM_OP_UNMAP:
        ok = !err;
        tally_.churn_unmaps++;
        break;
      case SHADOWMM_OP_PROTECT:
        ok = !err || err == ENOMEM;
        tally_.protects += !err;
        break;
      case SHADOWMM_OP_ZAP:
        ok = !err || err == ENOMEM;
        tally_.zaps += !err;
        break;
      default:
        tally_.accesses++;
        tally_.sigsegv += err == EFAULT;
        ok = (!err || err == EFAULT) && c.out_faults <= 1;
        if (!err && !(c.flags & SHADOWMM_ACCESS_WRITE) && c.out_value != 0 &&
            (c.out_value & kTagMask) != kTag)
          Mismatch(Describe(c) + " (churn): read " + Show(c.out_value) + ", not a stored value");
        break;
    }
    if (!ok) Mismatch(Describe(c) + " (churn): " + ErrName(err));
  }

  void OpNonFixed() {
    const uint64_t len = (1 + rng_.Below(4)) * P;
    uint64_t addr = 0;
    int err = s_.Map(0, len, kRW, 0, &addr);
    if (err) {
      Mismatch("MAP without MAP_FIXED: " + ErrName(err));
      return;
    }
    tally_.maps++;
    if (addr < SHADOWMM_MMAP_MIN_ADDR || addr % P || addr + len > kStressBase)
      Mismatch("MAP without MAP_FIXED gave " + Show(addr) + " (+" + Show(len) + ")");
    const uint64_t v = kTag | t_;
    uint64_t seen = 0;
    if ((err = s_.Store(addr + len - P, v)) || (err = s_.Load(addr + len - P, &seen)) || seen != v)
      Mismatch("fault in a fresh non-fixed map: " + ErrName(err) + ", read " + Show(seen));
    tally_.accesses += 2;
    tally_.own_faults++;
    if ((err = s_.Unmap(addr, len))) Mismatch("UNMAP of a non-fixed map: " + ErrName(err));
    tally_.unmaps++;
  }

  void OpStats() {
    const shadowmm_stats st = s_.Stats();
    if (st.mms_live != 1 || st.nr_counters != SHADOWMM_NR_COUNTERS ||
        (fixed_mode_ && st.mode != mode_))
      Mismatch("GET_STATS: mode " + Show(st.mode) + " mms_live " + Show(st.mms_live));
  }

  bool swap_ = false;
  const Space& s_;
  unsigned t_;
  uint64_t base_;
  Rng rng_;
  std::vector<PageModel> pages_;
  bool fixed_mode_;
  uint64_t mode_;
  Tally tally_;
};

const char* SwapPolicyName(unsigned p) {
  static const char* const names[] = {"fallback", "drop-retry", "vma-retry"};
  return p < SHADOWMM_NR_SWAP_POLICIES ? names[p] : "?";
}

std::string PhaseName(int mode) {
  static const char* const names[] = {"classic", "spf", "vmalock", "mmseq"};
  return mode == kSwitchModes ? "switching" : names[mode];
}

// The counters of a space that the model can vouch for, and the identities
// every fault path keeps.
void CheckCounters(const shadowmm_stats& st, const Tally& t, int mode, uint64_t setup_maps) {
  auto c = [&](shadowmm_counter ev) { return Counter(st, ev); };
  EXPECT_EQ(c(SHADOWMM_EV_ACCESS), t.accesses);
  EXPECT_EQ(c(SHADOWMM_EV_ACCESS), c(SHADOWMM_EV_ACCESS_HIT) + c(SHADOWMM_EV_FAULT));
  EXPECT_GE(c(SHADOWMM_EV_FAULT), t.own_faults);
  EXPECT_EQ(c(SHADOWMM_EV_FAULT_SIGSEGV), t.sigsegv);
  EXPECT_EQ(c(SHADOWMM_EV_FAULT_OOM), 0u);
  EXPECT_EQ(c(SHADOWMM_EV_FAULT), c(SHADOWMM_EV_FAULT_CLASSIC) + c(SHADOWMM_EV_SPF_SUCCESS) +
                                      c(SHADOWMM_EV_MMSEQ_SUCCESS) +
                                      c(SHADOWMM_EV_VMA_LOCK_SUCCESS) +
                                      c(SHADOWMM_EV_FAULT_SIGSEGV) + c(SHADOWMM_EV_FAULT_OOM));
  const uint64_t spf_aborts = c(SHADOWMM_EV_SPF_ABORT_NO_VMA) + c(SHADOWMM_EV_SPF_ABORT_SEQ) +
                              c(SHADOWMM_EV_SPF_ABORT_ACCESS) + c(SHADOWMM_EV_SPF_ABORT_NO_TABLE) +
                              c(SHADOWMM_EV_SPF_ABORT_PTL_BUSY) + c(SHADOWMM_EV_SPF_ABORT_SEQ_PTL) +
                              c(SHADOWMM_EV_SPF_ABORT_NOMEM) + c(SHADOWMM_EV_SPF_ABORT_SWAP) +
                              c(SHADOWMM_EV_SPF_ABORT_NO_ANON);
  const uint64_t mmseq_aborts =
      c(SHADOWMM_EV_MMSEQ_ABORT_NO_VMA) + c(SHADOWMM_EV_MMSEQ_ABORT_SEQ) +
      c(SHADOWMM_EV_MMSEQ_ABORT_ACCESS) + c(SHADOWMM_EV_MMSEQ_ABORT_NO_TABLE) +
      c(SHADOWMM_EV_MMSEQ_ABORT_PTL_BUSY) + c(SHADOWMM_EV_MMSEQ_ABORT_SEQ_PTL) +
      c(SHADOWMM_EV_MMSEQ_ABORT_NOMEM) + c(SHADOWMM_EV_MMSEQ_ABORT_SWAP) +
      c(SHADOWMM_EV_MMSEQ_ABORT_NO_ANON);
  // A vmalock try ends in one of these; a swap wait retried under the
  // VMA lock ends in another try.
  const uint64_t vma_fallbacks = c(SHADOWMM_EV_VMA_LOCK_ABORT) + c(SHADOWMM_EV_VMA_LOCK_RETRY) +
                                 c(SHADOWMM_EV_VMA_LOCK_NO_ANON) +
                                 c(SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK);
  const uint64_t vma_attempts = c(SHADOWMM_EV_VMA_LOCK_SUCCESS) + vma_fallbacks;
  EXPECT_EQ(c(SHADOWMM_EV_SPF_ATTEMPT), c(SHADOWMM_EV_SPF_SUCCESS) + spf_aborts);
  EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_ATTEMPT), c(SHADOWMM_EV_MMSEQ_SUCCESS) + mmseq_aborts);
  EXPECT_EQ(c(SHADOWMM_EV_FALLBACK), spf_aborts + mmseq_aborts + vma_fallbacks);
  switch (mode) {
    case SHADOWMM_MODE_CLASSIC:
      EXPECT_EQ(c(SHADOWMM_EV_FAULT_CLASSIC) + c(SHADOWMM_EV_FAULT_SIGSEGV), c(SHADOWMM_EV_FAULT));
      break;
    case SHADOWMM_MODE_SPF:
      EXPECT_EQ(c(SHADOWMM_EV_SPF_ATTEMPT), c(SHADOWMM_EV_FAULT));
      break;
    case SHADOWMM_MODE_MMSEQ:
      EXPECT_EQ(c(SHADOWMM_EV_MMSEQ_ATTEMPT), c(SHADOWMM_EV_FAULT));
      break;
    case SHADOWMM_MODE_VMALOCK:
      EXPECT_EQ(vma_attempts, c(SHADOWMM_EV_FAULT));
      break;
  }
  EXPECT_EQ(c(SHADOWMM_EV_OP_MAP), t.maps + setup_maps);
  EXPECT_GE(c(SHADOWMM_EV_OP_UNMAP), t.unmaps);
  EXPECT_LE(c(SHADOWMM_EV_OP_UNMAP), t.unmaps + t.churn_unmaps);
  EXPECT_EQ(c(SHADOWMM_EV_OP_PROTECT), t.protects);
  EXPECT_EQ(c(SHADOWMM_EV_OP_ZAP), t.zaps);
  EXPECT_EQ(st.pages_live, c(SHADOWMM_EV_PAGE_ALLOC) - c(SHADOWMM_EV_PAGE_FREE));
}

// Pages the threads can fault at once: their regions and the shared one.
uint64_t PagesTouched(const StressOptions& opts) {
  return opts.threads * (kOwnPages + 4) + kSharedPages;
}

void StressPhase(const StressOptions& opts, int mode, double seconds, unsigned phase) {
  const GlobalStats before = ReadGlobalStats();
  const bool fixed_mode = mode != kSwitchModes;
  Tally total;
  shadowmm_stats st{};
  double elapsed = 0;
  {
    Space s;
    ASSERT_OK(s.SetMode(fixed_mode ? mode : SHADOWMM_MODE_CLASSIC));
    if (opts.swap) {
      const uint64_t touched = PagesTouched(opts);
      shadowmm_memory mem{.max_pages = touched / 8, .swap_slots = 2 * touched,
                          .swap_latency_us = 20};
      ASSERT_OK(s.SetMemory(mem));
      ASSERT_OK(s.SetSwapPolicy(phase % SHADOWMM_NR_SWAP_POLICIES));
    }
    ASSERT_OK(s.MapFixed(kStressBase, kSharedPages * P));
    ASSERT_OK(s.MapFixed(ChurnBase(), kChurnPages * P));
    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned t = 0; t < opts.threads; t++) {
      workers.push_back(std::make_unique<Worker>(s, t, opts.seed * 1000003 + phase * 7919 + t,
                                                 fixed_mode, fixed_mode ? mode : 0));
      workers.back()->set_swap(opts.swap);
      workers.back()->Setup();
    }
    std::atomic<bool> go{false}, stop{false};
    std::vector<std::thread> threads;
    for (auto& w : workers) {
      threads.emplace_back([&go, &stop, w = w.get()] {
        while (!go.load()) std::this_thread::yield();
        w->Run(stop);
      });
    }
    uint64_t switches = 0;
    if (!fixed_mode) {
      threads.emplace_back([&] {
        Rng rng(opts.seed + phase);
        while (!go.load()) std::this_thread::yield();
        while (!stop.load(std::memory_order_relaxed)) {
          EXPECT_OK(s.SetMode(rng.Below(SHADOWMM_NR_MODES)));
          switches++;
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
      });
    }
    const auto start = std::chrono::steady_clock::now();
    go = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : threads) th.join();
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (opts.swap)
      for (auto& w : workers) w->ReadBack();
    for (auto& w : workers) total.Add(w->tally());
    st = s.Stats();
    CheckCounters(st, total, mode, 2);  // shared and churn; workers count theirs
    if (opts.swap) {
      // Pages went out and came back, and what came back was checked.
      EXPECT_GT(Counter(st, SHADOWMM_EV_PSWPOUT), 0u);
      EXPECT_GT(Counter(st, SHADOWMM_EV_PSWPIN), 0u);
      EXPECT_LE(st.pages_live, PagesTouched(opts) / 8);
    }
    if (!fixed_mode) Tap::Diag("mode switches: " + std::to_string(switches));
  }
  EXPECT_EQ(total.mismatches, 0u);
  // The summary: the model's numbers, then every counter that moved.
  static const char* const names[] = {
#define SMM_NAME(name, str) str,
      SHADOWMM_COUNTERS(SMM_NAME)
#undef SMM_NAME
  };
  std::string counters;
  for (unsigned i = 0; i < SHADOWMM_NR_COUNTERS; i++)
    if (st.counter[i])
      counters += std::string(" ") + names[i] + "=" + std::to_string(st.counter[i]);
  char head[160];
  std::snprintf(head, sizeof(head),
                "stress %s%s%s: %u threads, %.2f s, %llu ops (%.0f/s), %llu mismatches;",
                PhaseName(mode).c_str(), opts.swap ? ", swap " : "",
                opts.swap ? SwapPolicyName(phase % SHADOWMM_NR_SWAP_POLICIES) : "",
                opts.threads, elapsed, (unsigned long long)total.ops, total.ops / elapsed,
                (unsigned long long)total.mismatches);
  Tap::Diag(head + counters);
  // Closed: everything it had is gone, and it was consistent to the end.
  const GlobalStats after = ReadGlobalStats();
  for (const char* gauge : {"mms_live", "vmas_live", "tables_live", "pages_live"})
    EXPECT_EQ(after[gauge], before[gauge]);
  EXPECT_EQ(after["validate_runs"], before["validate_runs"] + 1);
  EXPECT_EQ(after["validate_failed"], 0u);
}

}  // namespace

int RunStress(const StressOptions& opts) {
  Tap tap;
  const double per_phase = opts.seconds / opts.modes.size();
  std::unique_ptr<SettingGuard> inject;
  std::unique_ptr<SettingGuard> validate, pages;
  tap.Add("stress: setup", [&] {
    if (!opts.inject.empty())
      inject = std::make_unique<SettingGuard>(DebugfsFile("inject"), opts.inject);
    validate = std::make_unique<SettingGuard>(ParamFile("validate_on_release"), "Y");
    // Enough for every region fully faulted, twice over: no ENOMEM.
    const uint64_t need = PagesTouched(opts);
    pages = std::make_unique<SettingGuard>(ParamFile("max_pages"), std::to_string(2 * need));
    Tap::Diag("stress: " + std::to_string(opts.threads) + " threads, " +
              std::to_string(per_phase).substr(0, 5) + " s per phase, seed " +
              std::to_string(opts.seed) + ", inject " +
              (opts.inject.empty() ? ReadLine(DebugfsFile("inject")) : opts.inject));
  });
  unsigned phase = 0;
  for (int mode : opts.modes) {
    const unsigned ph = phase++;
    tap.Add("stress " + PhaseName(mode) + (opts.swap ? " with swap" : "") + ": " +
                std::to_string(opts.threads) +
                " threads on one fd, model-checked, counters add up, nothing left",
            [&opts, mode, per_phase, ph] { StressPhase(opts, mode, per_phase, ph); });
  }
  tap.Add("stress: settings restored", [&] {
    inject.reset();
    validate.reset();
    pages.reset();
  });
  return tap.Run("");
}

}  // namespace shadowmm::selftest
