// SPDX-License-Identifier: GPL-2.0
//
// module: one open() of <debugfs>/shadowmm/ctl is one shadow space, shared
// by every thread of the run as threads share an mm.  Commands go by ioctl
// one at a time, or queued into batches of write() records, written by the
// write() syscall or by the thread's own io_uring.
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "arena.h"
#include "backend.h"
#include "shadow_thread.h"
#include "submit.h"

namespace shadowmm {
namespace {

// Why the ctl file cannot be opened, as one line that says what to do.
std::string OpenFailure(const std::string& path, int err) {
  if (path == kDefaultCtlPath) {
    struct statfs fs {};
    if (err == ENOENT) {
      if (statfs("/sys/kernel/debug", &fs) != 0 || fs.f_type != DEBUGFS_MAGIC)
        return "debugfs is not mounted at /sys/kernel/debug: mount -t debugfs none "
               "/sys/kernel/debug (then insmod shadowmm.ko)";
      return "shadowmm module not loaded (no " + path + "): insmod shadowmm.ko";
    }
  }
  if (err == EACCES || err == EPERM)
    return "cannot open " + path + ": " + std::strerror(err) +
           " (debugfs and its shadowmm files are root-only: run as root)";
  if (err == ENOENT) return "no " + path + ": is shadowmm.ko loaded and debugfs mounted?";
  return "cannot open " + path + ": " + std::strerror(err);
}

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

int Ioctl(int fd, shadowmm_cmd& cmd) {
  int ret;
  do {
    ret = ioctl(fd, SHADOWMM_IOC(cmd.op), &cmd);
  } while (ret < 0 && errno == EINTR);
  return ret < 0 ? errno : 0;
}

class ModuleThread : public ShadowThread {
 public:
  ModuleThread(int fd, AddressArenas& arenas, unsigned index, const BackendConfig& config)
      : ShadowThread(arenas, index, config.touch_chunk_pages), fd_(fd) {
    if (config.submit != Submit::kIoctl)
      records_ = MakeRecordSubmitter(config.submit, fd, config.batch);
  }
  ~ModuleThread() override {
    // Whatever is still queued is written, errors or not: a test that
    // forgot to Flush() still sees its commands run.
    try {
      Flush();
    } catch (const Error&) {
    }
  }

  void Flush() override {
    if (records_) records_->Flush();
  }

 protected:
  bool Exec(shadowmm_cmd& cmd, bool need_out) override {
    if (records_ && !need_out) {
      records_->Queue(cmd);
      return false;
    }
    Flush();
    if (int err = Ioctl(fd_, cmd)) throw SysError("ioctl " + std::string(OpName(cmd.op)), err);
    return true;
  }

 private:
  int fd_;
  std::unique_ptr<RecordSubmitter> records_;
};

// UFFD_OPEN's descriptor for events; commands on the space's.
class ModuleUserfaults : public Userfaults {
 public:
  ModuleUserfaults(int ctl_fd, uint64_t page_size) : ctl_fd_(ctl_fd), page_size_(page_size) {
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_UFFD_OPEN;
    if (int err = Ioctl(ctl_fd_, cmd)) {
      if (err == ENOTTY || err == EINVAL)
        throw Error("module backend: shadowmm.ko predates UFFD_OPEN (ioctl " +
                    std::string(std::strerror(err)) + "); reload it");
      throw SysError("ioctl UFFD_OPEN", err);
    }
    fd_ = static_cast<int>(cmd.out_value);
    // As for userfaultfd(2): another resolver may take the event poll() saw.
    if (fcntl(fd_, F_SETFL, O_NONBLOCK) < 0) {
      const int err = errno;
      close(fd_);
      throw SysError("fcntl O_NONBLOCK", err);
    }
  }
  ~ModuleUserfaults() override { close(fd_); }
  ModuleUserfaults(const ModuleUserfaults&) = delete;
  ModuleUserfaults& operator=(const ModuleUserfaults&) = delete;

  void Register(uint64_t addr, uint64_t len) override {
    shadowmm_cmd cmd = UffdCmd(SHADOWMM_OP_UFFD_REGISTER, addr, len, SHADOWMM_UFFD_MISSING);
    if (int err = Ioctl(ctl_fd_, cmd)) throw SysError("ioctl UFFD_REGISTER", err);
  }

