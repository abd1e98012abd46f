// SPDX-License-Identifier: GPL-2.0
/*
 * The shadow mm: creation and teardown, the mmap write cycle that every
 * VMA change runs in, per-space and global counters, fault modes and
 * race-window injection.
 */
#include "smm.h"

struct kmem_cache *smm_vma_cachep;
struct kmem_cache *smm_pt_cachep;
struct kmem_cache *smm_vt_cachep;

/* Live spaces, for global stats, and what dead ones counted. */
DEFINE_MUTEX(smm_mm_list_lock);
static LIST_HEAD(smm_mm_list);
static unsigned long smm_retired[SHADOWMM_NR_COUNTERS];
static unsigned long smm_mms_live;

static unsigned long smm_race_mask;
unsigned long smm_bugs;

static const char *const smm_counter_names[] = {
#define SMM_COUNTER_NAME(name, str) str,
	SHADOWMM_COUNTERS(SMM_COUNTER_NAME)
#undef SMM_COUNTER_NAME
};

static const char *const smm_mode_names[] = {
	[SHADOWMM_MODE_CLASSIC] = "classic",
	[SHADOWMM_MODE_SPF] = "spf",
	[SHADOWMM_MODE_VMALOCK] = "vmalock",
	[SHADOWMM_MODE_MMSEQ] = "mmseq",
};

static const char *const smm_bug_names[] = {
	[SHADOWMM_BUG_VMA_SEQ_RELAXED] = "vma_seq_relaxed",
	[SHADOWMM_BUG_VMA_UNLOCK_OUTSIDE_RCU] = "vma_unlock_outside_rcu",
	[SHADOWMM_BUG_FORK_NO_VMA_LOCK] = "fork_no_vma_lock",
	[SHADOWMM_BUG_ANON_VMA_OWN_LOCK] = "anon_vma_own_lock",
	[SHADOWMM_BUG_SPF_IRQOFF_SPIN_PTL] = "spf_irqoff_spin_ptl",
};

const char *smm_bug_name(unsigned int b)
{
	return b < SHADOWMM_NR_BUGS ? smm_bug_names[b] : NULL;
}

const char *smm_counter_name(unsigned int i)
{
	return i < SHADOWMM_NR_COUNTERS ? smm_counter_names[i] : NULL;
}

const char *smm_mode_name(unsigned int m)
{
	return m < SHADOWMM_NR_MODES ? smm_mode_names[m] : NULL;
}

/* The index of @name in @names (@n of them), as sysfs writes it, or -EINVAL. */
int smm_name_index(const char *const *names, unsigned int n, const char *name)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (sysfs_streq(name, names[i]))
			return i;
	return -EINVAL;
}

int smm_mode_parse(const char *name)
{
	return smm_name_index(smm_mode_names, SHADOWMM_NR_MODES, name);
}

int smm_core_init(void)
{
	smm_vma_cachep = kmem_cache_create("smm_vma", sizeof(struct smm_vma),
					   0, SLAB_HWCACHE_ALIGN, NULL);
	smm_pt_cachep = kmem_cache_create("smm_pt", sizeof(struct smm_pt),
					  0, 0, NULL);
	smm_vt_cachep = kmem_cache_create("smm_vt_node",
					  sizeof(struct smm_vt_node), 0,
					  SLAB_HWCACHE_ALIGN, NULL);
	/* A PTE keeps its flags in the descriptor's low bits. */
	smm_page_cachep = kmem_cache_create("smm_page", sizeof(struct smm_page),
					    SMM_PAGE_ALIGN, 0, NULL);
	smm_anon_vma_cachep = kmem_cache_create("smm_anon_vma",
						sizeof(struct smm_anon_vma),
						0, 0, NULL);
	smm_avc_cachep = kmem_cache_create("smm_anon_vma_chain",
					   sizeof(struct smm_avc), 0, 0, NULL);
	if (!smm_vma_cachep || !smm_pt_cachep || !smm_vt_cachep ||
	    !smm_page_cachep || !smm_anon_vma_cachep || !smm_avc_cachep ||
	    smm_geom_init()) {
		smm_core_exit();
		return -ENOMEM;
	}
	if (smm_host_reclaimer_start(smm_background_reclaim)) {
		smm_core_exit();
		return -ENOMEM;
	}
	return 0;
}

