// SPDX-License-Identifier: GPL-2.0
// Userfaults: each command and its errors, a fault in a registered range
// waiting for a resolver thread in every mode and swap policy (each
// strategy waiting its own way, counted), unregistering and closing the
// channel under waiting faults, and many faulting and resolving threads
// with map, unmap, zap and protect racing them: one event per waiting
// fault, never lost, never twice.
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "smm_test.h"
#include "uffd_channel.h"

namespace smm_test {
namespace {

constexpr uint64_t kBase = 0x60000000;

int uffd_op(const Space& s, uint64_t op, uint64_t addr, uint64_t len, uint64_t flags = 0,
            uint64_t value = 0, uint64_t* out_len = nullptr) {
  return s.uffd(op, addr, len, flags, value, out_len);
}
int reg(const Space& s, uint64_t addr, uint64_t len) { return s.uffd_register(addr, len); }
int unreg(const Space& s, uint64_t addr, uint64_t len) { return s.uffd_unregister(addr, len); }
int fill(const Space& s, uint64_t addr, uint64_t len, uint64_t value, uint64_t flags = 0) {
  return uffd_op(s, SHADOWMM_OP_UFFD_COPY, addr, len, SHADOWMM_UFFD_FILL | flags, value);
}

uint64_t pattern(uint64_t addr) { return 0xfeed000000000000ULL ^ addr; }

uint64_t waiting(const Space& s) {
  auto st = s.stats();
  return st.counter[SHADOWMM_EV_UFFD_WAIT] - st.counter[SHADOWMM_EV_UFFD_WAIT_DONE];
}

class Uffd : public CoreTest {};

TEST_F(Uffd, RegisterNeedsAChannelAndAMappedUnregisteredRange) {
  Space s;
  ASSERT_EQ(s.map(kBase, 8 * kPage, kRW), 0);
  EXPECT_EQ(reg(s, kBase, kPage), -ENOTCONN);
  Channel ch(s);
  ASSERT_EQ(ch.open_result(), 0);
  smm_uffd* second = nullptr;
  EXPECT_EQ(smm_uffd_open(s.get(), &second), -EBUSY);
  EXPECT_EQ(reg(s, kBase + 1, kPage), -EINVAL);
  EXPECT_EQ(reg(s, kBase, 9 * kPage), -ENOMEM);
  EXPECT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_REGISTER, kBase, kPage), -EINVAL);
  EXPECT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_REGISTER, kBase, kPage, 0x40), -EINVAL);
  ASSERT_EQ(reg(s, kBase + 2 * kPage, 2 * kPage), 0);
  EXPECT_EQ(reg(s, kBase, 3 * kPage), -EBUSY);
  // Registration splits like a protect, and unregistering merges back.
  EXPECT_EQ(s.vmas().size(), 3u);
  EXPECT_EQ(unreg(s, kBase, 16 * kPage), 0);
  EXPECT_EQ(s.vmas().size(), 1u);
  EXPECT_EQ(s.validate(), "");
}

