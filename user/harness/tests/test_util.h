// SPDX-License-Identifier: GPL-2.0
//
// Helpers shared by the harness tests.
#ifndef SHADOWMM_HARNESS_TESTS_TEST_UTIL_H_
#define SHADOWMM_HARNESS_TESTS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include "backend.h"
#include "workload.h"

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

// One run of a workload: its result, and its Config() and Summary() after.
struct WorkloadRun {
  RunResult result;
  std::map<std::string, std::string> config;  // the settings (Workload::Config())
  std::map<std::string, double> results;      // what it measured (Results())
  std::string summary;
};

inline WorkloadRun RunWorkloadOn(const std::string& backend_name, const WorkloadOptions& wo,
                                 unsigned threads, uint64_t iterations, Mode mode = Mode::kClassic,
                                 std::optional<unsigned> swap_policy = std::nullopt) {
  BackendConfig c = Config(backend_name, threads);
  if (backend_name != "stock") {
    c.mode = mode;
    c.swap_policy = swap_policy;
  }
  std::unique_ptr<Backend> backend = MakeBackend(c);
  std::unique_ptr<Workload> w = MakeWorkload(wo);
  RunConfig rc;
  rc.threads = threads;
  rc.iterations = iterations;
  WorkloadRun run;
  run.result = RunWorkload(*backend, *w, rc);
  run.config = w->Config();
  run.results = w->Results();
  run.summary = w->Summary();
  return run;
}

inline uint64_t Delta(const RunResult& r, shadowmm_counter c) { return r.delta.counter[c]; }

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_TESTS_TEST_UTIL_H_
