// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel host's reclaimers: the background thread the core wakes when
 * a space reaches its high watermark (kshadowmmd, one for all spaces, as
 * kswapd is one per node), and a shrinker, so the kernel's own memory
 * pressure swaps shadow pages out too.  Through the shrinker, lockdep sees
 * every lock the core's reclaim takes inside fs_reclaim, and so any of
 * them held across an allocation that may reclaim.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/wait.h>

#include "core/smm_internal.h"
#include "shadowmm_compat.h"
#include "shadowmm_module.h"

static struct task_struct *smm_reclaimer;
static void (*smm_reclaimer_fn)(void);
static DECLARE_WAIT_QUEUE_HEAD(smm_reclaimer_wait);
static bool smm_reclaimer_woken;
static struct shrinker *smm_shrinker;

static int smm_reclaimer_main(void *unused)
{
	while (!kthread_should_stop()) {
		/* Woken, or every 100 ms for a space left above its mark. */
		wait_event_interruptible_timeout(smm_reclaimer_wait,
						 READ_ONCE(smm_reclaimer_woken) ||
						 kthread_should_stop(),
						 HZ / 10);
		WRITE_ONCE(smm_reclaimer_woken, false);
		if (!kthread_should_stop())
			smm_reclaimer_fn();
	}
	return 0;
}

int smm_host_reclaimer_start(void (*fn)(void))
{
	struct task_struct *t;

	smm_reclaimer_fn = fn;
	t = kthread_run(smm_reclaimer_main, NULL, "kshadowmmd");
	if (IS_ERR(t))
		return PTR_ERR(t);
	smm_reclaimer = t;
	return 0;
}

void smm_host_reclaimer_stop(void)
{
	if (smm_reclaimer)
		kthread_stop(smm_reclaimer);
	smm_reclaimer = NULL;
}

void smm_host_reclaimer_wake(void)
{
	WRITE_ONCE(smm_reclaimer_woken, true);
	wake_up(&smm_reclaimer_wait);
}

static unsigned long smm_shrink_count_objects(struct shrinker *s,
					      struct shrink_control *sc)
{
	return smm_shrink_count();
}

static unsigned long smm_shrink_scan_objects(struct shrinker *s,
					     struct shrink_control *sc)
{
	long freed;

	/*
	 * Swap-out sleeps for the store's latency: only where the
	 * allocation that reclaims may wait for I/O.
	 */
	if (!(sc->gfp_mask & __GFP_IO))
		return SHRINK_STOP;
	freed = smm_shrink_scan(sc->nr_to_scan);
	return freed < 0 ? SHRINK_STOP : freed;
}

int shadowmm_shrinker_init(void)
{
	smm_shrinker = smm_shrinker_create(smm_shrink_count_objects,
					   smm_shrink_scan_objects,
					   "shadowmm");
	return smm_shrinker ? 0 : -ENOMEM;
}

void shadowmm_shrinker_exit(void)
{
	if (smm_shrinker)
		smm_shrinker_destroy(smm_shrinker);
	smm_shrinker = NULL;
}
