// SPDX-License-Identifier: GPL-2.0
//
// The workloads' factories, for MakeWorkload().
#ifndef SHADOWMM_HARNESS_WORKLOADS_H_
#define SHADOWMM_HARNESS_WORKLOADS_H_

#include <memory>

#include "workload.h"

namespace shadowmm {

std::unique_ptr<Workload> MakeEbizzy(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeMultifault(const WorkloadOptions& options);
std::unique_ptr<Workload> MakePagefault(const WorkloadOptions& options);
std::unique_ptr<Workload> MakePft(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeSpfTest(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeSwap(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeCow(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeFork(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeUffd(const WorkloadOptions& options);
std::unique_ptr<Workload> MakeMapbench(const WorkloadOptions& options);

}  // namespace shadowmm

#endif  // SHADOWMM_HARNESS_WORKLOADS_H_
