/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel host of the shadow mm core: the one header through which
 * kmod/core takes what it needs from Linux.  The userspace host
 * (user/shim/smm_internal.h) has the same include guard and stands in for
 * this file there; anything added here must be added there too.
 */
#ifndef SMM_INTERNAL_H
#define SMM_INTERNAL_H

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/gfp.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/rwsem.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/types.h>

/*
 * Shadow pages are 4 KiB whatever PAGE_SIZE is; on a 64 KiB-page kernel
 * (ppc64le) each one is backed by a whole kernel page, which the budget
 * counts as one shadow page.
 */
static inline void *smm_alloc_page(gfp_t gfp)
{
	return (void *)get_zeroed_page(gfp);
}

static inline void smm_free_page(void *page)
{
	free_page((unsigned long)page);
}

/* rwsems need no teardown in the kernel; the userspace host's do. */
static inline void destroy_rwsem(struct rw_semaphore *sem)
{
}

/*
 * TOUCH over a large range stops for any pending signal, as read() and
 * write() do, and reports how far it got.
 */
static inline bool smm_host_should_stop(void)
{
	return signal_pending(current);
}

/*
 * Race-window injection: the windows are inside RCU read-side sections or
 * under a spinlock, so this must not sleep.  A few microseconds is long
 * enough for a writer on another CPU to get in.
 */
static inline void smm_host_race_delay(void)
{
	udelay(5);
}

#endif /* SMM_INTERNAL_H */