TEST_F(Uffd, CopyZeropageAndTheirErrors) {
  Space s;
  Channel ch(s);
  ASSERT_EQ(s.map(kBase, 8 * kPage, kRW), 0);
  ASSERT_EQ(reg(s, kBase, 4 * kPage), 0);
  uint64_t done = 1;
  // Outside the registered range, nothing is installed.
  EXPECT_EQ(fill(s, kBase + 4 * kPage, kPage, 1), -ENOENT);
  // From a buffer only through smm_uffd_copy(): the host copies it in.
  EXPECT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_COPY, kBase, kPage), -EINVAL);
  EXPECT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_COPY, kBase, kPage + 8, SHADOWMM_UFFD_FILL), -EINVAL);
  ASSERT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_COPY, kBase, 2 * kPage, SHADOWMM_UFFD_FILL, 77, &done), 0);
  EXPECT_EQ(done, 2 * kPage);
  // Onto a present page: -EEXIST, after installing the pages before it.
  ASSERT_EQ(s.zap(kBase, kPage), 0);
  EXPECT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_COPY, kBase, 2 * kPage, SHADOWMM_UFFD_FILL, 78, &done),
            -EEXIST);
  EXPECT_EQ(done, kPage);
  std::vector<uint64_t> buf(kPage / 8);
  for (size_t i = 0; i < buf.size(); i++) buf[i] = pattern(i);
  shadowmm_cmd cmd{.op = SHADOWMM_OP_UFFD_COPY, .addr = kBase + 2 * kPage, .len = kPage};
  ASSERT_EQ(smm_uffd_copy(s.get(), &cmd, buf.data()), 0);
  ASSERT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_ZEROPAGE, kBase + 3 * kPage, kPage, 0, 5), 0);
  uint64_t v = 0;
  ASSERT_EQ(s.fault(kBase + 8, false, 0, &v), 0);
  EXPECT_EQ(v, 78u);
  ASSERT_EQ(s.fault(kBase + kPage + 16, false, 0, &v), 0);
  EXPECT_EQ(v, 77u);
  ASSERT_EQ(s.fault(kBase + 2 * kPage + 24, false, 0, &v), 0);
  EXPECT_EQ(v, pattern(3));
  ASSERT_EQ(s.fault(kBase + 3 * kPage, false, 0, &v), 0);
  EXPECT_EQ(v, 0u);
  auto st = s.stats();
  EXPECT_EQ(st.counter[SHADOWMM_EV_UFFD_COPY], 4u);
  EXPECT_EQ(st.counter[SHADOWMM_EV_UFFD_ZEROPAGE], 1u);
  // Present pages: no fault waited, no event.
  EXPECT_EQ(st.counter[SHADOWMM_EV_UFFD_MISSING], 0u);
  std::vector<shadowmm_uffd_msg> ev;
  EXPECT_EQ(ch.read(ev, 4, true), -EAGAIN);
  EXPECT_EQ(s.validate(), "");
}

// One fault, one resolver: mode x swap policy, each with its counters.
class UffdPaths : public CoreTest,
                  public ::testing::WithParamInterface<std::tuple<unsigned, unsigned>> {
 protected:
  unsigned mode() const { return std::get<0>(GetParam()); }
  unsigned policy() const { return std::get<1>(GetParam()); }
};

TEST_P(UffdPaths, FaultWaitsForTheResolver) {
  Space s(mode());
  ASSERT_EQ(smm_set_swap_policy(s.get(), policy()), 0);
  Channel ch(s);
  ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
  // A first fault elsewhere in the VMA gives it its anon_vma, so that
  // spf and vmalock see the VMA as they would in a running program.
  ASSERT_EQ(s.fault(kBase + 3 * kPage, true, 1), 0);
  ASSERT_EQ(reg(s, kBase, 2 * kPage), 0);
  const uint64_t addr = kBase + kPage + 40;
  uint64_t got = 0;
  int fault_ret = 1;
  std::thread faulter([&] { fault_ret = s.fault(addr, true, 99, &got); });
  std::vector<shadowmm_uffd_msg> ev;
  ASSERT_EQ(ch.read(ev, 8, false), 1);
  EXPECT_EQ(ev[0].addr, kBase + kPage);
  EXPECT_EQ(ev[0].flags, SHADOWMM_UFFD_PAGEFAULT_WRITE);
  EXPECT_EQ(ev[0].seq, 1u);
  EXPECT_NE(ev[0].tid, 0u);
  // Read once: the same event is not read again.
  EXPECT_EQ(ch.read(ev, 8, true), -EAGAIN);
  ASSERT_EQ(fill(s, kBase + kPage, kPage, 5), 0);
  faulter.join();
  EXPECT_EQ(fault_ret, 0);
  uint64_t v = 0;
  ASSERT_EQ(s.fault(addr, false, 0, &v), 0);
  EXPECT_EQ(v, 99u);
  ASSERT_EQ(s.fault(addr + 8, false, 0, &v), 0);
  EXPECT_EQ(v, 5u);

  auto st = s.stats();
  const auto* c = st.counter;
  EXPECT_EQ(c[SHADOWMM_EV_UFFD_MISSING], 1u);
  EXPECT_EQ(c[SHADOWMM_EV_UFFD_WAIT], 1u);
  EXPECT_EQ(c[SHADOWMM_EV_UFFD_WAIT_DONE], 1u);
  EXPECT_EQ(c[SHADOWMM_EV_UFFD_WAKE], 1u);
  EXPECT_EQ(c[SHADOWMM_EV_UFFD_COPY], 1u);
  switch (mode()) {
    case SHADOWMM_MODE_CLASSIC:
      EXPECT_EQ(c[SHADOWMM_EV_FAULT_RETRY_UFFD], 1u);
      break;
    case SHADOWMM_MODE_SPF:
      EXPECT_GE(c[SHADOWMM_EV_SPF_ABORT_UFFD], 1u);
      EXPECT_EQ(c[SHADOWMM_EV_FAULT_RETRY_UFFD], 1u);
      break;
    case SHADOWMM_MODE_MMSEQ:
      EXPECT_GE(c[SHADOWMM_EV_MMSEQ_ABORT_UFFD], 1u);
      EXPECT_EQ(c[SHADOWMM_EV_FAULT_RETRY_UFFD], 1u);
      break;
    case SHADOWMM_MODE_VMALOCK:
      if (policy() == SHADOWMM_SWAP_FALLBACK) {
        EXPECT_EQ(c[SHADOWMM_EV_VMA_LOCK_UFFD_FALLBACK], 1u);
        EXPECT_EQ(c[SHADOWMM_EV_FAULT_RETRY_UFFD], 1u);
      } else if (policy() == SHADOWMM_SWAP_DROP_RETRY) {
        EXPECT_EQ(c[SHADOWMM_EV_VMA_LOCK_UFFD_DROP_RETRY], 1u);
        EXPECT_EQ(c[SHADOWMM_EV_FAULT_RETRY_UFFD], 0u);
      } else {
        EXPECT_EQ(c[SHADOWMM_EV_VMA_LOCK_UFFD_VMA_RETRY], 1u);
        EXPECT_EQ(c[SHADOWMM_EV_FAULT_RETRY_UFFD], 0u);
        EXPECT_EQ(c[SHADOWMM_EV_FALLBACK], 0u);
      }
      break;
  }
  EXPECT_EQ(s.validate(), "");
}

