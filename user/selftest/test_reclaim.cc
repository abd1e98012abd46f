// SPDX-License-Identifier: GPL-2.0
//
// Reclaim and swap through the module: SET_MEMORY, RECLAIM and swap-in
// faults in every mode and swap policy, bad input, and the kernel's own
// memory pressure reaching the shrinker (on the debug kernel, with lockdep
// watching the locks reclaim takes inside fs_reclaim).
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

uint64_t Pattern(uint64_t page) { return 0x5eed0000ULL + page * 7919; }

int Reclaim(const Space& s, uint64_t pages, uint64_t* got) {
  shadowmm_cmd c{};
  c.op = SHADOWMM_OP_RECLAIM;
  c.value = pages;
  int ret = s.Ioctl(c);
  if (got) *got = c.out_value;
  return ret;
}

// Every page out and back in, contents checked, in each mode and policy.
void RoundTrip() {
  constexpr uint64_t kPages = 64;
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++)
    for (uint64_t policy = 0; policy < SHADOWMM_NR_SWAP_POLICIES; policy++) {
      if (mode != SHADOWMM_MODE_VMALOCK && policy != SHADOWMM_SWAP_DROP_RETRY) continue;
      Space s;
      ASSERT_OK(s.SetMode(mode));
      ASSERT_OK(s.SetSwapPolicy(policy));
      shadowmm_memory mem{};
      mem.swap_slots = 2 * kPages;
      mem.swap_latency_us = 50;
      ASSERT_OK(s.SetMemory(mem));
      ASSERT_OK(s.MapFixed(kBase, kPages * P));
      for (uint64_t i = 0; i < kPages; i++) ASSERT_OK(s.Store(kBase + i * P + 8, Pattern(i)));
      uint64_t got = 0;
      ASSERT_OK(Reclaim(s, 0, &got));
      EXPECT_EQ(got, kPages);
      EXPECT_EQ(s.Stats().pages_live, 0u);
      for (uint64_t i = 0; i < kPages; i++) {
        uint64_t v = 0;
        ASSERT_OK(s.Load(kBase + i * P + 8, &v));
        ASSERT_EQ(v, Pattern(i));
      }
      const shadowmm_stats st = s.Stats();
      EXPECT_EQ(Counter(st, SHADOWMM_EV_PSWPOUT), kPages);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_PSWPIN), kPages);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_PGMAJFAULT), kPages);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_SWAP_SLOT_ALLOC), Counter(st, SHADOWMM_EV_SWAP_SLOT_FREE));
      const shadowmm_info info = s.Info();
      EXPECT_EQ(info.swap_slots, 2 * kPages);
      EXPECT_EQ(info.swap_policy, policy);
    }
}

void BadInput() {
  Space s;
  shadowmm_memory mem{};
  mem.max_pages = 10;
  mem.wmark_high = 5;
  mem.wmark_low = 6;
  EXPECT_ERR(s.SetMemory(mem), EINVAL);
  EXPECT_ERR(s.SetSwapPolicy(SHADOWMM_NR_SWAP_POLICIES), EINVAL);
  ASSERT_OK(s.MapFixed(kBase, 4 * P));
  ASSERT_OK(s.Store(kBase, 1));
  EXPECT_ERR(Reclaim(s, 0, nullptr), ENOSPC);  // no swap
  shadowmm_cmd c{};
  c.op = SHADOWMM_OP_RECLAIM;
  c.addr = kBase + 8;
  c.len = P;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
}

// A field of /proc/meminfo in KiB, 0 if absent.
uint64_t MemInfoKiB(const std::string& field) {
  std::ifstream f("/proc/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string key;
    uint64_t kb = 0;
    if (in >> key >> kb && key == field + ":") return kb;
  }
  return 0;
}

// The zone user memory comes from (the one with the most pages): its free
// pages and watermarks (boost included, as the allocator checks them),
// from /proc/zoneinfo.  Read through a descriptor opened while memory was
// plentiful: the seq_file keeps its buffer, so under pressure a read
// allocates nothing (zoneinfo's buffer is two pages, which a fragmented
// zone without compaction may not have).
struct ZoneLevels {
  uint64_t free = 0, boost = 0, min = 0, low = 0, managed = 0;
};