  std::vector<UserfaultEvent> Read(size_t max, int timeout_ms) override {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    int n = poll(&p, 1, timeout_ms);
    if (n < 0 && errno != EINTR) throw SysError("poll UFFD_OPEN descriptor", errno);
    if (n <= 0 || !(p.revents & POLLIN)) return {};
    std::vector<shadowmm_uffd_msg> msgs(max);
    ssize_t got = read(fd_, msgs.data(), max * sizeof(shadowmm_uffd_msg));
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) return {};
      throw SysError("read UFFD_OPEN descriptor", errno);
    }
    std::vector<UserfaultEvent> events;
    for (size_t i = 0; i < static_cast<size_t>(got) / sizeof(shadowmm_uffd_msg); i++)
      events.push_back({msgs[i].addr, (msgs[i].flags & SHADOWMM_UFFD_PAGEFAULT_WRITE) != 0});
    return events;
  }

  bool Copy(uint64_t addr, const void* src) override {
    shadowmm_cmd cmd = UffdCmd(SHADOWMM_OP_UFFD_COPY, addr, page_size_);
    cmd.ptr = reinterpret_cast<uintptr_t>(src);
    int err = Ioctl(ctl_fd_, cmd);
    if (err == EEXIST) {
      shadowmm_cmd wake = UffdCmd(SHADOWMM_OP_UFFD_WAKE, addr, page_size_);
      if ((err = Ioctl(ctl_fd_, wake))) throw SysError("ioctl UFFD_WAKE", err);
      return false;
    }
    if (err) throw SysError("ioctl UFFD_COPY", err);
    return true;
  }

 private:
  int ctl_fd_;
  uint64_t page_size_;
  int fd_ = -1;
};

class ModuleBackend : public Backend {
 public:
  explicit ModuleBackend(const BackendConfig& config)
      : config_(config),
        fd_(open(config.ctl_path.c_str(), O_RDWR | O_CLOEXEC)),
        info_(SetUpSpace(fd_.get(), config)),
        arenas_(config.threads + 1, info_.page_size, config.layout) {
    SetMode(config.mode);
    for (shadowmm_cmd& cmd : NeighbourCmds(arenas_)) {
      if (int err = Ioctl(fd_.get(), cmd))
        throw SysError("ioctl " + std::string(OpName(cmd.op)), err);
    }
  }

  // A forked child, on the descriptor FORK returned: its neighbour pages
  // and mode are the parent's, copied by FORK.
  ModuleBackend(int child_fd, const ModuleBackend& parent)
      : config_(parent.config_),
        fd_(child_fd),
        info_(GetInfo(fd_.get())),
        arenas_(parent.arenas_),
        mode_(parent.mode_) {}

  std::unique_ptr<Backend> Fork() override {
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_FORK;
    if (int err = Ioctl(fd_.get(), cmd)) {
      // A shadowmm.ko older than FORK: ENOTTY from the ioctl number it
      // does not know, EINVAL from a dispatcher that checks op < its
      // SHADOWMM_NR_OPS first.
      if (err == ENOTTY || err == EINVAL)
        throw Error("module backend: shadowmm.ko predates FORK (ioctl " +
                    std::string(std::strerror(err)) + "); reload it");
      throw SysError("ioctl FORK", err);
    }
    return std::make_unique<ModuleBackend>(static_cast<int>(cmd.out_value), *this);
  }

  std::unique_ptr<Userfaults> OpenUserfaults() override {
    return std::make_unique<ModuleUserfaults>(fd_.get(), info_.page_size);
  }

  std::string_view Name() const override { return "module"; }
  uint64_t PageSize() const override { return info_.page_size; }
  unsigned Geometry() const override { return static_cast<unsigned>(info_.geometry); }

  std::unique_ptr<BackendThread> Attach(unsigned index) override {
    return std::make_unique<ModuleThread>(fd_.get(), arenas_, index, config_);
  }

  void SetMode(Mode mode) override {
    if (mode == Mode::kStock) throw Error("module backend: no mode 'stock'");
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_SET_MODE;
    cmd.value = static_cast<uint64_t>(mode);
    if (int err = Ioctl(fd_.get(), cmd)) throw SysError("ioctl SET_MODE", err);
    mode_ = mode;
  }

  Mode GetMode() override {
    shadowmm_stats st = Stats();
    return st.mode < SHADOWMM_NR_MODES ? static_cast<Mode>(st.mode) : mode_;
  }

  shadowmm_stats Stats() override {
    shadowmm_stats st{};
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_GET_STATS;
    cmd.ptr = reinterpret_cast<uintptr_t>(&st);
    cmd.len = sizeof(st);
    if (int err = Ioctl(fd_.get(), cmd)) throw SysError("ioctl GET_STATS", err);
    return st;
  }

