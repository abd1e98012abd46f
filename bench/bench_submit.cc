// SPDX-License-Identifier: GPL-2.0
//
// What one fault costs through each way of reaching a fault path: the
// running kernel's own (stock), the core linked in (inproc), and the
// module by one ioctl per fault or by batches of write() records, written
// by write() or by io_uring.  Each iteration faults the next page of the
// thread's 512-page region with a one-page command; one ZAP per 512
// empties the region again (amortised, inside the timing).  Module cases
// skip when <debugfs>/shadowmm/ctl is absent.
#include <benchmark/benchmark.h>

#include <map>
#include <mutex>
#include <string>

#include "backend.h"

namespace shadowmm {
namespace {

constexpr uint64_t kRegionPages = 512;
constexpr unsigned kMaxThreads = 8;

// One space per configuration, shared by the benchmark's threads and kept
// for the process's life: threads of one run start together and need it
// before any of them could make it.
Backend* SharedBackend(const std::string& name, Submit submit, unsigned batch, std::string* err) {
  static std::mutex lock;
  static std::map<std::string, std::unique_ptr<Backend>> backends;
  static std::map<std::string, std::string> errors;
  std::string key = name + "/" + std::string(SubmitName(submit)) + "/" + std::to_string(batch);
  std::lock_guard guard(lock);
  if (auto it = backends.find(key); it != backends.end()) return it->second.get();
  if (auto it = errors.find(key); it != errors.end()) {
    *err = it->second;
    return nullptr;
  }
  BackendConfig config;
  config.name = name;
  config.mode = name == "stock" ? Mode::kStock : Mode::kClassic;
  config.threads = kMaxThreads;
  config.submit = submit;
  config.batch = batch;
  try {
    return (backends[key] = MakeBackend(config)).get();
  } catch (const Error& e) {
    *err = errors[key] = e.what();
    return nullptr;
  }
}

void BM_Fault(benchmark::State& state, const char* name, Submit submit) {
  const unsigned batch = static_cast<unsigned>(state.range(0));
  std::string err;
  Backend* backend = SharedBackend(name, submit, batch, &err);
  if (!backend) {
    state.SkipWithError(err.c_str());
    return;
  }
  const uint64_t page = backend->PageSize();
  std::unique_ptr<BackendThread> t = backend->Attach(state.thread_index() + 1);
  const uint64_t base = t->Map(kRegionPages * page, Prot::kReadWrite);
  t->Flush();
  uint64_t i = 0;
  for (auto _ : state) {
    t->Fault(base + i * page, Access::kWrite, i);
    if (++i == kRegionPages) {
      t->Zap(base, kRegionPages * page);
      i = 0;
    }
  }
  // After the timed loop: at most batch - 1 faults of the last batch.
  t->Flush();
  t->Unmap(base, kRegionPages * page);
  t->Flush();
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(name) + (std::string(name) == "module"
                                          ? std::string("/") + std::string(SubmitName(submit))
                                          : ""));
}

#define SHADOWMM_FAULT_BENCH(tag, name, submit, ...) \
  BENCHMARK_CAPTURE(BM_Fault, tag, name, submit)->__VA_ARGS__->UseRealTime()->ThreadRange(1, 2)

SHADOWMM_FAULT_BENCH(stock, "stock", Submit::kIoctl, Arg(1));
SHADOWMM_FAULT_BENCH(inproc, "inproc", Submit::kIoctl, Arg(1));
SHADOWMM_FAULT_BENCH(module_ioctl, "module", Submit::kIoctl, Arg(1));
SHADOWMM_FAULT_BENCH(module_write, "module", Submit::kWrite, Arg(1)->Arg(8)->Arg(64));
SHADOWMM_FAULT_BENCH(module_uring, "module", Submit::kUring, Arg(1)->Arg(8)->Arg(64));

}  // namespace
}  // namespace shadowmm

BENCHMARK_MAIN();