bool BiggestZone(int fd, ZoneLevels* out) {
  static char buf[1 << 16];
  const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return false;
  buf[n] = 0;
  std::istringstream f(buf);
  std::string line;
  ZoneLevels best, cur;
  auto done = [&] {
    if (cur.managed > best.managed) best = cur;
    cur = ZoneLevels{};
  };
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::string a, b;
    uint64_t v = 0;
    if (!(in >> a)) continue;
    if (a == "Node") {
      done();
    } else if (a == "pages" && in >> b >> v && b == "free") {
      cur.free = v;
    } else if (a == "boost" && in >> v) {
      cur.boost = v;
    } else if (a == "min" && in >> v) {
      cur.min = v;
    } else if (a == "low" && in >> v) {
      cur.low = v;
    } else if (a == "managed" && in >> v) {
      cur.managed = v;
    }
  }
  done();
  *out = best;
  return best.managed > 0;
}

// A descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The child of ShrinkerUnderPressure: takes the guest's memory until the
// shrinker has taken @target pages of the space behind @fd.  It allocates
// (MAP_POPULATE: in the kernel, without a fault a page) while its zone is
// above the middle of min and low, half the distance at a time, and waits
// below it.  On the way down the zone crosses low, and once the smaller
// zones it falls back to are at theirs too, an allocation wakes kswapd,
// which does the reclaim.  Nothing it does falls to min, where direct
// reclaim and the OOM killer are.
// Returns the exit status: 0 target reached, 1 timed out, 2 out of
// address space, 3 no stats, 4 no zoneinfo.
int PressureChild(int fd, int zoneinfo, uint64_t pgsteal0, uint64_t target) {
  // If the OOM killer comes all the same, this process is what it takes.
  if (FILE* f = std::fopen("/proc/self/oom_score_adj", "w")) {
    std::fputs("1000", f);
    std::fclose(f);
  }
  const uint64_t host_page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const double deadline = Now() + 120;
  while (Now() < deadline) {
    // Not Space::Stats(): its ASSERT would unwind into the parent's tests.
    shadowmm_stats st{};
    shadowmm_cmd c = Cmd(SHADOWMM_OP_GET_STATS);
    c.ptr = reinterpret_cast<uintptr_t>(&st);
    c.len = sizeof(st);
    if (ioctl(fd, SHADOWMM_IOC(c.op), &c) < 0 || c.out_len != sizeof(st)) return 3;
    if (Counter(st, SHADOWMM_EV_PGSTEAL) - pgsteal0 >= target) return 0;
    ZoneLevels z;
    if (!BiggestZone(zoneinfo, &z)) return 4;
    const uint64_t floor = z.boost + z.min + (z.low - z.min) / 2;
    if (z.free <= floor) {
      usleep(10000);
      continue;
    }
    const uint64_t step = std::clamp<uint64_t>((z.free - floor) * host_page / 2, 1 << 20, 64 << 20);
    if (mmap(nullptr, step, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
             0) == MAP_FAILED)
      return 2;
  }
  return 1;
}

