// SPDX-License-Identifier: GPL-2.0
// smm-module-model: the model test of test_model.cc, run through the real
// module ABI (ioctl on <debugfs>/shadowmm/ctl) instead of the core linked
// in, so it runs in the VM on the debug kernel (lockdep, KASAN, PROVE_RCU).
// Every operation's errno and every read value must match the reference
// model; after each step the space's pages_live must equal the model's and
// every page the model holds must be present (an access hit, no fault).
// Even seeds register and unregister ranges too, with a resolver thread
// reading the channel (UFFD_OPEN) and installing what the model expects.
//
//   smm-module-model [--require] [--ctl PATH] [--seeds N] [--steps N]
//
// Prints one line per mode and a closing "N passed, N failed"; without the
// module it skips (exit 0) unless --require is given.
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include "model_steps.h"

namespace {

using smm_model::Model;

class ModuleSpace {
 public:
  explicit ModuleSpace(const char* ctl) : fd_(open(ctl, O_RDWR | O_CLOEXEC)) {}
  ~ModuleSpace() {
    if (fd_ >= 0) close(fd_);
  }
  ModuleSpace(const ModuleSpace&) = delete;
  ModuleSpace& operator=(const ModuleSpace&) = delete;
  bool ok() const { return fd_ >= 0; }

  int cmd(unsigned long request, shadowmm_cmd& c) const {
    return ioctl(fd_, request, &c) ? -errno : 0;
  }
  int map(uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags = SHADOWMM_MAP_FIXED,
          uint64_t* out = nullptr) const {
    shadowmm_cmd c{.addr = addr, .len = len, .prot = prot, .flags = flags};
    int ret = cmd(SHADOWMM_IOC_MAP, c);
    if (out) *out = c.out_addr;
    return ret;
  }
  int unmap(uint64_t addr, uint64_t len) const {
    shadowmm_cmd c{.addr = addr, .len = len};
    return cmd(SHADOWMM_IOC_UNMAP, c);
  }
  int protect(uint64_t addr, uint64_t len, uint64_t prot) const {
    shadowmm_cmd c{.addr = addr, .len = len, .prot = prot};
    return cmd(SHADOWMM_IOC_PROTECT, c);
  }
  int zap(uint64_t addr, uint64_t len) const {
    shadowmm_cmd c{.addr = addr, .len = len};
    return cmd(SHADOWMM_IOC_ZAP, c);
  }
  int fault(uint64_t addr, bool write, uint64_t value, uint64_t* out,
            bool* faulted = nullptr) const {
    shadowmm_cmd c{.addr = addr, .flags = write ? SHADOWMM_ACCESS_WRITE : 0, .value = value};
    int ret = cmd(SHADOWMM_IOC_FAULT, c);
    if (out) *out = c.out_value;
    if (faulted) *faulted = c.out_faults;
    return ret;
  }
  int uffd(unsigned long request, uint64_t addr, uint64_t len, uint64_t flags = 0,
           uint64_t value = 0) const {
    shadowmm_cmd c{.addr = addr, .len = len, .flags = flags, .value = value};
    return cmd(request, c);
  }
  int uffd_register(uint64_t addr, uint64_t len) const {
    return uffd(SHADOWMM_IOC_UFFD_REGISTER, addr, len, SHADOWMM_UFFD_MISSING);
  }
  int uffd_unregister(uint64_t addr, uint64_t len) const {
    return uffd(SHADOWMM_IOC_UFFD_UNREGISTER, addr, len);
  }
  // The space's userfault channel (a new descriptor), or a negative errno.
  int uffd_open() const {
    shadowmm_cmd c{};
    int ret = cmd(SHADOWMM_IOC_UFFD_OPEN, c);
    return ret ? ret : static_cast<int>(c.out_value);
  }
  int set_mode(unsigned mode) const {
    shadowmm_cmd c{.value = mode};
    return cmd(SHADOWMM_IOC_SET_MODE, c);
  }
  int set_geometry(unsigned geometry) const {
    shadowmm_cmd c{.value = geometry};
    return cmd(SHADOWMM_IOC_SET_GEOMETRY, c);
  }
  // The space's page size, 0 if GET_INFO fails.
  uint64_t page_size() const {
    shadowmm_info info{};
    shadowmm_cmd c{.len = sizeof(info), .ptr = reinterpret_cast<uintptr_t>(&info)};
    return cmd(SHADOWMM_IOC_GET_INFO, c) ? 0 : info.page_size;
  }
  int stats(shadowmm_stats* st) const {
    shadowmm_cmd c{.len = sizeof(*st), .ptr = reinterpret_cast<uintptr_t>(st)};
    return cmd(SHADOWMM_IOC_GET_STATS, c);
  }

 private:
  int fd_;
};

// Resolves the events of a space's channel as the model expects (the
// model test's resolver), from its own thread, until destroyed; the
// first error is kept.  The channel closes after the thread has stopped.
class Resolver {
 public:
  Resolver(const ModuleSpace& s, uint64_t page) : s_(s), page_(page), fd_(s.uffd_open()) {
    if (fd_ < 0) {
      error_ = fd_;
      return;
    }
    thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  }
  ~Resolver() {
    if (thread_.joinable()) {
      thread_.request_stop();
      thread_.join();
    }
    if (fd_ >= 0) close(fd_);
  }
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;
  int error() const { return error_; }

