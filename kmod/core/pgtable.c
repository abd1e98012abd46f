// SPDX-License-Identifier: GPL-2.0
/*
 * Shadow page tables: 4 levels (PGD, PUD, PMD, PTE) in the space's
 * geometry (geometry.c: 512 entries each, or 8192/512/512/32), each table
 * a block of its own size with a small descriptor holding its split PTE
 * lock.  Data pages, of the space's page size, are charged to the mm's
 * page budget.
 *
 * Tables are populated under mm->page_table_lock by whoever faults first
 * and unlinked only by smm_free_pgtables() under the mmap write lock, for
 * spans that no VMA covers any more; they are freed after an RCU grace
 * period, so a lockless walker (spf, present-page accesses) holding RCU
 * never touches freed memory.  Why locked walkers are safe without RCU: a
 * classic walker holds the mmap lock (excludes the unlink), a vmalock
 * walker holds a VMA that covers its address, and a span under a live VMA
 * is never unlinked.
 */
#include "smm.h"

static inline struct smm_pt __rcu **pt_slots(struct smm_pt *pt)
{
	return pt->table;
}

static inline unsigned long *pt_ptes(struct smm_pt *pt)
{
	return pt->table;
}

/* A table of @size bytes: entries x 8 of its level in the geometry. */
struct smm_pt *smm_pt_alloc(struct smm_mm *mm, unsigned int size)
{
	struct smm_pt *pt = kmem_cache_alloc(smm_pt_cachep, GFP_KERNEL);

	if (!pt)
		return NULL;
	pt->table = smm_alloc_table(size, GFP_KERNEL);
	if (!pt->table) {
		kmem_cache_free(smm_pt_cachep, pt);
		return NULL;
	}
	spin_lock_init(&pt->ptl);
	pt->nr_used = 0;
	pt->size = size;
	smm_count(mm, SHADOWMM_EV_PT_ALLOC);
	return pt;
}

static struct smm_pt *pt_alloc_level(struct smm_mm *mm, int level)
{
	return smm_pt_alloc(mm, smm_pt_entries(mm, level) *
				sizeof(unsigned long));
}

/* Never published, or unreachable by any walker (smm_gather_finish()). */
void smm_pt_free_now(struct smm_mm *mm, struct smm_pt *pt)
{
	smm_count(mm, SHADOWMM_EV_PT_FREE);
	smm_free_table(pt->table, pt->size);
	kmem_cache_free(smm_pt_cachep, pt);
}

static void pt_free_rcu(struct rcu_head *head)
{
	struct smm_pt *pt = container_of(head, struct smm_pt, rcu);

	smm_free_table(pt->table, pt->size);
	kmem_cache_free(smm_pt_cachep, pt);
}

/* Unlinked: lockless walkers may still hold it for a grace period. */
void smm_pt_free(struct smm_mm *mm, struct smm_pt *pt)
{
	smm_count(mm, SHADOWMM_EV_PT_FREE);
	call_rcu(&pt->rcu, pt_free_rcu);
}

int smm_pgd_alloc(struct smm_mm *mm)
{
	struct smm_pt *pgd = pt_alloc_level(mm, 0);

	if (!pgd)
		return -ENOMEM;
	RCU_INIT_POINTER(mm->pgd, pgd);
	return 0;
}

/* Teardown, after smm_unmap_all() emptied it. */
void smm_pgd_free(struct smm_mm *mm)
{
	struct smm_pt *pgd = smm_mm_pgd(mm);

	WARN_ON(pgd->nr_used);
	smm_pt_free(mm, pgd);
	RCU_INIT_POINTER(mm->pgd, NULL);
}

unsigned long smm_prot_to_pte(unsigned long prot)
{
	unsigned long pte = SMM_PTE_PRESENT;

	if (prot & SHADOWMM_PROT_READ)
		pte |= SMM_PTE_READ;
	if (prot & SHADOWMM_PROT_WRITE)
		pte |= SMM_PTE_READ | SMM_PTE_WRITE;
	return pte;
}

/* The PTE table for @addr, or NULL if a level is missing.  Allocates none. */
struct smm_pt *smm_pt_walk(struct smm_mm *mm, unsigned long addr)
{
	struct smm_pt *pt = smm_mm_pgd(mm);
	int level;

	/* NULL while smm_set_geometry() replaces the PGD. */
	for (level = 0; level < SMM_PT_LEVELS - 1 && pt; level++) {
		unsigned long i = smm_pt_index(mm, addr, level);

		pt = rcu_dereference_raw(pt_slots(pt)[i]);
	}
	return pt;
}

