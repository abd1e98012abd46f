// SPDX-License-Identifier: GPL-2.0
/*
 * Reclaim: a clock over each family's resident pages (struct smm_mem).
 * New pages enter at the tail with their PTE young; the reclaimer takes
 * pages from the head,
 * tests and clears the young bits of every PTE mapping one (through the
 * rmap, as folio_referenced() does), gives a referenced page a second
 * chance at the tail, and swaps out the others: into the swap cache,
 * every PTE turned into a swap entry under its lock (try_to_unmap()),
 * the data written to the slot, the page freed.
 *
 * Three callers, as in the kernel: a fault that finds the budget full
 * (direct reclaim), the background thread when a space reaches its high
 * watermark (kswapd), and the host's memory pressure (the module's
 * shrinker); and RECLAIM on demand.  One reclaimer per family at a time
 * (mem->reclaim_lock), so RECLAIM's counts are its own.
 */
#include "smm.h"

#define SMM_SWAP_CLUSTER	32	/* SWAP_CLUSTER_MAX */

struct reclaim_range {
	struct smm_mm *mm;	/* NULL: every space of the family */
	unsigned long start, end;
};

static unsigned long page_in_range_one(struct smm_page *page,
				       struct smm_vma *vma,
				       unsigned long addr, void *arg)
{
	struct reclaim_range *r = arg;

	return vma->vm_mm == r->mm && addr >= r->start && addr < r->end;
}

/* Tests and clears the accessed bit of a PTE mapping @page. */
static unsigned long pte_test_clear_young(struct smm_mm *mm,
					  struct smm_page *page,
					  unsigned long *ptep, void *arg)
{
	if (!(*ptep & SMM_PTE_YOUNG))
		return 0;
	WRITE_ONCE(*ptep, *ptep & ~SMM_PTE_YOUNG);
	return 1;
}

static unsigned long page_referenced_one(struct smm_page *page,
					 struct smm_vma *vma,
					 unsigned long addr, void *arg)
{
	return smm_page_pte_call(page, vma, addr, pte_test_clear_young, NULL);
}

/*
 * Replaces a PTE mapping @page by its swap entry.  An access that raced
 * in under the lock before us is simply undone: its data is in the page,
 * which is what gets written out.  The mapping's reference goes; the
 * isolation's keeps the page.
 */
static unsigned long pte_unmap_to_swap(struct smm_mm *mm,
				       struct smm_page *page,
				       unsigned long *ptep, void *arg)
{
	unsigned long addr = *(unsigned long *)arg;

	smm_swap_entry_dup(mm->mem, page);
	WRITE_ONCE(*ptep, smm_swap_entry(page));
	/*
	 * ptep_clear_flush(): under the PTE lock, before the page is
	 * written out, so no store through a TLB misses the copy.
	 */
	smm_tlb_flush_range(mm, addr, addr + smm_page_size(mm));
	atomic_long_dec(&page->mapcount);
	smm_put_page(mm->mem, page);
	return 1;
}

static unsigned long try_to_unmap_one(struct smm_page *page,
				      struct smm_vma *vma,
				      unsigned long addr, void *arg)
{
	return smm_page_pte_call(page, vma, addr, pte_unmap_to_swap, &addr);
}

/* Takes the head of the clock off the LRU with a reference, or NULL. */
static struct smm_page *isolate_head(struct smm_mem *mem)
{
	struct smm_page *page = NULL;

	spin_lock(&mem->lru_lock);
	while (!list_empty(&mem->lru)) {
		struct smm_page *p = list_first_entry(&mem->lru,
						      struct smm_page, lru);

		list_del(&p->lru);
		p->on_lru = false;
		WRITE_ONCE(mem->nr_lru, mem->nr_lru - 1);
		/* Zero: its last put is freeing it, and will skip the LRU. */
		if (atomic_long_inc_not_zero(&p->refcount)) {
			page = p;
			break;
		}
	}
	spin_unlock(&mem->lru_lock);
	return page;
}

/* Back at the tail if still mapped; drops the isolation reference. */
static void putback(struct smm_mem *mem, struct smm_page *page)
{
	if (atomic_long_read(&page->mapcount))
		smm_lru_add(mem, page);
	smm_put_page(mem, page);
}

/*
 * Reclaims up to @nr pages of @mem (those @mm maps in [start, end) if
 * @mm is set); returns how many, or -ENOSPC if the swap store was full before the first.  Two
 * turns of the clock at most, so every page gets its second chance once.
 * @scanned: pages looked at.  mem->reclaim_lock held.
 */
