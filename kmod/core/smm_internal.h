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
#include <linux/bitmap.h>
#include <linux/bitops.h>
#include <linux/delay.h>
#include <linux/errno.h>
#include <linux/gfp.h>
#include <linux/irqflags.h>
#include <linux/jiffies.h>
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
#include <linux/time.h>
#include <linux/types.h>
#include <linux/wait.h>
#include <linux/wait_bit.h>

/* What SHADOWMM_GEOM_HOST resolves to, and GET_INFO's host_page_size. */
static inline unsigned int smm_host_page_shift(void)
{
	return PAGE_SHIFT;
}

/*
 * A zeroed shadow page of 1 << @shift bytes, naturally aligned (its PTE
 * keeps flags in the low 12 bits).  Memory used must be memory charged:
 * no 64 KiB kernel page behind a 4 KiB shadow page.  So a page of the
 * kernel's size is one page; a smaller one comes from @cache, a slab of
 * exactly that size created with align = size (SLAB_HWCACHE_ALIGN only
 * gives cache lines); a larger one (the 64K geometry on a 4 KiB kernel)
 * is one allocation of the right order.
 */
static inline void *smm_alloc_shadow_page(struct kmem_cache *cache,
					  unsigned int shift, gfp_t gfp)
{
	if (shift < PAGE_SHIFT)
		return kmem_cache_zalloc(cache, gfp);
	return (void *)__get_free_pages(gfp | __GFP_ZERO, shift - PAGE_SHIFT);
}

static inline void smm_free_shadow_page(struct kmem_cache *cache,
					unsigned int shift, void *page)
{
	if (shift < PAGE_SHIFT)
		kmem_cache_free(cache, page);
	else
		free_pages((unsigned long)page, shift - PAGE_SHIFT);
}

/*
 * A zeroed page table of @size bytes (entries x 8): from 256 bytes (a
 * 64K-geometry PTE table) to 64 KiB (its PGD).  kmalloc's power-of-two
 * caches fit them exactly, where a page each would waste 15/16 of a
 * 64 KiB kernel page on the small ones.
 */
static inline void *smm_alloc_table(unsigned int size, gfp_t gfp)
{
	return kzalloc(size, gfp);
}

static inline void smm_free_table(void *table, unsigned int size)
{
	kfree(table);
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

/* The faulting thread, as a userfault event names it. */
static inline unsigned long smm_host_tid(void)
{
	return task_pid_nr(current);
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

/*
 * A swap-in or swap-out "I/O" of the shadow swap store: the caller holds
 * no spinlock and is outside RCU, so it really sleeps, as a fault waiting
 * for a disk does.
 */
static inline void smm_host_io_sleep(unsigned long us)
{
	if (us)
		usleep_range(us, us + us / 8 + 1);
}

/*
 * The background reclaimer (the module's "kswapd"): one thread for all
 * spaces, started by smm_core_init(), woken when a space's resident pages
 * reach its high watermark.  Hosts: kmod/shadowmm_main.c, user/shim/shim.c.
 */
int smm_host_reclaimer_start(void (*fn)(void));
void smm_host_reclaimer_stop(void);
void smm_host_reclaimer_wake(void);

/*
 * The shadow MMU's CPUs (core: tlb.c; here: kmod/shadowmm_tlb.c).  A
 * CPU's shadow TLB is used only by that CPU with interrupts off, and by
 * the shootdown function an IPI runs there; a shootdown runs @fn on
 * every CPU of a bitmap of smm_host_nr_cpus() bits (the caller's too)
 * and waits for all of them, returning how many other CPUs it
 * interrupted.  Never called with interrupts off: the CPU it waits for
 * could be waiting for this one.
 */
struct smm_tlb;
typedef void (*smm_tlb_fn)(struct smm_tlb *tlb, void *info);

/*
 * A lockless walker's load of a PTE whose page it will touch: the address
 * dependency from the PTE to the page's descriptor and data orders them,
 * as it does for the MMU and gup_fast.  Pairs with smm_set_pte().
 */
#define smm_host_load_pte(p)	READ_ONCE(*(p))

static inline unsigned long smm_host_irq_save(void)
{
	unsigned long flags;

	local_irq_save(flags);
	return flags;
}

static inline void smm_host_irq_restore(unsigned long flags)
{
	local_irq_restore(flags);
}

struct smm_tlb *smm_host_this_tlb(unsigned int *cpu);
unsigned int smm_host_nr_cpus(void);
unsigned int smm_host_shootdown(const unsigned long *cpus, smm_tlb_fn fn,
				void *info);

/*
 * Whether a fault may run with interrupts off (tlb_policy ipi): not on
 * PREEMPT_RT, where the spinlocks it takes (LRU, the page allocator's)
 * sleep.
 */
static inline bool smm_host_irqoff_faults(void)
{
	return !IS_ENABLED(CONFIG_PREEMPT_RT);
}

#endif /* SMM_INTERNAL_H */