/* The PTE table for @addr, populating missing levels; NULL on -ENOMEM. */
struct smm_pt *smm_pt_walk_alloc(struct smm_mm *mm, unsigned long addr)
{
	spinlock_t *pt_lock = &mm->page_table_lock;
	struct smm_pt *pt = smm_mm_pgd(mm);
	int level;

	for (level = 0; level < SMM_PT_LEVELS - 1; level++) {
		struct smm_pt __rcu **slot =
			&pt_slots(pt)[smm_pt_index(mm, addr, level)];
		struct smm_pt *next = rcu_dereference_raw(*slot);

		if (!next) {
			struct smm_pt *new = pt_alloc_level(mm, level + 1);

			if (!new)
				return NULL;
			/* Another faulter may have populated it meanwhile. */
			spin_lock(pt_lock);
			next = rcu_dereference_protected(*slot,
							 lockdep_is_held(pt_lock));
			if (!next) {
				/*
				 * Release: the zeroed table and its lock are
				 * initialised before a lockless walker's
				 * rcu_dereference() in smm_pt_walk() finds it.
				 */
				rcu_assign_pointer(*slot, new);
				pt->nr_used++;
				next = new;
				new = NULL;
			}
			spin_unlock(pt_lock);
			if (new)
				smm_pt_free_now(mm, new);
		}
		pt = next;
	}
	return pt;
}

typedef void (*smm_pte_table_fn)(struct smm_mm *mm, struct smm_pt *pt,
				 unsigned long start, unsigned long end,
				 unsigned long arg);

/*
 * Calls @fn for every PTE table under [start, end) that exists, with the
 * part of the range it covers.  Skips missing subtrees whole, so a sparse
 * 128 TiB range costs what is populated.
 */
static void pt_walk_pte_tables(struct smm_mm *mm, struct smm_pt *pt,
			       int level, unsigned long start,
			       unsigned long end, smm_pte_table_fn fn,
			       unsigned long arg)
{
	unsigned long addr = start;

	while (addr < end) {
		unsigned long span = smm_pt_span(mm, level);
		unsigned long next = (addr & ~(span - 1)) + span;
		struct smm_pt __rcu **slot =
			&pt_slots(pt)[smm_pt_index(mm, addr, level)];
		struct smm_pt *child = rcu_dereference_raw(*slot);

		if (next > end)
			next = end;
		if (child) {
			if (level == SMM_PT_LEVELS - 2)
				fn(mm, child, addr, next, arg);
			else
				pt_walk_pte_tables(mm, child, level + 1,
						   addr, next, fn, arg);
		}
		addr = next;
	}
}

static void zap_pte_table(struct smm_mm *mm, struct smm_pt *pt,
			  unsigned long start, unsigned long end,
			  unsigned long arg)
{
	struct smm_gather *g = (struct smm_gather *)arg;
	unsigned long *ptes = pt_ptes(pt);
	unsigned long addr, size = smm_page_size(mm);
	bool force_flush;

again:
	force_flush = false;
	spin_lock(&pt->ptl);
	for (addr = start; addr < end && !force_flush; addr += size) {
		unsigned long i = smm_pt_index(mm, addr, SMM_PT_LEVELS - 1);
		unsigned long pte = ptes[i];

		if (!pte)
			continue;
		/*
		 * Without a TLB, accesses take the PTE lock to touch the
		 * page, so once the entry is clear under it nobody can reach
		 * the page; with one, the gather frees it only after the
		 * shootdown.  Reclaim holds its own reference.
		 */
		WRITE_ONCE(ptes[i], 0);
		WRITE_ONCE(pt->nr_used, pt->nr_used - 1);
		if (smm_pte_is_swap(pte)) {
			smm_swap_entry_free(mm->mem, pte >> SMM_PTE_SWAP_SHIFT);
		} else {
			struct smm_page *page = smm_pte_to_page(pte);

			atomic_long_dec(&page->mapcount);
			smm_gather_range(g, addr, addr + size);
			force_flush = smm_gather_page(g, page);
		}
	}
	/*
	 * A full batch is flushed here, under the PTE lock, as the kernel's
	 * zap_pte_range() does: a CPU spinning on this lock with interrupts
	 * off would never take our IPI (the speculative fault's trylock).
	 */
	if (force_flush)
		smm_gather_flush(g);
	spin_unlock(&pt->ptl);
	if (force_flush) {
		smm_gather_free_pages(g);
		if (addr < end) {
			start = addr;
			goto again;
		}
	}
	cond_resched();
}