static long shrink_space(struct smm_mem *mem, struct smm_mm *mm,
			 unsigned long nr, unsigned long start,
			 unsigned long end, unsigned long *scanned)
{
	struct reclaim_range range = { mm, start, end };
	bool whole = !mm;
	unsigned long budget, done = 0;
	int ret = 0;

	lockdep_assert_held(&mem->reclaim_lock);
	if (!READ_ONCE(mem->swap_slots))
		return -ENOSPC;
	spin_lock(&mem->lru_lock);
	budget = 2 * mem->nr_lru;
	spin_unlock(&mem->lru_lock);
	while (done < nr && budget--) {
		struct smm_page *page = isolate_head(mem);

		if (!page)
			break;
		(*scanned)++;
		smm_mem_count(mem, SHADOWMM_EV_PGSCAN);
		if (!whole && !smm_rmap_walk(page, page_in_range_one, &range)) {
			putback(mem, page);
			continue;
		}
		if (smm_rmap_walk(page, page_referenced_one, NULL)) {
			smm_mem_count(mem, SHADOWMM_EV_PGACTIVATE);
			putback(mem, page);
			continue;
		}
		/*
		 * Still in a swap cache, some PTEs swap entries already
		 * (shared after fork): the swap-ins will take it from there.
		 */
		if (READ_ONCE(page->swap_slot) >= 0) {
			putback(mem, page);
			continue;
		}
		ret = smm_swap_out_begin(mem, page);
		if (ret) {
			putback(mem, page);
			/* No memory for the copy: a later round may have. */
			if (ret == -ENOMEM)
				ret = 0;
			break;
		}
		smm_rmap_walk(page, try_to_unmap_one, NULL);
		if (smm_swap_out_end(mem, page) &&
		    !atomic_long_read(&page->mapcount)) {
			smm_mem_count(mem, SHADOWMM_EV_PGSTEAL);
			done++;
		}
		putback(mem, page);
		cond_resched();
	}
	return done ? done : ret;
}

long smm_reclaim(struct smm_mem *mem, struct smm_mm *mm, unsigned long nr,
		 unsigned long start, unsigned long end,
		 unsigned long *scanned)
{
	long ret;

	mutex_lock(&mem->reclaim_lock);
	ret = shrink_space(mem, mm, nr, start, end, scanned);
	mutex_unlock(&mem->reclaim_lock);
	return ret;
}

/*
 * A fault found the budget full: reclaim a cluster.  Called with the
 * mmap or a VMA read lock held, never a spinlock; the rmap takes anon_vma
 * locks, which writers never hold while waiting for a VMA lock.
 */
void smm_reclaim_direct(struct smm_mem *mem)
{
	unsigned long scanned = 0;

	if (!READ_ONCE(mem->swap_slots))
		return;
	smm_mem_count(mem, SHADOWMM_EV_RECLAIM_DIRECT);
	/* The caller retries its charge whatever this freed. */
	smm_reclaim(mem, NULL, SMM_SWAP_CLUSTER, 0, SMM_TASK_SIZE, &scanned);
}

/* RECLAIM: @cmd validated by the dispatcher. */
int smm_exec_reclaim(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	unsigned long start = cmd->addr, end = cmd->addr + cmd->len;
	unsigned long scanned = 0;
	long ret;

	if (!cmd->len) {
		start = 0;
		end = SMM_TASK_SIZE;
	}
	/*
	 * Pages this space maps there; a space alone in its family need not
	 * ask the rmap about the whole space.
	 */
	ret = smm_reclaim(mm->mem,
			  cmd->len || smm_mem_shared(mm->mem) ? mm : NULL,
			  cmd->value ? cmd->value : ULONG_MAX, start, end,
			  &scanned);
	cmd->out_len = scanned;
	cmd->out_value = ret > 0 ? ret : 0;
	return ret < 0 ? ret : 0;
}

/* ---- the background reclaimer ---- */

void smm_wake_reclaimer(struct smm_mem *mem)
{
	if (READ_ONCE(mem->swap_slots) && !READ_ONCE(mem->reclaim_wanted)) {
		WRITE_ONCE(mem->reclaim_wanted, true);
		smm_host_reclaimer_wake();
	}
}

/* Brings @mem down to its low watermark, a cluster at a time. */
void smm_balance_space(struct smm_mem *mem, enum shadowmm_counter ev)
{
	unsigned long low = smm_wmark_low(mem), scanned = 0;

	WRITE_ONCE(mem->reclaim_wanted, false);
	if (!READ_ONCE(mem->swap_slots) ||
	    (unsigned long)atomic_long_read(&mem->nr_pages) < smm_wmark_high(mem))
		return;
	smm_mem_count(mem, ev);
	mutex_lock(&mem->reclaim_lock);
	while ((unsigned long)atomic_long_read(&mem->nr_pages) > low &&
	       shrink_space(mem, NULL, SMM_SWAP_CLUSTER, 0, SMM_TASK_SIZE,
			    &scanned) > 0)
		;
	mutex_unlock(&mem->reclaim_lock);
}

/* Pages of @mem the shrinker could take: resident, with swap to go to. */
unsigned long smm_space_reclaimable(struct smm_mem *mem)
{
	return READ_ONCE(mem->swap_slots) ? READ_ONCE(mem->nr_lru) : 0;
}

/*
 * The host's memory pressure asks for up to @nr pages: from each space
 * in turn, skipping any whose reclaimer is busy (a shrinker must not wait
 * for a lock a reclaiming thread may hold while it allocates).
 */
long smm_shrink_space(struct smm_mem *mem, unsigned long nr)
{
	unsigned long scanned = 0;
	long ret;

	if (!smm_space_reclaimable(mem) || !mutex_trylock(&mem->reclaim_lock))
		return 0;
	smm_mem_count(mem, SHADOWMM_EV_RECLAIM_SHRINKER);
	ret = shrink_space(mem, NULL, nr, 0, SMM_TASK_SIZE, &scanned);
	mutex_unlock(&mem->reclaim_lock);
	return ret > 0 ? ret : 0;
}
