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
/*
 * After @n more checks of smm_host_should_stop() say no, the following
 * say yes, as a pending signal would (TOUCH stops short); -1: never.
 */
void smm_shim_signal_after(long n);
/*
 * up_read() that finds a writer waiting sleeps @us microseconds between
 * dropping its count and waking the writer (rwsem_wake()), the window in
 * which a kernel reader can be preempted; 0: none.
 */
void smm_shim_rwsem_wake_delay(unsigned int us);
long smm_shim_rwsem_delayed_wakes(void);	/* up_read()s that waited so */

#ifdef __cplusplus
}
#endif

#endif /* SMM_SHIM_TEST_H */