void smm_core_exit(void)
{
	smm_host_reclaimer_stop();
	/* Callbacks still queued free into these caches. */
	rcu_barrier();
	smm_geom_exit();
	kmem_cache_destroy(smm_avc_cachep);
	kmem_cache_destroy(smm_anon_vma_cachep);
	kmem_cache_destroy(smm_page_cachep);
	smm_avc_cachep = NULL;
	smm_anon_vma_cachep = NULL;
	smm_page_cachep = NULL;
	kmem_cache_destroy(smm_vt_cachep);
	kmem_cache_destroy(smm_pt_cachep);
	kmem_cache_destroy(smm_vma_cachep);
	smm_vt_cachep = NULL;
	smm_pt_cachep = NULL;
	smm_vma_cachep = NULL;
}

void smm_set_race_injection(unsigned long mask)
{
	WRITE_ONCE(smm_race_mask, mask & (BIT(SMM_NR_RACE_WINDOWS) - 1));
}

unsigned long smm_get_race_injection(void)
{
	return READ_ONCE(smm_race_mask);
}

int smm_set_bugs(unsigned long mask)
{
	if (mask & ~(unsigned long)SHADOWMM_BUGS_MASK)
		return -EINVAL;
	WRITE_ONCE(smm_bugs, mask);
	return 0;
}

unsigned long smm_get_bugs(void)
{
	return READ_ONCE(smm_bugs);
}

void smm_race_window(enum smm_race_window w)
{
	if (unlikely(READ_ONCE(smm_race_mask) & BIT(w)))
		smm_host_race_delay();
}

/* A new space in family @mem (shared: FORK), or in a new family (NULL). */
static int smm_mm_create_in(const struct smm_limits *limits,
			    unsigned int mode, unsigned int geometry,
			    struct smm_mem *mem, struct smm_mm **mmp)
{
	struct smm_mm *mm;
	int ret;

	if (mode >= SHADOWMM_NR_MODES || geometry >= SHADOWMM_NR_GEOMS)
		return -EINVAL;
	mm = kzalloc(sizeof(*mm), GFP_KERNEL);
	if (!mm)
		return -ENOMEM;
	smm_geom_fill(&mm->geom, geometry);
	mm->events = alloc_percpu(struct smm_events);
	if (!mm->events) {
		kfree(mm);
		return -ENOMEM;
	}
	if (smm_tlb_mm_init(mm, SHADOWMM_TLB_RCU)) {
		free_percpu(mm->events);
		kfree(mm);
		return -ENOMEM;
	}
	init_rwsem(&mm->mmap_lock);
	seqcount_init(&mm->mm_seq);
	spin_lock_init(&mm->page_table_lock);
	INIT_LIST_HEAD(&mm->vma_list);
	INIT_LIST_HEAD(&mm->write_vmas);
	mm->swap_policy = SHADOWMM_SWAP_DROP_RETRY;
	mm->anon_policy = SHADOWMM_ANON_TRYLOCK;
	mm->mode = mode;
	mm->free_area_hint = SMM_MMAP_MIN_ADDR;
	if (limits)
		mm->limits = *limits;

	ret = -ENOMEM;
	if (mem)
		smm_mem_share(mem);
	else
		mem = smm_mem_create(mm, mm->limits.max_pages);
	mm->mem = mem;
	if (mm->mem)
		ret = smm_pgd_alloc(mm);
	if (ret) {
		if (mm->mem && smm_mem_put(mm->mem))
			smm_mem_free(mm->mem);
		smm_tlb_mm_free(mm);
		free_percpu(mm->events);
		destroy_rwsem(&mm->mmap_lock);
		kfree(mm);
		return ret;
	}
	smm_count(mm, SHADOWMM_EV_MM_CREATE);

	mutex_lock(&smm_mm_list_lock);
	list_add_tail(&mm->mm_list, &smm_mm_list);
	smm_mms_live++;
	mutex_unlock(&smm_mm_list_lock);
	*mmp = mm;
	return 0;
}

int smm_mm_create(const struct smm_limits *limits, unsigned int mode,
		  unsigned int geometry, struct smm_mm **mmp)
{
	return smm_mm_create_in(limits, mode, geometry, NULL, mmp);
}

/*
 * FORK's child, empty, in its parent's family: its geometry, mode,
 * policies and limits, and its memory shared (smm_mem_share() before
 * anything can fail, so the child's destroy can always put it).
 */
int smm_mm_create_child(struct smm_mm *parent, struct smm_mm **childp)
{
	struct smm_mm *mm;
	int ret;

	ret = smm_mm_create_in(&parent->limits, smm_get_mode(parent),
			       smm_get_geometry(parent), parent->mem, &mm);
	if (ret)
		return ret;
	mm->swap_policy = READ_ONCE(parent->swap_policy);
	mm->anon_policy = READ_ONCE(parent->anon_policy);
	mm->tlb_policy = READ_ONCE(parent->tlb_policy);
	mm->model = READ_ONCE(parent->model);
	*childp = mm;
	return 0;
}