/*
 * A writer that opened its section (vma->vm_sequence or mm->mm_seq made
 * odd) and is about to walk the upper levels without a lock, to find the
 * PTE tables it must zap or re-protect, first takes and drops
 * page_table_lock, under which every table is populated.
 *
 * Without it the writer's store to the sequence and its load of an upper
 * slot may reorder (store buffering, allowed even on x86) against a
 * vmalock fault populating a new table in the same span for a
 * neighbouring VMA: the writer reads the slot empty and skips the table,
 * while a speculative fault on the writer's VMA reads the new table and
 * then the old, even sequence, and installs a page (or a writable PTE)
 * the writer never sees.
 *
 * With it, either the populator's critical section comes first, and the
 * unlock -> lock pair makes the writer's walk see the new slot; or the
 * writer's comes first, and the chain "sequence store, unlock (release)
 * -> populator's lock (acquire), rcu_assign_pointer() of the slot
 * (release)" puts the odd sequence before the slot: a speculative fault
 * that reads the slot (rcu_dereference) and then re-checks its sequence
 * after smp_rmb() (read_seqcount_retry()) sees it odd and aborts.
 */
void smm_pt_sync_populators(struct smm_mm *mm)
{
	spin_lock(&mm->page_table_lock);
	spin_unlock(&mm->page_table_lock);
}

/*
 * Clears [start, end), its pages gathered in @g to be freed after the
 * shootdown (smm_gather_finish()).  Callers hold the mmap lock (read for
 * MADV_DONTNEED, write for unmap); concurrent faults may refill it.
 */
void smm_zap_range(struct smm_gather *g, unsigned long start,
		   unsigned long end)
{
	struct smm_mm *mm = g->mm;

	lockdep_assert_held(&mm->mmap_lock);
	smm_pt_sync_populators(mm);
	pt_walk_pte_tables(mm, smm_mm_pgd(mm), 0, start, end, zap_pte_table,
			   (unsigned long)g);
}

struct change_prot {
	unsigned long bits;
	struct smm_gather g;	/* the range that lost rights */
};

static void change_pte_table(struct smm_mm *mm, struct smm_pt *pt,
			     unsigned long start, unsigned long end,
			     unsigned long arg)
{
	struct change_prot *cp = (struct change_prot *)arg;
	unsigned long *ptes = pt_ptes(pt);
	unsigned long addr, size = smm_page_size(mm);

	spin_lock(&pt->ptl);
	for (addr = start; addr < end; addr += size) {
		unsigned long i = smm_pt_index(mm, addr, SMM_PT_LEVELS - 1);
		unsigned long pte = ptes[i];

		unsigned long want = cp->bits;

		/* A swap entry takes the VMA's protection at swap-in. */
		if (!smm_pte_present(pte))
			continue;
		/*
		 * A page shared with a fork relative (or pinned) stays
		 * read-only: a write must copy it (cow.c), as the kernel's
		 * can_change_pte_writable() keeps non-exclusive pages.
		 */
		if ((want & SMM_PTE_WRITE) &&
		    smm_cow_needs_page(pte))
			want &= ~SMM_PTE_WRITE;
		WRITE_ONCE(ptes[i], (pte & ~SMM_PTE_PROT) | want);
		/* Fewer rights: a TLB may still grant the old ones. */
		if (pte & ~want & (SMM_PTE_READ | SMM_PTE_WRITE))
			smm_gather_range(&cp->g, addr, addr + size);
	}
	spin_unlock(&pt->ptl);
	cond_resched();
}

/*
 * Sets the permission bits of every present page of [start, end), and
 * shoots down what lost rights before returning, as change_protection()
 * flushes after its walk (more rights need no flush: the access that
 * finds too few in its TLB walks again).
 */
void smm_change_prot_range(struct smm_mm *mm, unsigned long start,
			   unsigned long end, unsigned long prot)
{
	struct change_prot cp = { .bits = smm_prot_to_pte(prot) };

	lockdep_assert_held_write(&mm->mmap_lock);
	smm_gather_init(&cp.g, mm);
	smm_pt_sync_populators(mm);
	pt_walk_pte_tables(mm, smm_mm_pgd(mm), 0, start, end, change_pte_table,
			   (unsigned long)&cp);
	smm_gather_finish(&cp.g);
}