 private:
  void run(const std::stop_token& stop) {
    shadowmm_uffd_msg msgs[4];
    while (!stop.stop_requested()) {
      pollfd pfd{.fd = fd_, .events = POLLIN, .revents = 0};
      if (poll(&pfd, 1, 20) <= 0) continue;
      ssize_t got = read(fd_, msgs, sizeof(msgs));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0 || got % sizeof(msgs[0])) {
        error_ = got < 0 ? -errno : -EIO;
        return;
      }
      for (ssize_t i = 0; i < got / static_cast<ssize_t>(sizeof(msgs[0])); i++) {
        int ret = smm_model::uffd_resolve(
            msgs[i].addr, page_,
            [&](uint64_t p, uint64_t v) {
              return s_.uffd(SHADOWMM_IOC_UFFD_COPY, p, page_, SHADOWMM_UFFD_FILL, v);
            },
            [&](uint64_t p) { return s_.uffd(SHADOWMM_IOC_UFFD_ZEROPAGE, p, page_); });
        if (ret) error_ = ret;
      }
    }
  }

  const ModuleSpace& s_;
  const uint64_t page_;
  const int fd_;
  std::atomic<int> error_{0};
  std::jthread thread_;
};

// Empty if the module's space agrees with the model.
std::string compare(const ModuleSpace& s, const Model& m) {
  shadowmm_stats st{};
  if (int ret = s.stats(&st)) return "GET_STATS failed: " + std::to_string(ret);
  if (st.pages_live != m.pages.size())
    return "pages " + std::to_string(st.pages_live) + " vs model " + std::to_string(m.pages.size());
  for (uint64_t p : m.pages) {
    // Reading a word the model says is zero must not fault the page in.
    bool faulted = true;
    uint64_t val = 0;
    int ret = s.fault(p + m.page - 8, false, 0, &val, &faulted);
    if (ret == -EFAULT) continue;  // present but PROT_NONE / unreadable
    if (ret || faulted) return "page missing at " + std::to_string(p);
    if (val != m.read(p + m.page - 8))
      return "last word of the page at " + std::to_string(p) + " differs";
  }
  for (const auto& [a, want] : m.words) {
    uint64_t val = 0;
    int ret = s.fault(a, false, 0, &val);
    if (ret == -EFAULT) continue;  // the model keeps words of PROT_NONE pages
    if (ret || val != want) return "word at " + std::to_string(a) + " differs";
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  const char* ctl = "/sys/kernel/debug/shadowmm/ctl";
  bool require = false;
  int seeds = 3, steps = 1000;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (a == "--require") {
      require = true;
    } else if (a == "--ctl" && i + 1 < argc) {
      ctl = argv[++i];
    } else if (a == "--seeds" && i + 1 < argc) {
      seeds = std::atoi(argv[++i]);
    } else if (a == "--steps" && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "smm-module-model: unknown argument '%s' (see the file header)\n",
                   argv[i]);
      return 2;
    }
  }
  if (access(ctl, R_OK | W_OK)) {
    std::printf("%s %s: %s (insmod shadowmm.ko; mount -t debugfs none /sys/kernel/debug)\n",
                require ? "FAIL" : "SKIP", ctl, std::strerror(errno));
    return require ? 1 : 0;
  }
  int passed = 0, failed = 0;
  // Every mode in both page sizes, whatever the kernel's own.
  for (unsigned geometry : {SHADOWMM_GEOM_4K, SHADOWMM_GEOM_64K}) {
    const char* geometry_name = geometry == SHADOWMM_GEOM_4K ? "4k" : "64k";
    for (unsigned mode = 0; mode < SHADOWMM_NR_MODES; mode++) {
      std::string diff;
      int done = 0;
      for (int seed = 1; seed <= seeds && diff.empty(); seed++) {
        ModuleSpace s(ctl);
        uint64_t page = 0;
        if (!s.ok() || s.set_mode(mode) || s.set_geometry(geometry) || !(page = s.page_size())) {
          diff = std::string("cannot set a space up: ") + std::strerror(errno);
          break;
        }
        std::mt19937_64 rng(seed * 7919 + mode);
        Model m(page);
        const bool uffd = seed % 2 == 0;
        std::optional<Resolver> resolver;
        if (uffd) resolver.emplace(s, page);
        for (int i = 0; i < steps && diff.empty(); i++, done++) {
          diff =
              smm_model::apply(s, m, smm_model::random_step(rng, page, uffd ? &m : nullptr), false);
          if (diff.empty() && resolver && resolver->error())
            diff = "resolver: " + std::string(std::strerror(-resolver->error()));
          if (diff.empty()) diff = compare(s, m);
          if (!diff.empty())
            diff += " (seed " + std::to_string(seed) + " step " + std::to_string(i) + ")";
        }
      }
      std::printf("%s model mode %u geometry %s: %d steps%s%s\n", diff.empty() ? "ok" : "not ok",
                  mode, geometry_name, done, diff.empty() ? "" : ": ", diff.c_str());
      (diff.empty() ? passed : failed)++;
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