/*
 * The last user is gone: no fault or operation can run concurrently.  The
 * family's last space takes it off the list first: the background
 * reclaimer and the shrinker reach pages only through it, under its lock.
 * Another space of the family may be reclaiming our pages meanwhile: the
 * rmap and PTE locks make that safe, as for a munmap.
 */
void smm_mm_destroy(struct smm_mm *mm)
{
	unsigned int i;
	bool last;

	mutex_lock(&smm_mm_list_lock);
	list_del(&mm->mm_list);
	mutex_unlock(&smm_mm_list_lock);

	smm_uffd_mm_gone(mm);
	last = smm_mem_put(mm->mem);
	smm_unmap_all(mm);
	smm_pgd_free(mm);
	if (last)
		smm_mem_free(mm->mem);
	smm_count(mm, SHADOWMM_EV_MM_DESTROY);

	mutex_lock(&smm_mm_list_lock);
	for (i = 0; i < SHADOWMM_NR_COUNTERS; i++)
		smm_retired[i] += smm_events_sum(mm->events, i);
	smm_mms_live--;
	mutex_unlock(&smm_mm_list_lock);

	smm_tlb_mm_free(mm);
	free_percpu(mm->events);
	destroy_rwsem(&mm->mmap_lock);
	kfree(mm);
}

int smm_set_mode(struct smm_mm *mm, unsigned int mode)
{
	if (mode >= SHADOWMM_NR_MODES)
		return -EINVAL;
	/*
	 * Every writer runs all the protocols (sequence counts, VMA write
	 * locks, mm_lock_seq), whatever the mode, so faults that started in
	 * the old mode stay correct while new ones take the new path.
	 */
	WRITE_ONCE(mm->mode, mode);
	return 0;
}

unsigned int smm_get_mode(struct smm_mm *mm)
{
	return READ_ONCE(mm->mode);
}

/* ---- the write cycle ---- */

int smm_set_model(struct smm_mm *mm, __u64 mask)
{
	if (mask & ~SHADOWMM_MODEL_ALL)
		return -EINVAL;
	WRITE_ONCE(mm->model, mask);
	return 0;
}

/*
 * A thread that sleeps for the mmap lock in Linux leaves its CPU idle or
 * to another mm, lazily: flushes that free no table skip it (x86's
 * native_flush_tlb_multi()), and it catches up when it returns.  The
 * shadow CPU leaves the mask instead (TLB_LEAVE): its next access walks
 * again.  Who sleeps is the rwsem's rule: a reader always (readers do not
 * spin), a writer only when readers hold the lock; behind a writer it
 * spins while that writer runs, and stays, as does a thread that gets the
 * lock at once.  A write cycle is open (mm_seq odd) exactly while a
 * writer holds it; the check is a hint, as the rwsem's owner check is.
 * SHADOWMM_MODEL_TLB_WAITERS_STAY: every waiter stays.
 */
static void mmap_lock_wait(struct smm_mm *mm, bool writer)
{
	if (smm_model(mm, SHADOWMM_MODEL_TLB_WAITERS_STAY))
		return;
	if (writer && (raw_read_seqcount(&mm->mm_seq) & 1))
		return;
	smm_tlb_leave(mm);
}

void smm_mmap_read_lock(struct smm_mm *mm)
{
	if (down_read_trylock(&mm->mmap_lock))
		return;
	mmap_lock_wait(mm, false);
	down_read(&mm->mmap_lock);
}

void smm_mmap_write_lock(struct smm_mm *mm)
{
	if (!down_write_trylock(&mm->mmap_lock)) {
		mmap_lock_wait(mm, true);
		down_write(&mm->mmap_lock);
	}
	/* Odd, then smp_wmb(): pairs with the retry rmb in smm_fault_spf(). */
	raw_write_seqcount_begin(&mm->mm_seq);
}

/* FORK's child, under its parent's (dup_mmap()'s SINGLE_DEPTH_NESTING). */
void smm_mmap_write_lock_nested(struct smm_mm *mm)
{
	down_write_nested(&mm->mmap_lock, SINGLE_DEPTH_NESTING);
	/* Odd, then smp_wmb(): pairs with the retry rmb in smm_fault_spf(). */
	raw_write_seqcount_begin(&mm->mm_seq);
}

/*
 * Ends every VMA write section opened in this cycle, frees the VMAs the
 * cycle detached (their sequence stays odd: a speculative fault that still
 * holds one under RCU can never validate it) or, with @detached, hands
 * them to the caller, and unlocks all VMA write locks at once by moving
 * mm_lock_seq on, as vma_end_write_all() does.
 */
