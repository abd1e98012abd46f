// SPDX-License-Identifier: GPL-2.0
#include "workload.h"

#include "workloads.h"

namespace shadowmm {

std::unique_ptr<Workload> MakeWorkload(const WorkloadOptions& options) {
  if (options.name == "ebizzy") return MakeEbizzy(options);
  if (options.name == "multifault") return MakeMultifault(options);
  if (options.name == "pagefault") return MakePagefault(options);
  if (options.name == "pft") return MakePft(options);
  if (options.name == "spf_test") return MakeSpfTest(options);
  if (options.name == "swap") return MakeSwap(options);
  if (options.name == "cow") return MakeCow(options);
  if (options.name == "fork") return MakeFork(options);
  if (options.name == "uffd") return MakeUffd(options);
  if (options.name == "mapbench") return MakeMapbench(options);
  throw Error("unknown workload '" + options.name +
              "' (ebizzy|multifault|pagefault|pft|spf_test|swap|cow|fork|uffd|mapbench)");
}

}  // namespace shadowmm
