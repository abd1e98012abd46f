// SPDX-License-Identifier: GPL-2.0
//
// The stock backend's userfaults: the running kernel's userfaultfd(2), as
// tools/testing/selftests/mm/uffd-stress uses it (missing mode, UFFDIO_COPY,
// UFFDIO_WAKE after EEXIST).  Where the kernel refuses a descriptor
// (CONFIG_USERFAULTFD off, vm.unprivileged_userfaultfd for a user without
// CAP_SYS_PTRACE), a Skip that says which.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "backend.h"
#include "stock_memory.h"

namespace shadowmm {
namespace {

class StockUserfaults : public Userfaults {
 public:
  explicit StockUserfaults(uint64_t page_size) : page_size_(page_size) {
    // UFFD_USER_MODE_ONLY: faults of this process's own code, which is
    // all the workloads make, and what an unprivileged caller may ask for.
    // O_NONBLOCK: poll() may say POLLIN for an event another resolver,
    // or a retried fault, has taken by the time we read (seen here: a
    // resolver blocked in read() after the last fault was done).
    fd_ = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
    if (fd_ < 0) {
      const int err = errno;
      if (err == ENOSYS) throw Skip("stock: the running kernel has no userfaultfd(2)");
      if (err == EPERM)
        throw Skip(
            "stock: userfaultfd(2) refused (vm.unprivileged_userfaultfd=0, no CAP_SYS_PTRACE)");
      throw SysError("userfaultfd", err);
    }
    uffdio_api api{};
    api.api = UFFD_API;
    if (ioctl(fd_, UFFDIO_API, &api) < 0) {
      const int err = errno;
      close(fd_);
      throw SysError("ioctl UFFDIO_API", err);
    }
  }
  ~StockUserfaults() override { close(fd_); }
  StockUserfaults(const StockUserfaults&) = delete;
  StockUserfaults& operator=(const StockUserfaults&) = delete;

  void Register(uint64_t addr, uint64_t len) override {
    uffdio_register reg{};
    reg.range.start = addr;
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    if (ioctl(fd_, UFFDIO_REGISTER, &reg) < 0) throw SysError("ioctl UFFDIO_REGISTER", errno);
  }

  std::vector<UserfaultEvent> Read(size_t max, int timeout_ms) override {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) throw SysError("poll userfaultfd", errno);
    if (n <= 0 || !(p.revents & POLLIN)) return {};
    std::vector<uffd_msg> msgs(max);
    ssize_t got = read(fd_, msgs.data(), max * sizeof(uffd_msg));
    if (got < 0) {
      // Another resolver took it between our poll() and read().
      if (errno == EAGAIN || errno == EINTR) return {};
      throw SysError("read userfaultfd", errno);
    }
    std::vector<UserfaultEvent> events;
    for (size_t i = 0; i < static_cast<size_t>(got) / sizeof(uffd_msg); i++) {
      if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
      events.push_back({msgs[i].arg.pagefault.address & ~(page_size_ - 1),
                        (msgs[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE) != 0});
    }
    return events;
  }

  bool Copy(uint64_t addr, const void* src) override {
    uffdio_copy copy{};
    copy.dst = addr;
    copy.src = reinterpret_cast<uintptr_t>(src);
    copy.len = page_size_;
    if (ioctl(fd_, UFFDIO_COPY, &copy) == 0) return true;
    if (errno != EEXIST) throw SysError("ioctl UFFDIO_COPY", errno);
    uffdio_range range{.start = addr, .len = page_size_};
    if (ioctl(fd_, UFFDIO_WAKE, &range) < 0) throw SysError("ioctl UFFDIO_WAKE", errno);
    return false;
  }

 private:
  uint64_t page_size_;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<Userfaults> MakeStockUserfaults(uint64_t page_size) {
  return std::make_unique<StockUserfaults>(page_size);
}

}  // namespace shadowmm