static void mmap_end_write_cycle(struct smm_mm *mm, struct list_head *detached)
{
	struct smm_vma *vma, *tmp;

	lockdep_assert_held_write(&mm->mmap_lock);
	list_for_each_entry_safe(vma, tmp, &mm->write_vmas, vm_wlist) {
		if (detached && READ_ONCE(vma->detached)) {
			list_move_tail(&vma->vm_wlist, detached);
			continue;
		}
		list_del(&vma->vm_wlist);
		/*
		 * Release (smp_wmb() before the even count): pairs with the
		 * smp_rmb() of read_seqcount_retry() in smm_fault_spf().
		 * READ_ONCE() although we wrote it: lockless readers check
		 * detached, and a plain re-read would make TSan forget our
		 * WRITE_ONCE() (it keeps one access per thread, the stronger),
		 * hiding a reader that checks it unordered (vma_seq_relaxed).
		 */
		if (READ_ONCE(vma->detached))
			smm_vma_free(vma);
		else
			raw_write_seqcount_end(&vma->vm_sequence);
	}
	smm_vt_end_write(mm);
	/*
	 * Release (in raw_write_seqcount_end()): pairs with the smp_rmb() of
	 * read_seqcount_retry() in smm_fault_spf(); an mmseq fault that sees
	 * the count even again sees the whole cycle.
	 */
	raw_write_seqcount_end(&mm->mm_seq);
	/*
	 * Release: pairs with the smp_load_acquire() after the trylock in
	 * vma_start_read(); a vmalock reader that sees the new mm_lock_seq
	 * also sees every VMA change of this cycle.  Unsigned: wraps.
	 */
	smp_store_release(&mm->mm_lock_seq, mm->mm_lock_seq + 1);
}

void smm_mmap_write_unlock(struct smm_mm *mm)
{
	mmap_end_write_cycle(mm, NULL);
	up_write(&mm->mmap_lock);
}

/*
 * mmap_write_downgrade(): ends the write cycle as smm_mmap_write_unlock()
 * does but keeps the lock for read, with no writer in between (a new VMA
 * in a range the caller still clears would lose its tables).  The VMAs
 * the cycle detached go to @detached: the caller still needs them (the
 * rmap) and frees them with smm_vma_free(), as munmap's remove_vma()
 * runs under the downgraded lock.
 */
void smm_mmap_write_downgrade(struct smm_mm *mm, struct list_head *detached)
{
	mmap_end_write_cycle(mm, detached);
	downgrade_write(&mm->mmap_lock);
}

/*
 * Opens @vma's write section for the rest of this cycle: waits out its
 * vmalock readers (down_write), marks it locked for this cycle so new ones
 * fail their trylock, and makes its sequence odd for spf.  Must come
 * before the first change of any field a fault reads.
 */
void smm_vma_start_write(struct smm_vma *vma)
{
	struct smm_mm *mm = vma->vm_mm;

	lockdep_assert_held_write(&mm->mmap_lock);
	if (vma->vm_lock_seq == mm->mm_lock_seq)
		return;
	/*
	 * down_write() waits out the readers that locked before us; the
	 * vm_lock_seq store is published by up_write() (release) to every
	 * later trylock (acquire) in vma_start_read(), which then backs off.
	 */
	down_write(&vma->vm_lock);
	WRITE_ONCE(vma->vm_lock_seq, mm->mm_lock_seq);
	up_write(&vma->vm_lock);
	/*
	 * smp_wmb() after the odd count: pairs with the smp_rmb() in
	 * read_seqcount_retry(); a speculative fault that reads any field
	 * changed from here on sees the count moved and aborts.
	 */
	raw_write_seqcount_begin(&vma->vm_sequence);
	list_add_tail(&vma->vm_wlist, &mm->write_vmas);
	smm_race_window(SMM_RW_WRITER_SECTION);
}

/*
 * Allocated before the mmap lock is taken (so an operation fails before
 * changing anything); the caller write-starts it before publishing it.
 */
struct smm_vma *smm_vma_alloc(struct smm_mm *mm)
{
	struct smm_vma *vma = kmem_cache_zalloc(smm_vma_cachep, GFP_KERNEL);

	if (!vma)
		return NULL;
	vma->vm_mm = mm;
	seqcount_init(&vma->vm_sequence);
	init_rwsem(&vma->vm_lock);
	vma->vm_lock_seq = READ_ONCE(mm->mm_lock_seq) - 1;
	INIT_LIST_HEAD(&vma->vm_list);
	INIT_LIST_HEAD(&vma->vm_wlist);
	INIT_LIST_HEAD(&vma->anon_vma_chain);
	smm_count(mm, SHADOWMM_EV_VMA_ALLOC);
	return vma;
}