  shadowmm_memory Memory() override { return MemoryOf(GetInfo(fd_.get())); }
  std::optional<unsigned> SwapPolicy() override {
    return static_cast<unsigned>(GetInfo(fd_.get()).swap_policy);
  }

  std::optional<unsigned> AnonPolicy() override {
    return static_cast<unsigned>(GetInfo(fd_.get()).anon_policy);
  }
  std::optional<unsigned> TlbPolicy() override {
    return static_cast<unsigned>(GetInfo(fd_.get()).tlb_policy);
  }
  std::optional<uint64_t> Model() override { return GetInfo(fd_.get()).model; }
  void SetMemory(const shadowmm_memory& memory) override { SetMemory(fd_.get(), memory); }
  void SetSwapPolicy(unsigned policy) override { SetSwapPolicy(fd_.get(), policy); }

  std::optional<uint64_t> Reclaim(uint64_t addr, uint64_t len, uint64_t pages) override {
    shadowmm_cmd cmd = ReclaimCmd(addr, len, pages);
    if (int err = Ioctl(fd_.get(), cmd)) throw SysError("ioctl RECLAIM", err);
    return cmd.out_value;
  }

 private:
  static shadowmm_info GetInfo(int fd) {
    shadowmm_info info{};
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_GET_INFO;
    cmd.ptr = reinterpret_cast<uintptr_t>(&info);
    cmd.len = sizeof(info);
    if (int err = Ioctl(fd, cmd)) {
      if (err == ENOTTY) throw Error("module backend: shadowmm.ko predates GET_INFO; reload it");
      throw SysError("ioctl GET_INFO", err);
    }
    if (info.page_size < SHADOWMM_PAGE_SIZE_MIN)
      throw Error("module backend: GET_INFO reports no page size");
    return info;
  }

  // An op an older shadowmm.ko lacks: its ENOTTY says to reload it.
  static void IoctlNewerOp(int fd, shadowmm_cmd cmd) {
    if (int err = Ioctl(fd, cmd)) {
      const std::string op(OpName(cmd.op));
      if (err == ENOTTY) throw Error("module backend: shadowmm.ko predates " + op + "; reload it");
      throw SysError("ioctl " + op, err);
    }
  }

  static void SetMemory(int fd, const shadowmm_memory& memory) {
    shadowmm_cmd cmd{};
    cmd.op = SHADOWMM_OP_SET_MEMORY;
    cmd.ptr = reinterpret_cast<uintptr_t>(&memory);
    cmd.len = sizeof(memory);
    IoctlNewerOp(fd, cmd);
  }

  static void SetAnonPolicy(int fd, unsigned policy) { IoctlNewerOp(fd, AnonPolicyCmd(policy)); }

  static void SetSwapPolicy(int fd, unsigned policy) { IoctlNewerOp(fd, SwapPolicyCmd(policy)); }

  // SET_GEOMETRY first, if asked for (the space is empty), then the memory
  // and swap policy asked for, then GET_INFO.
  static shadowmm_info SetUpSpace(int fd, const BackendConfig& config) {
    if (fd < 0) throw Error(OpenFailure(config.ctl_path, errno));
    if (config.geometry) {
      shadowmm_cmd cmd{};
      cmd.op = SHADOWMM_OP_SET_GEOMETRY;
      cmd.value = *config.geometry;
      if (int err = Ioctl(fd, cmd)) throw SysError("ioctl SET_GEOMETRY", err);
    }
    shadowmm_info info = GetInfo(fd);
    if (std::optional<shadowmm_memory> mem = ConfiguredMemory(info, config)) SetMemory(fd, *mem);
    if (config.swap_policy) SetSwapPolicy(fd, *config.swap_policy);
    if (config.anon_policy) SetAnonPolicy(fd, *config.anon_policy);
    if (config.tlb_policy) IoctlNewerOp(fd, TlbPolicyCmd(*config.tlb_policy));
    if (config.model) IoctlNewerOp(fd, ModelCmd(*config.model));
    return GetInfo(fd);
  }

  BackendConfig config_;
  Fd fd_;
  shadowmm_info info_;
  AddressArenas arenas_;
  Mode mode_ = Mode::kClassic;
};

}  // namespace

std::unique_ptr<Backend> MakeModuleBackend(const BackendConfig& config) {
  return std::make_unique<ModuleBackend>(config);
}

}  // namespace shadowmm
