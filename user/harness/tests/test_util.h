// SPDX-License-Identifier: GPL-2.0
//
// Helpers shared by the harness tests.
#ifndef SHADOWMM_HARNESS_TESTS_TEST_UTIL_H_
#define SHADOWMM_HARNESS_TESTS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "backend.h"

namespace shadowmm {

// The module's ctl file: $SHADOWMM_CTL, else the debugfs default.  Tests of
// the module backend skip when it is not there (no module, no debugfs, not
// root), as they do on a build machine; in the VM they run.
inline std::string CtlPath() {
  const char* env = std::getenv("SHADOWMM_CTL");
  return env && *env ? env : kDefaultCtlPath;
}
inline bool ModuleAvailable() { return access(CtlPath().c_str(), R_OK | W_OK) == 0; }

inline BackendConfig Config(const std::string& name, unsigned threads = 2,
                            Submit submit = Submit::kIoctl) {
  BackendConfig c;
  c.name = name;
  c.threads = threads;
  c.submit = submit;
  c.batch = 7;  // odd on purpose: batches end mid-record-group
  c.ctl_path = CtlPath();
  if (name == "stock") c.mode = Mode::kStock;
  return c;
}

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_TESTS_TEST_UTIL_H_