static void smm_vma_free_rcu(struct rcu_head *head)
{
	struct smm_vma *vma = container_of(head, struct smm_vma, rcu);

	destroy_rwsem(&vma->vm_lock);
	kmem_cache_free(smm_vma_cachep, vma);
}

/* Lockless lookups may still hold @vma: free it after a grace period. */
void smm_vma_free(struct smm_vma *vma)
{
	smm_count(vma->vm_mm, SHADOWMM_EV_VMA_FREE);
	call_rcu(&vma->rcu, smm_vma_free_rcu);
}

/* ---- counters ---- */

unsigned long smm_events_sum(struct smm_events __percpu *events,
			     enum shadowmm_counter ev)
{
	unsigned long sum = 0;
	int cpu;

	for_each_possible_cpu(cpu)
		sum += READ_ONCE(per_cpu_ptr(events, cpu)->v[ev]);
	return sum;
}

/*
 * The gauges are alloc - free of counters summed at different moments.
 * An object is always counted allocated before it is counted freed, and
 * the two increments are ordered by whatever handed the object over (the
 * PTE lock, the mmap lock, RCU).  Summing the frees first and the allocs
 * after smp_rmb() therefore never finds more frees than allocs: a gauge
 * can be a little high under load, never below zero.  The rmb pairs with
 * the release-acquire chain between the two increments.
 */
static const enum shadowmm_counter smm_gauge_frees[] = {
	SHADOWMM_EV_PAGE_FREE, SHADOWMM_EV_PT_FREE, SHADOWMM_EV_VMA_FREE,
	SHADOWMM_EV_SWAP_SLOT_FREE, SHADOWMM_EV_ANON_VMA_FREE,
	SHADOWMM_EV_UFFD_WAIT_DONE,
};

bool smm_is_gauge_free(unsigned int ev)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(smm_gauge_frees); i++)
		if (ev == smm_gauge_frees[i])
			return true;
	return false;
}

void smm_events_add(struct smm_events __percpu *events, __u64 *c, bool frees)
{
	unsigned int i;

	for (i = 0; i < SHADOWMM_NR_COUNTERS; i++)
		if (smm_is_gauge_free(i) == frees)
			c[i] += smm_events_sum(events, i);
}

static void smm_stats_gauges(struct shadowmm_stats *st)
{
	const __u64 *c = st->counter;

	st->pages_live = c[SHADOWMM_EV_PAGE_ALLOC] - c[SHADOWMM_EV_PAGE_FREE];
	st->tables_live = c[SHADOWMM_EV_PT_ALLOC] - c[SHADOWMM_EV_PT_FREE];
	st->vmas_live = c[SHADOWMM_EV_VMA_ALLOC] - c[SHADOWMM_EV_VMA_FREE];
	st->nr_counters = SHADOWMM_NR_COUNTERS;
}

/*
 * A space's counters and its family's (struct smm_mem): in a family of
 * one, everything it did; after FORK the pages, slots and reclaim figures
 * are the family's.
 */
void smm_mm_stats(struct smm_mm *mm, struct shadowmm_stats *st)
{
	memset(st, 0, sizeof(*st));
	smm_events_add(mm->events, st->counter, true);
	smm_events_add(mm->mem->events, st->counter, true);
	/* Frees before allocs: pairs with the chain between the two counts. */
	smp_rmb();
	smm_events_add(mm->events, st->counter, false);
	smm_events_add(mm->mem->events, st->counter, false);
	smm_stats_gauges(st);
	st->mode = smm_get_mode(mm);
	st->mms_live = 1;
}

void smm_global_stats(struct shadowmm_stats *st)
{
	struct smm_mm *mm;
	unsigned int i;

	memset(st, 0, sizeof(*st));
	mutex_lock(&smm_mm_list_lock);
	for (i = 0; i < SHADOWMM_NR_COUNTERS; i++)
		st->counter[i] = smm_retired[i];
	list_for_each_entry(mm, &smm_mm_list, mm_list)
		smm_events_add(mm->events, st->counter, true);
	smm_mems_stats_add(st->counter, true);
	/* Frees before allocs: pairs with the chain between the two counts. */
	smp_rmb();
	list_for_each_entry(mm, &smm_mm_list, mm_list)
		smm_events_add(mm->events, st->counter, false);
	smm_mems_stats_add(st->counter, false);
	st->mms_live = smm_mms_live;
	mutex_unlock(&smm_mm_list_lock);
	smm_stats_gauges(st);
}
