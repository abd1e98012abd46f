// SPDX-License-Identifier: GPL-2.0
// smm-module-model: the model test of test_model.cc, run through the real
// module ABI (ioctl on <debugfs>/shadowmm/ctl) instead of the core linked
// in, so it runs in the VM on the debug kernel (lockdep, KASAN, PROVE_RCU).
// Every operation's errno and every read value must match the reference
// model; after each step the space's pages_live must equal the model's and
// every page the model holds must be present (an access hit, no fault).
//
//   smm-module-model [--require] [--ctl PATH] [--seeds N] [--steps N]
//
// Prints one line per mode and a closing "N passed, N failed"; without the
// module it skips (exit 0) unless --require is given.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

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
        for (int i = 0; i < steps && diff.empty(); i++, done++) {
          diff = smm_model::apply(s, m, smm_model::random_step(rng, page), false);
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
