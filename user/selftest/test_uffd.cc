// SPDX-License-Identifier: GPL-2.0
//
// Userfaults through the module: the channel is a descriptor of its own
// (read() of whole records, poll(), close); a fault in a registered range
// sleeps in every mode and swap policy until a resolver copies the page
// from its buffer; bad input fails cleanly; closing the channel fails the
// waiting faults; and a waiting thread sleeps (state S, no CPU) and dies
// at once when killed.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ctl.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

const uint64_t& P = kPage;

// An event channel's descriptor, closed with the object.
class Channel {
 public:
  explicit Channel(const Space& s) { err_ = s.UffdOpen(&fd_); }
  ~Channel() { Close(); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;
  int err() const { return err_; }
  int fd() const { return fd_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  // Events read, or -errno.
  long Read(std::vector<shadowmm_uffd_msg>* out, size_t n) const {
    out->resize(n);
    ssize_t got = read(fd_, out->data(), n * sizeof(shadowmm_uffd_msg));
    if (got < 0) return -errno;
    out->resize(static_cast<size_t>(got) / sizeof(shadowmm_uffd_msg));
    return static_cast<long>(out->size());
  }
  // poll() for POLLIN within @ms.
  bool Readable(int ms) const {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
  }

 private:
  int fd_ = -1;
  int err_ = 0;
};

int Register(const Space& s, uint64_t addr, uint64_t len) {
  return s.Uffd(SHADOWMM_OP_UFFD_REGISTER, addr, len, SHADOWMM_UFFD_MISSING);
}

uint64_t Waiting(const Space& s) {
  auto st = s.Stats();
  return Counter(st, SHADOWMM_EV_UFFD_WAIT) - Counter(st, SHADOWMM_EV_UFFD_WAIT_DONE);
}

bool AwaitWaiting(const Space& s, uint64_t n) {
  for (int i = 0; i < 10000; i++) {
    if (Waiting(s) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return false;
}

void ChannelIsADescriptor() {
  Space s;
  Channel ch(s);
  ASSERT_OK(ch.err());
  EXPECT_EQ(fcntl(ch.fd(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  int second = -1;
  EXPECT_ERR(s.UffdOpen(&second), EBUSY);
  // No event: non-blocking read says so, poll times out.
  EXPECT_EQ(fcntl(ch.fd(), F_SETFL, O_NONBLOCK), 0);
  std::vector<shadowmm_uffd_msg> ev;
  EXPECT_EQ(ch.Read(&ev, 1), -EAGAIN);
  EXPECT_TRUE(!ch.Readable(10));
  // A buffer shorter than a record.
  char small[sizeof(shadowmm_uffd_msg) - 1];
  EXPECT_EQ(read(ch.fd(), small, sizeof(small)), -1);
  EXPECT_EQ(errno, EINVAL);
  // Only by ioctl, with nothing but the op.
  shadowmm_cmd c = Cmd(SHADOWMM_OP_UFFD_OPEN);
  c.flags = 1;
  EXPECT_ERR(s.Ioctl(c), EINVAL);
  EXPECT_EQ(s.Submit({Cmd(SHADOWMM_OP_UFFD_OPEN)}), -EINVAL);
}

void BadInput() {
  Space s;
  ASSERT_OK(s.MapFixed(kBase, 8 * P));
  EXPECT_ERR(Register(s, kBase, P), ENOTCONN);
  Channel ch(s);
  ASSERT_OK(ch.err());
  EXPECT_ERR(Register(s, kBase + 1, P), EINVAL);
  EXPECT_ERR(Register(s, kBase, 9 * P), ENOMEM);
  EXPECT_ERR(s.Uffd(SHADOWMM_OP_UFFD_REGISTER, kBase, P, 0), EINVAL);
  ASSERT_OK(Register(s, kBase, 4 * P));
  EXPECT_ERR(Register(s, kBase + 3 * P, 2 * P), EBUSY);
  std::vector<uint64_t> buf(P / 8, 3);
  EXPECT_ERR(s.Uffd(SHADOWMM_OP_UFFD_COPY, kBase + 4 * P, P, 0, 0, buf.data()), ENOENT);
  EXPECT_ERR(s.Uffd(SHADOWMM_OP_UFFD_COPY, kBase, P, 0, 0, nullptr), EFAULT);
  EXPECT_ERR(s.Uffd(SHADOWMM_OP_UFFD_COPY, kBase, P, 0x40, 0, buf.data()), EINVAL);
  ASSERT_OK(s.Uffd(SHADOWMM_OP_UFFD_COPY, kBase, P, 0, 0, buf.data()));
  uint64_t done = 9;
  EXPECT_ERR(
      s.Uffd(SHADOWMM_OP_UFFD_COPY, kBase, 2 * P, 0, 0, std::vector<uint64_t>(P / 4).data(), &done),
      EEXIST);
  EXPECT_EQ(done, 0u);
  EXPECT_ERR(s.Uffd(SHADOWMM_OP_UFFD_ZEROPAGE, kBase, P), EEXIST);
  ASSERT_OK(s.Uffd(SHADOWMM_OP_UFFD_ZEROPAGE, kBase + P, P));
  uint64_t v = 0;
  ASSERT_OK(s.Load(kBase + 8, &v));
  EXPECT_EQ(v, 3u);
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_UFFD_COPY), 1u);
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_UFFD_ZEROPAGE), 1u);
  EXPECT_EQ(s.Stats().pages_live, 2u);
}

// A fault waits for the resolver in every mode and vmalock policy; the
// resolver finds it by poll() and read(), and copies from its buffer.
void FaultWaitsForResolver() {
  for (uint64_t mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
    for (uint64_t policy = 0; policy < SHADOWMM_NR_SWAP_POLICIES; policy++) {
      if (mode != SHADOWMM_MODE_VMALOCK && policy != SHADOWMM_SWAP_DROP_RETRY) continue;
      Space s;
      ASSERT_OK(s.SetMode(mode));
      ASSERT_OK(s.SetSwapPolicy(policy));
      Channel ch(s);
      ASSERT_OK(ch.err());
      ASSERT_OK(s.MapFixed(kBase, 4 * P));
      ASSERT_OK(s.Store(kBase + 3 * P, 1));
      ASSERT_OK(Register(s, kBase, 2 * P));
      std::atomic<int> ret{-1};
      std::atomic<uint64_t> got{0};
      std::thread faulter([&] {
        uint64_t v = 0;
        ret = s.Fault(kBase + P + 16, false, 0, &v);
        got = v;
      });
      bool readable = ch.Readable(10000);
      EXPECT_TRUE(readable);
      std::vector<shadowmm_uffd_msg> ev;
      long n = readable ? ch.Read(&ev, 4) : 0;
      EXPECT_EQ(n, 1);
      if (n == 1) {
        EXPECT_EQ(ev[0].addr, kBase + P);
        EXPECT_EQ(ev[0].flags, 0u);
        EXPECT_EQ(ev[0].seq, 1u);
        EXPECT_NE(ev[0].tid, 0u);
      }
      std::vector<uint64_t> page(P / 8);
      for (size_t i = 0; i < page.size(); i++) page[i] = 1000 + i;
      EXPECT_OK(s.Uffd(SHADOWMM_OP_UFFD_COPY, kBase + P, P, 0, 0, page.data()));
      faulter.join();
      EXPECT_EQ(ret.load(), 0);
      EXPECT_EQ(got.load(), 1002u);
      auto st = s.Stats();
      EXPECT_EQ(Counter(st, SHADOWMM_EV_UFFD_MISSING), 1u);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_UFFD_WAKE), 1u);
      EXPECT_EQ(Counter(st, SHADOWMM_EV_UFFD_WAIT_DONE), 1u);
      if (mode == SHADOWMM_MODE_VMALOCK && policy == SHADOWMM_SWAP_VMA_RETRY)
        EXPECT_EQ(Counter(st, SHADOWMM_EV_VMA_LOCK_UFFD_VMA_RETRY), 1u);
      else if (mode == SHADOWMM_MODE_VMALOCK && policy == SHADOWMM_SWAP_DROP_RETRY)
        EXPECT_EQ(Counter(st, SHADOWMM_EV_VMA_LOCK_UFFD_DROP_RETRY), 1u);
      else
        EXPECT_EQ(Counter(st, SHADOWMM_EV_FAULT_RETRY_UFFD), 1u);
    }
  }
}

void CloseFailsWaitingFaults() {
  Space s;
  auto ch = std::make_unique<Channel>(s);
  ASSERT_OK(ch->err());
  ASSERT_OK(s.MapFixed(kBase, 2 * P));
  ASSERT_OK(Register(s, kBase, 2 * P));
  std::atomic<int> ret{-1};
  std::thread faulter([&] { ret = s.Store(kBase, 5); });
  EXPECT_TRUE(AwaitWaiting(s, 1));
  ch->Close();
  faulter.join();
  EXPECT_EQ(ret.load(), EPIPE);
  EXPECT_EQ(Counter(s.Stats(), SHADOWMM_EV_FAULT_SIGBUS), 1u);
  // Unregistered: an ordinary fault now.
  EXPECT_OK(s.Store(kBase, 5));
}

// The state letter of /proc/<pid>/task/<tid>/stat.
char TaskState(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  auto close_paren = line.rfind(')');
  return close_paren == std::string::npos || close_paren + 2 >= line.size() ? '?'
                                                                            : line[close_paren + 2];
}

// A process faults on the space it shares with us and waits: it sleeps
// (S) and uses no CPU, and SIGKILL ends it at once, its event withdrawn.
void WaitingFaultSleepsAndDies() {
  Space s;
  Channel ch(s);
  ASSERT_OK(ch.err());
  ASSERT_OK(s.MapFixed(kBase, P));
  ASSERT_OK(Register(s, kBase, P));
  pid_t pid = fork();
  ASSERT_TRUE(pid >= 0);
  if (pid == 0) {
    uint64_t v = 0;
    s.Load(kBase, &v);
    _exit(1);
  }
  bool waited = AwaitWaiting(s, 1);
  EXPECT_TRUE(waited);
  if (waited) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(TaskState(pid), 'S');
  }
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGKILL);
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5));
  EXPECT_EQ(Waiting(s), 0u);
  // Its event, unread, went with it.
  EXPECT_EQ(fcntl(ch.fd(), F_SETFL, O_NONBLOCK), 0);
  std::vector<shadowmm_uffd_msg> ev;
  EXPECT_EQ(ch.Read(&ev, 4), -EAGAIN);
}

}  // namespace

void AddUffdTests(Tap& tap) {
  tap.Add("uffd: the channel is a descriptor; read(), poll(), one per space", ChannelIsADescriptor);
  tap.Add("uffd: bad ranges, COPY outside or onto a page, bad buffers", BadInput);
  tap.Add("uffd: a fault waits for the resolver, every mode and policy", FaultWaitsForResolver);
  tap.Add("uffd: closing the channel fails waiting faults with EPIPE", CloseFailsWaitingFaults);
  tap.Add("uffd: a waiting fault sleeps (S) and SIGKILL ends it", WaitingFaultSleepsAndDies);
}

}  // namespace shadowmm::selftest