/* An unlinked subtree: nothing maps under it any more. */
static void pt_free_subtree(struct smm_gather *g, struct smm_pt *pt,
			    int level)
{
	struct smm_mm *mm = g->mm;
	unsigned long i, entries = smm_pt_entries(mm, level);

	if (level == SMM_PT_LEVELS - 1) {
		/* Zapped before unlinking: a page here would be a leak. */
		if (WARN_ON(pt->nr_used)) {
			unsigned long *ptes = pt_ptes(pt);

			for (i = 0; i < entries; i++) {
				if (smm_pte_present(ptes[i])) {
					struct smm_page *page =
						smm_pte_to_page(ptes[i]);

					atomic_long_dec(&page->mapcount);
					smm_put_page(mm->mem, page);
				} else if (smm_pte_is_swap(ptes[i])) {
					smm_swap_entry_free(mm->mem, ptes[i] >>
							    SMM_PTE_SWAP_SHIFT);
				}
			}
		}
	} else {
		for (i = 0; i < entries; i++) {
			struct smm_pt *child =
				rcu_dereference_raw(pt_slots(pt)[i]);

			if (child)
				pt_free_subtree(g, child, level + 1);
		}
	}
	smm_gather_table(g, pt);
}

static void pt_free_range(struct smm_gather *g, struct smm_pt *pt, int level,
			  unsigned long start, unsigned long end,
			  unsigned long floor, unsigned long ceiling)
{
	struct smm_mm *mm = g->mm;
	unsigned long addr = start;

	while (addr < end) {
		unsigned long span = smm_pt_span(mm, level);
		unsigned long base = addr & ~(span - 1);
		unsigned long next = base + span;
		struct smm_pt __rcu **slot =
			&pt_slots(pt)[smm_pt_index(mm, addr, level)];
		struct smm_pt *child = rcu_dereference_raw(*slot);

		if (child && base >= floor && next <= ceiling) {
			/*
			 * Concurrent vmalock faults populate siblings.  A
			 * NULL needs no release; lockless walkers that still
			 * reach the old table are kept safe by the grace
			 * period or the IPI round of smm_gather_table().
			 */
			spin_lock(&mm->page_table_lock);
			RCU_INIT_POINTER(*slot, NULL);
			pt->nr_used--;
			spin_unlock(&mm->page_table_lock);
			pt_free_subtree(g, child, level + 1);
		} else if (child && level < SMM_PT_LEVELS - 2) {
			pt_free_range(g, child, level + 1, addr,
				      min(next, end), floor, ceiling);
		}
		addr = next;
	}
}

/*
 * Frees the tables under [start, end) whose whole span lies inside
 * [floor, ceiling), the hole around an unmapped range that no VMA covers,
 * like the kernel's free_pgd_range().  Tables shared with a neighbouring
 * VMA stay.  Caller zapped the range and holds the mmap lock, for write
 * or downgraded after detaching the hole's VMAs: no fault walks into the
 * hole and no writer maps into it until the caller unlocks.
 */
void smm_free_pgtables(struct smm_gather *g, unsigned long start,
		       unsigned long end, unsigned long floor,
		       unsigned long ceiling)
{
	lockdep_assert_held(&g->mm->mmap_lock);
	pt_free_range(g, smm_mm_pgd(g->mm), 0, start, end, floor, ceiling);
}

/* ---- validation ---- */

struct pt_check {
	unsigned long tables;
	unsigned long pages;
	unsigned long swapped;
	int ret;
	char *why;
	unsigned long len;
};