std::vector<std::tuple<unsigned, unsigned>> AllPaths() {
  std::vector<std::tuple<unsigned, unsigned>> v;
  for (unsigned m = 0; m < SHADOWMM_NR_MODES; m++) {
    if (m == SHADOWMM_MODE_VMALOCK) {
      for (unsigned p = 0; p < SHADOWMM_NR_SWAP_POLICIES; p++) v.emplace_back(m, p);
    } else {
      v.emplace_back(m, SHADOWMM_SWAP_DROP_RETRY);
    }
  }
  return v;
}

std::string PathName(const ::testing::TestParamInfo<std::tuple<unsigned, unsigned>>& info) {
  std::string n = smm_mode_name(std::get<0>(info.param));
  if (std::get<0>(info.param) == SHADOWMM_MODE_VMALOCK) {
    n += "_";
    n += smm_swap_policy_name(std::get<1>(info.param));
  }
  for (auto& ch : n)
    if (ch == '-') ch = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Modes, UffdPaths, ::testing::ValuesIn(AllPaths()), PathName);

// Waits until @n faults wait (the gauge), or fails after a few seconds.
bool await_waiting(const Space& s, uint64_t n) {
  for (int i = 0; i < 5000; i++) {
    if (waiting(s) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

TEST_F(Uffd, UnregisterLetsWaitingFaultsProceed) {
  for (unsigned mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space s(mode);
    Channel ch(s);
    ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
    ASSERT_EQ(reg(s, kBase, 4 * kPage), 0);
    std::vector<int> rets(3, 1);
    std::vector<std::thread> faulters;
    for (int i = 0; i < 3; i++)
      faulters.emplace_back([&, i] { rets[i] = s.fault(kBase + i * kPage, true, 10 + i); });
    ASSERT_TRUE(await_waiting(s, 3)) << mode_name(mode);
    EXPECT_EQ(waiting(s), 3u);
    ASSERT_EQ(unreg(s, kBase, 4 * kPage), 0);
    for (auto& t : faulters) t.join();
    for (int i = 0; i < 3; i++) {
      EXPECT_EQ(rets[i], 0) << mode_name(mode);
      uint64_t v = 0;
      ASSERT_EQ(s.fault(kBase + i * kPage, false, 0, &v), 0);
      EXPECT_EQ(v, 10u + i);
    }
    EXPECT_EQ(waiting(s), 0u);
    // Their events were never read, and are gone with them.
    std::vector<shadowmm_uffd_msg> ev;
    EXPECT_EQ(ch.read(ev, 8, true), -EAGAIN);
    EXPECT_EQ(s.validate(), "");
  }
}

TEST_F(Uffd, ClosingTheChannelFailsWaitingFaults) {
  for (unsigned mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    Space s(mode);
    auto ch = std::make_unique<Channel>(s);
    ASSERT_EQ(s.map(kBase, 4 * kPage, kRW), 0);
    ASSERT_EQ(reg(s, kBase, 2 * kPage), 0);
    ASSERT_EQ(reg(s, kBase + 3 * kPage, kPage), 0);
    std::vector<int> rets(2, 1);
    std::thread a([&] { rets[0] = s.fault(kBase, false); });
    std::thread b([&] { rets[1] = s.fault(kBase + 3 * kPage, true, 1); });
    ASSERT_TRUE(await_waiting(s, 2));
    // One event read, one not: both fail alike.
    std::vector<shadowmm_uffd_msg> ev;
    ASSERT_EQ(ch->read(ev, 1, false), 1);
    ch->close();
    a.join();
    b.join();
    EXPECT_EQ(rets[0], -EPIPE) << mode_name(mode);
    EXPECT_EQ(rets[1], -EPIPE) << mode_name(mode);
    EXPECT_EQ(s.counter(SHADOWMM_EV_FAULT_SIGBUS), 2u);
    EXPECT_EQ(faults_accounted(s.stats()), s.counter(SHADOWMM_EV_FAULT));
    // Nothing registered any more: faults are ordinary ones again.
    EXPECT_EQ(s.fault(kBase, true, 3), 0);
    EXPECT_EQ(s.fault(kBase + 3 * kPage, true, 3), 0);
    EXPECT_EQ(reg(s, kBase, kPage), -ENOTCONN);
    // And a new channel may be opened.
    Channel again(s);
    EXPECT_EQ(again.open_result(), 0);
    EXPECT_EQ(s.validate(), "");
  }
}

TEST_F(Uffd, ReadWaitsUpToItsTimeout) {
  Space s;
  Channel ch(s);
  std::vector<shadowmm_uffd_msg> ev;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ch.read(ev, 4, false, 30), -EAGAIN);
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, std::chrono::milliseconds(29));
  ASSERT_EQ(s.map(kBase, kPage, kRW), 0);
  ASSERT_EQ(reg(s, kBase, kPage), 0);
  std::thread t([&] { s.fault(kBase, false); });
  EXPECT_EQ(ch.read(ev, 4, false, 10000), 1);
  ASSERT_EQ(fill(s, kBase, kPage, 1), 0);
  t.join();
}

TEST_F(Uffd, ReadsEndWhenTheSpaceGoes) {
  auto s = std::make_unique<Space>();
  Channel ch(*s);
  long got = 1;
  std::thread reader([&] {
    std::vector<shadowmm_uffd_msg> ev;
    got = ch.read(ev, 4, false);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  s.reset();
  reader.join();
  EXPECT_EQ(got, 0);
  std::vector<shadowmm_uffd_msg> ev;
  EXPECT_EQ(ch.read(ev, 4, false), 0);
}

TEST_F(Uffd, WakeRetriesAndZapFaultsAgain) {
  Space s;
  Channel ch(s);
  ASSERT_EQ(s.map(kBase, 2 * kPage, kRW), 0);
  ASSERT_EQ(reg(s, kBase, 2 * kPage), 0);
  int ret = 1;
  std::thread t([&] { ret = s.fault(kBase, false); });
  std::vector<shadowmm_uffd_msg> ev;
  ASSERT_EQ(ch.read(ev, 4, false), 1);
  // Installed without waking: the fault still waits ...
  ASSERT_EQ(fill(s, kBase, kPage, 7, SHADOWMM_UFFD_DONTWAKE), 0);
  EXPECT_TRUE(await_waiting(s, 1));
  // ... until a WAKE of its address; it retries and finds the page.
  ASSERT_EQ(uffd_op(s, SHADOWMM_OP_UFFD_WAKE, kBase, kPage), 0);
  t.join();
  EXPECT_EQ(ret, 0);
  EXPECT_EQ(s.counter(SHADOWMM_EV_UFFD_MISSING), 1u);
  // A zapped page is missing again: a new event.
  ASSERT_EQ(s.zap(kBase, kPage), 0);
  std::thread u([&] { ret = s.fault(kBase, false); });
  ASSERT_EQ(ch.read(ev, 4, false), 1);
  EXPECT_EQ(ev[0].seq, 2u);
  ASSERT_EQ(fill(s, kBase, kPage, 8), 0);
  u.join();
  EXPECT_EQ(ret, 0);
  EXPECT_EQ(s.counter(SHADOWMM_EV_UFFD_MISSING), 2u);
}

// Many faulting and resolving threads, with writers changing the space
// around them: every waiting fault gets exactly one event, resolvers
// never see an address twice while its fault waits, and every fault ends.
class UffdStress : public CoreTest,
                   public ::testing::WithParamInterface<std::tuple<unsigned, unsigned>> {};

TEST_P(UffdStress, EventsAreNeverLostOrDuplicated) {
  constexpr uint64_t kPages = 256;
  constexpr int kFaulters = 4, kResolvers = 2;
  Space s(std::get<0>(GetParam()));
  ASSERT_EQ(smm_set_swap_policy(s.get(), std::get<1>(GetParam())), 0);
  // Slots for the reclaimer below: a reclaimed page is a swap entry, not
  // a missing page, and faults back in without an event.
  shadowmm_memory mem{.swap_slots = 2 * kPages};
  ASSERT_EQ(smm_set_memory(s.get(), &mem), 0);
  Channel ch(s);
  ASSERT_EQ(s.map(kBase, kPages * kPage, kRW), 0);
  ASSERT_EQ(reg(s, kBase, kPages * kPage), 0);
  smm_set_race_injection(~0UL);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(stress_ms(kUnderTsan ? 600 : 1500));
  std::atomic<uint64_t> faults{0}, events{0}, bad{0};
  std::atomic<int> faulters_left{kFaulters};
  std::mutex seen_lock;
  std::set<uint64_t> seqs;  // of every event read
  {
    Workers w;
    for (int f = 0; f < kFaulters; f++) {
      w.spawn([&, f] {
        uint64_t i = f;
        while (std::chrono::steady_clock::now() < deadline) {
          const uint64_t addr = kBase + (i * 37 % kPages) * kPage;
          uint64_t v = 0;
          if (s.fault(addr + 8, false, 0, &v) != 0 || v != pattern(addr)) bad++;
          faults++;
          // Now and then the page goes again: the next fault waits.
          if (i % 5 == 0) s.zap(addr, kPage);
          i += kFaulters;
        }
        faulters_left--;
      });
    }
    for (int r = 0; r < kResolvers; r++) {
      w.spawn([&] {
        std::vector<shadowmm_uffd_msg> ev;
        while (faulters_left.load() > 0) {
          if (ch.read(ev, 4, true) == -EAGAIN) {
            std::this_thread::yield();
            continue;
          }
          for (const auto& m : ev) {
            events++;
            {
              std::lock_guard<std::mutex> g(seen_lock);
              if (!seqs.insert(m.seq).second) bad++;
            }
            // -EEXIST: another resolver (or an earlier fill) got there.
            int ret = fill(s, m.addr, kPage, pattern(m.addr));
            if (ret == -EEXIST)
              uffd_op(s, SHADOWMM_OP_UFFD_WAKE, m.addr, kPage);
            else if (ret != 0)
              bad++;
          }
        }
      });
    }
    // Reclaim over the registered range.
    w.spawn([&] {
      while (faulters_left.load() > 0) {
        shadowmm_cmd cmd{
            .op = SHADOWMM_OP_RECLAIM, .addr = kBase, .len = kPages * kPage, .value = 16};
        int ret = s.exec(cmd);
        if (ret != 0 && ret != -ENOSPC) bad++;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
    });
    // A writer beside the registered range: VMAs come and go, and
    // protect flips a VMA next to it.
    w.spawn([&] {
      const uint64_t other = kBase + 2 * kPages * kPage;
      while (faulters_left.load() > 0) {
        s.map(other, 4 * kPage, kRW);
        s.fault(other, true, 1);
        s.protect(other, kPage, kRO);
        s.unmap(other, 4 * kPage);
      }
    });
  }
  smm_set_race_injection(0);
  RecordProperty("faults", std::to_string(faults.load()));
  RecordProperty("events", std::to_string(events.load()));
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(events.load(), 0u);
  // A WAKE for an address whose older event was handled may also wake a
  // newer fault there before its event is read; that event goes with
  // it (the fault retries, and queues a new one if still missing).
  EXPECT_LE(events.load(), s.counter(SHADOWMM_EV_UFFD_MISSING));
  std::vector<shadowmm_uffd_msg> ev;
  EXPECT_EQ(ch.read(ev, 4, true), -EAGAIN);
  EXPECT_EQ(waiting(s), 0u);
  EXPECT_EQ(s.validate(), "");
}

INSTANTIATE_TEST_SUITE_P(Modes, UffdStress, ::testing::ValuesIn(AllPaths()), PathName);

}  // namespace
}  // namespace smm_test
