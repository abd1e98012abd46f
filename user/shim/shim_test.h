/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Test controls of the userspace host, for C++ tests (which cannot include
 * the kernel-flavoured smm_internal.h): allocation accounting and fail-Nth
 * injection, warning count, RCU barrier.
 */
#ifndef SMM_SHIM_TEST_H
#define SMM_SHIM_TEST_H

#ifdef __cplusplus
extern "C" {
#endif

void smm_shim_fail_nth(long n);		/* nth allocation from now fails */
long smm_shim_fail_nth_pending(void);	/* >0 while not reached */
long smm_shim_allocs_live(int kind);	/* -1: all kinds */
long smm_shim_allocs_total(void);
long smm_shim_warnings(void);
void rcu_barrier(void);			/* waits for queued call_rcu()s */

#ifdef __cplusplus
}
#endif

#endif /* SMM_SHIM_TEST_H */