static void pt_check_table(struct smm_mm *mm, struct smm_pt *pt, int level,
			   unsigned long base, struct pt_check *c)
{
	unsigned long i, entries = smm_pt_entries(mm, level);
	unsigned int used = 0;

	c->tables++;
	if (pt->size != entries * sizeof(unsigned long)) {
		snprintf(c->why, c->len,
			 "pt: table at %#lx level %d is %u bytes, not %lu",
			 base, level, pt->size, entries * sizeof(unsigned long));
		c->ret = -EUCLEAN;
	}
	for (i = 0; i < entries && !c->ret; i++) {
		unsigned long addr = base + (i << smm_pt_shift(mm, level));

		if (level == SMM_PT_LEVELS - 1) {
			unsigned long pte = pt_ptes(pt)[i];
			struct smm_vma *vma;

			if (!pte)
				continue;
			used++;
			vma = smm_find_vma(mm, addr);
			if (!vma || addr < vma->vm_start) {
				snprintf(c->why, c->len,
					 "pt: %s at %#lx outside any VMA",
					 smm_pte_is_swap(pte) ? "swap entry" :
					 "page", addr);
				c->ret = -EUCLEAN;
			} else if (smm_pte_is_swap(pte)) {
				unsigned long slot = pte >> SMM_PTE_SWAP_SHIFT;

				c->swapped++;
				if (smm_pte_present(pte) || !vma->anon_vma ||
				    !smm_swap_check_pte(mm->mem, slot)) {
					snprintf(c->why, c->len,
						 "pt: bad swap entry %#lx at %#lx",
						 pte, addr);
					c->ret = -EUCLEAN;
				}
			} else if (!smm_pte_present(pte) ||
				   smm_page_offset(mm, (unsigned long)
						   smm_pte_to_page(pte)->virt)) {
				snprintf(c->why, c->len,
					 "pt: page at %#lx not aligned to its size",
					 addr);
				c->ret = -EUCLEAN;
			} else if ((pte & SMM_PTE_PROT) !=
				   smm_prot_to_pte(vma->vm_prot) &&
				   (pte & SMM_PTE_PROT) !=
				   (smm_prot_to_pte(vma->vm_prot) &
				    ~SMM_PTE_WRITE)) {
				/* (Read-only in a writable VMA: COW.) */
				snprintf(c->why, c->len,
					 "pt: pte bits %#lx at %#lx, VMA prot %lu",
					 pte & SMM_PTE_FLAGS, addr,
					 vma->vm_prot);
				c->ret = -EUCLEAN;
			} else {
				c->pages++;
				c->ret = smm_rmap_validate_page
					(mm, vma, addr, smm_pte_to_page(pte),
					 c->why, c->len);
			}
		} else {
			struct smm_pt *child =
				rcu_dereference_raw(pt_slots(pt)[i]);

			if (!child)
				continue;
			used++;
			pt_check_table(mm, child, level + 1, addr, c);
		}
	}
	if (!c->ret && used != pt->nr_used) {
		snprintf(c->why, c->len,
			 "pt: table at %#lx level %d has %u entries, nr_used %u",
			 base, level, used, pt->nr_used);
		c->ret = -EUCLEAN;
	}
}

/* Caller holds the mmap lock for write: no fault runs. */
int smm_pt_validate(struct smm_mm *mm, char *why, unsigned long len)
{
	struct pt_check c = { .why = why, .len = len };
	unsigned long pages, tables, lru, cached = 0;
	int ret;

	lockdep_assert_held_write(&mm->mmap_lock);
	lockdep_assert_held(&mm->mem->reclaim_lock);
	smm_swap_check_begin(mm->mem);
	pt_check_table(mm, smm_mm_pgd(mm), 0, 0, &c);
	ret = c.ret;
	if (ret)
		return ret;
	tables = smm_events_sum(mm->events, SHADOWMM_EV_PT_ALLOC) -
		 smm_events_sum(mm->events, SHADOWMM_EV_PT_FREE);
	if (c.tables != tables) {
		snprintf(why, len, "pt: walk found %lu tables, counters say %lu",
			 c.tables, tables);
		return -EUCLEAN;
	}
	/*
	 * The family's totals (slots, LRU, pages) are this space's only if
	 * it is alone; otherwise each page's mapcount was checked against
	 * every space that maps it, through the rmap.
	 */
	if (smm_mem_shared(mm->mem))
		return 0;
	ret = smm_swap_validate(mm->mem, &cached, why, len);
	if (ret)
		return ret;
	lru = READ_ONCE(mm->mem->nr_lru);
	if (lru != c.pages) {
		snprintf(why, len, "lru: %lu pages on it, %lu mapped", lru,
			 c.pages);
		return -EUCLEAN;
	}
	pages = smm_events_sum(mm->mem->events, SHADOWMM_EV_PAGE_ALLOC) -
		smm_events_sum(mm->mem->events, SHADOWMM_EV_PAGE_FREE);
	if (c.pages + cached != pages) {
		snprintf(why, len,
			 "pt: walk found %lu pages (%lu in the swap cache), counters say %lu",
			 c.pages, cached, pages);
		return -EUCLEAN;
	}
	if (READ_ONCE(mm->mem->max_pages) &&
	    atomic_long_read(&mm->mem->nr_pages) != (long)pages) {
		snprintf(why, len, "pt: %lu pages charged, %lu present",
			 atomic_long_read(&mm->mem->nr_pages), pages);
		return -EUCLEAN;
	}
	return 0;
}

/* Teardown of everything, pgd entries included (pgd itself: pgd_free). */
void smm_free_all_pgtables(struct smm_gather *g)
{
	unsigned long span = smm_pt_entries(g->mm, 0) <<
			     smm_pt_shift(g->mm, 0);

	pt_free_range(g, smm_mm_pgd(g->mm), 0, 0, span, 0, span);
}