// A space holding many resident pages with swap behind it, and a child
// that takes the guest's memory until the kernel's reclaim (kswapd) has
// asked our shrinker for pages and got them; then every page comes back
// as it was.
void ShrinkerUnderPressure() {
  const uint64_t total_mib = MemInfoKiB("MemTotal") >> 10;
  if (total_mib < 512)
    SKIP("guest has " + std::to_string(total_mib) + " MiB: too little to press on");
  // An eighth of the guest, at most 256 MiB.
  const uint64_t pages = (std::min<uint64_t>(256, total_mib / 8) << 20) / P;
  Space s;
  shadowmm_memory mem{};
  mem.swap_slots = pages;
  ASSERT_OK(s.SetMemory(mem));
  ASSERT_OK(s.MapFixed(kBase, pages * P));
  // Stores of zero: pages that the store keeps in no memory, so what the
  // shrinker takes is given back and the pressure ends.  A load would do
  // today, but a core with a shared zero page would allocate nothing.
  ASSERT_OK(s.Touch(kBase, pages * P, P, true, 0));
  // Every 16th page with data, which the store keeps a copy of: what the
  // content check below can tell from a page that was never there.
  constexpr uint64_t kDataEvery = 16;
  for (uint64_t i = 0; i < pages; i += kDataEvery)
    ASSERT_OK(s.Store(kBase + i * P + 8, Pattern(i)));
  const shadowmm_stats st0 = s.Stats();
  // 16 MiB of pages, or an eighth of the space if less.
  const uint64_t target = std::min<uint64_t>((16ULL << 20) / P, pages / 8);
  // Low and high watermarks a tenth and a fifth of the zone above min
  // (default: a thousandth of it): the child can then wake kswapd and
  // stay far above min, and kswapd has room for what it allocates itself
  // (the store's copy of each page taken, and on KASAN kernels the
  // quarantine that holds its frees back).  Put back when the test ends.
  SettingGuard wsf("/proc/sys/vm/watermark_scale_factor", "1000");
  const Fd zoneinfo(open("/proc/zoneinfo", O_RDONLY | O_CLOEXEC));
  ZoneLevels z;
  ASSERT_TRUE(BiggestZone(zoneinfo.get(), &z));
  const double t0 = Now();
  const pid_t child = fork();
  if (child == 0)
    _exit(PressureChild(s.fd(), zoneinfo.get(), Counter(st0, SHADOWMM_EV_PGSTEAL), target));
  ASSERT_TRUE(child > 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  const shadowmm_stats st1 = s.Stats();
  auto delta = [&](shadowmm_counter ev) { return Counter(st1, ev) - Counter(st0, ev); };
  char took[64];
  std::snprintf(took, sizeof(took), "%.1f", Now() - t0);
  Tap::Diag("shrinker: " + std::to_string(delta(SHADOWMM_EV_RECLAIM_SHRINKER)) + " calls, " +
            std::to_string(delta(SHADOWMM_EV_PGSTEAL)) + " pages taken of " +
            std::to_string(pages) + " (" + std::to_string(delta(SHADOWMM_EV_PGSCAN)) +
            " scanned), in " + took + " s; child status " + std::to_string(status));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  // Only the shrinker counts RECLAIM_SHRINKER: the kernel called it.
  EXPECT_GT(delta(SHADOWMM_EV_RECLAIM_SHRINKER), 0u);
  EXPECT_GE(delta(SHADOWMM_EV_PGSTEAL), target);
  // Nothing else reclaimed: there is no budget.
  EXPECT_EQ(delta(SHADOWMM_EV_RECLAIM_DIRECT), 0u);
  EXPECT_EQ(delta(SHADOWMM_EV_RECLAIM_BACKGROUND), 0u);
  // Whatever went out comes back as it was.
  for (uint64_t i = 0; i < pages; i++) {
    uint64_t v = 1;
    if (i % kDataEvery == 0) {
      ASSERT_OK(s.Load(kBase + i * P + 8, &v));
      ASSERT_EQ(v, Pattern(i));
    } else if (i % kDataEvery == kDataEvery / 2) {
      ASSERT_OK(s.Load(kBase + i * P + P - 8, &v));
      ASSERT_EQ(v, 0u);
    }
  }
  const shadowmm_stats st2 = s.Stats();
  EXPECT_GT(Counter(st2, SHADOWMM_EV_PSWPIN) - Counter(st1, SHADOWMM_EV_PSWPIN), 0u);
}

}  // namespace

void AddReclaimTests(Tap& tap) {
  tap.Add("reclaim: every page out and back, each mode and vmalock swap policy", RoundTrip);
  tap.Add("reclaim: bad SET_MEMORY, SET_SWAP_POLICY and RECLAIM fail cleanly", BadInput);
  tap.Add("reclaim: the kernel's memory pressure reaches the shrinker", ShrinkerUnderPressure);
}

}  // namespace shadowmm::selftest
