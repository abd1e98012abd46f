// SPDX-License-Identifier: GPL-2.0
//
// shadowmm-selftest: the module's tests through its raw uapi, as TAP.
//
//   shadowmm-selftest [--require] [--filter TEXT] [--list]
//       every command and every error, on ioctl and on write() records,
//       one space or several, threads and fork(), the debugfs files and
//       parameters, allocation failures (fail-nth, where the kernel has it)
//   shadowmm-selftest --stress SECONDS [--threads N] [--mode M[,M...]|all]
//                     [--inject MASK] [--seed N] [--swap]
//       the multi-threaded stress (stress.h)
//
// Without the module (or without debugfs) it prints "1..0 # SKIP ..." and
// exits 0, unless --require makes that a failure.  Exit status: 0 when
// every test passed, 1 otherwise, 2 for bad usage.
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "ctl.h"
#include "stress.h"
#include "tap.h"
#include "tests.h"

namespace shadowmm::selftest {
namespace {

void Usage(FILE* out) {
  std::fprintf(
      out,
      "usage: shadowmm-selftest [--require] [--dir DIR] [--filter TEXT] [--list]\n"
      "       shadowmm-selftest --stress SECONDS [--threads N] [--mode M[,M...]|all]\n"
      "                         [--inject MASK] [--seed N] [--swap] [--require] [--dir DIR]\n"
      "       shadowmm-selftest --deadlock SECONDS [--knob] [--require] [--dir DIR]\n"
      "\n"
      "  --require       a missing module is a failure, not a skip\n"
      "  --dir DIR       the module's debugfs directory (default %s)\n"
      "  --filter TEXT   run only the tests whose name contains TEXT\n"
      "  --list          list the tests\n"
      "  --stress S      stress for S seconds in all, split between the modes\n"
      "  --threads N     stress threads sharing one space (default 4)\n"
      "  --mode M        classic, spf, vmalock, mmseq, switch (all of them, flipped\n"
      "                  while the threads run), or all (default)\n"
      "  --inject MASK   race-window injection mask during the stress (e.g. 0x3f)\n"
      "  --seed N        seed of the stress threads' choices (default 1)\n"
      "  --swap          a budget of 1/8 of the pages touched, with swap behind it:\n"
      "                  faults reclaim and swap in; phases cycle the swap policies\n"
      "  --deadlock S    spf faults with interrupts off against zaps that flush under\n"
      "                  the PTE lock (tlb_policy ipi) for S seconds: must run clean\n"
      "  --knob          with --deadlock: the spf_irqoff_spin_ptl bug on (locks up\n"
      "                  the machine for the kernel's detectors to report)\n",
      DebugfsDir().c_str());
}

bool ParseModes(const std::string& arg, std::vector<int>* modes) {
  static const char* const names[] = {"classic", "spf", "vmalock", "mmseq"};
  size_t pos = 0;
  while (pos <= arg.size()) {
    size_t comma = arg.find(',', pos);
    if (comma == std::string::npos) comma = arg.size();
    const std::string m = arg.substr(pos, comma - pos);
    pos = comma + 1;
    if (m == "all") {
      for (int i = 0; i < SHADOWMM_NR_MODES; i++) modes->push_back(i);
      modes->push_back(kSwitchModes);
      continue;
    }
    if (m == "switch") {
      modes->push_back(kSwitchModes);
      continue;
    }
    bool found = false;
    for (int i = 0; i < SHADOWMM_NR_MODES; i++) {
      if (m == names[i]) {
        modes->push_back(i);
        found = true;
      }
    }
    if (!found) return false;
  }
  return !modes->empty();
}

// 0 if ctl can be opened; otherwise why not, as a hint.
std::string Missing() {
  const int fd = Space::Open();
  if (fd >= 0) {
    close(fd);
    return "";
  }
  if (-fd == EACCES || -fd == EPERM) return "no permission to open ctl (debugfs is root only)";
  if (access("/sys/kernel/debug", F_OK) != 0 || access(DebugfsDir().c_str(), F_OK) != 0)
    return "shadowmm module not loaded (insmod shadowmm.ko; mount -t debugfs none "
           "/sys/kernel/debug)";
  return std::string("cannot open ctl: ") + std::strerror(-fd);
}

// Sets g_page_size from GET_INFO of a new space; "" or what went wrong.
std::string ReadPageSize() {
  const int fd = Space::Open();
  if (fd < 0) return "open ctl: " + ErrName(-fd);
  shadowmm_info info{};
  shadowmm_cmd c{};
  c.ptr = reinterpret_cast<uintptr_t>(&info);
  c.len = sizeof(info);
  const int ret = ioctl(fd, SHADOWMM_IOC_GET_INFO, &c) ? errno : 0;
  close(fd);
  if (ret) return "GET_INFO: " + ErrName(ret);
  if (info.page_size < SHADOWMM_PAGE_SIZE_MIN || info.page_size & (info.page_size - 1))
    return "GET_INFO: page size " + std::to_string(info.page_size);
  g_page_size = info.page_size;
  return "";
}

int Main(int argc, char** argv) {
  bool require = false, list = false;
  std::string filter;
  bool stress = false;
  double deadlock = 0;
  bool knob = false;
  StressOptions sopts;
  std::string modes = "all";
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "shadowmm-selftest: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    auto number = [&](double min) {
      const std::string v = value();
      char* end;
      const double d = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(d >= min)) {
        std::fprintf(stderr, "shadowmm-selftest: bad %s '%s'\n", a.c_str(), v.c_str());
        std::exit(2);
      }
      return d;
    };
    if (a == "--require") {
      require = true;
    } else if (a == "--list") {
      list = true;
    } else if (a == "--filter") {
      filter = value();
    } else if (a == "--dir") {
      SetDebugfsDir(value());
    } else if (a == "--stress") {
      stress = true;
      sopts.seconds = number(0.001);
    } else if (a == "--threads") {
      sopts.threads = static_cast<unsigned>(number(1));
      if (sopts.threads > 256) {
        std::fprintf(stderr, "shadowmm-selftest: at most 256 threads\n");
        return 2;
      }
    } else if (a == "--mode") {
      modes = value();
    } else if (a == "--inject") {
      sopts.inject = value();
    } else if (a == "--seed") {
      sopts.seed = static_cast<uint64_t>(number(0));
    } else if (a == "--swap") {
      sopts.swap = true;
    } else if (a == "--deadlock") {
      deadlock = number(1);
    } else if (a == "--knob") {
      knob = true;
    } else if (a == "-h" || a == "--help") {
      Usage(stdout);
      return 0;
    } else {
      Usage(stderr);
      return 2;
    }
  }
  if (!ParseModes(modes, &sopts.modes)) {
    std::fprintf(stderr, "shadowmm-selftest: bad --mode '%s'\n", modes.c_str());
    return 2;
  }

  Tap tap;
  AddFileTests(tap);
  AddOpTests(tap);
  AddCopySearchTests(tap);
  AddAbiTests(tap);
  AddSpaceTests(tap);
  AddReclaimTests(tap);
  AddForkTests(tap);
  AddUffdTests(tap);
  AddTlbTests(tap);
  AddModelChoiceTests(tap);
  AddFailNthTests(tap);
  AddCleanupTests(tap);
  if (list) {
    tap.List();
    return 0;
  }

  const std::string missing = Missing();
  if (!missing.empty()) {
    if (require) {
      std::printf("1..1\nnot ok 1 - %s module available # %s\n", ModuleName(), missing.c_str());
      return 1;
    }
    std::printf("1..0 # SKIP %s\n", missing.c_str());
    return 0;
  }
  // Every layout is in the page size of a new space; the module says which.
  if (const std::string err = ReadPageSize(); !err.empty()) {
    std::printf("1..1\nnot ok 1 - GET_INFO of a new space # %s\n", err.c_str());
    return 1;
  }
  if (stress) return RunStress(sopts) ? 1 : 0;
  if (deadlock > 0) return RunDeadlock(deadlock, knob);
  CaptureBaseline();
  return tap.Run(filter) ? 1 : 0;
}

}  // namespace
}  // namespace shadowmm::selftest

int main(int argc, char** argv) { return shadowmm::selftest::Main(argc, argv); }
