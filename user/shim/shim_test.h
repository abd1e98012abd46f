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

enum shim_alloc_kind {
	SHIM_ALLOC_KMALLOC,
	SHIM_ALLOC_SLAB,
	SHIM_ALLOC_PAGE,	/* shadow pages, any size */
	SHIM_ALLOC_PERCPU,
	SHIM_ALLOC_TABLE,	/* page tables, any size */
	SHIM_NR_ALLOC_KINDS
};

void smm_shim_fail_nth(long n);		/* nth allocation from now fails */
long smm_shim_fail_nth_pending(void);	/* >0 while not reached */
long smm_shim_allocs_live(int kind);	/* -1: all kinds */
/* Bytes live of SHIM_ALLOC_PAGE or SHIM_ALLOC_TABLE (what is in use). */
long smm_shim_bytes_live(int kind);
/*
 * The host page size SHADOWMM_GEOM_HOST resolves to and GET_INFO reports
 * (a 64 KiB-page host, say); 0: the process's own.
 */
void smm_shim_set_host_page_shift(unsigned int shift);
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
/*
 * Off: the background reclaimer ignores wake-ups (and its periodic look),
 * so a single-threaded test sees reclaim only where it asks for it or a
 * fault reclaims directly.  On by default.
 */
void smm_shim_background_reclaim(bool on);

#ifdef __cplusplus
}
#endif

#endif /* SMM_SHIM_TEST_H */
