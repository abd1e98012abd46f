// SPDX-License-Identifier: GPL-2.0
/*
 * The shadow MMU: a TLB per CPU, and the shootdowns that keep it honest.
 *
 * An access runs with interrupts off, as an instruction runs on a CPU: it
 * looks the page up in this CPU's TLB and, on a miss, walks the tables
 * without a lock, fills an entry and touches the page.  No lock orders it
 * against a zap; the shootdown does.  Every change that removes or
 * downgrades a translation (unmap, zap, protect to fewer rights, reclaim,
 * a COW copy, FORK's write protection) changes the PTEs, then shoots the
 * range down on every CPU that may cache the space's entries, waiting for
 * each, and only then frees what the old translations pointed to.  A CPU
 * takes the IPI only outside its interrupts-off section, so once the
 * shootdown returns no access through an old entry is in flight and none
 * can start.
 *
 * Operations gather what they remove as the kernel's mmu_gather does:
 * the range to flush, the pages to free after the flush (at most
 * SMM_GATHER_BATCH, then the flush comes early, under the PTE lock, as
 * the kernel's force_flush) and, with tlb_policy ipi, the page tables
 * to free after it.  Up to SMM_TLB_FLUSH_CEILING pages are flushed one
 * by one on each CPU; more move the space's generation, which kills all
 * of its entries at once (x86's tlb_single_page_flush_ceiling and
 * TLB_FLUSH_ALL).
 *
 * Entries are tagged with the space's id, never reused, so a space that
 * is gone leaves nothing a new one could hit.  A hit does not set the
 * accessed bit (nor does a real TLB); a fill sets it under the PTE lock,
 * taken by trylock since interrupts are off, and skips it if the lock is
 * busy.  Clearing it (reclaim's clock) flushes nothing, as on x86.
 */
#include "smm.h"

static atomic_long_t smm_tlb_next_asid = ATOMIC_LONG_INIT(0);

static const char *const smm_tlb_policy_names[] = {
	[SHADOWMM_TLB_NONE] = "none",
	[SHADOWMM_TLB_RCU] = "rcu",
	[SHADOWMM_TLB_IPI] = "ipi",
};

const char *smm_tlb_policy_name(unsigned int p)
{
	return p < SHADOWMM_NR_TLB_POLICIES ? smm_tlb_policy_names[p] : NULL;
}

int smm_tlb_policy_parse(const char *name)
{
	return smm_name_index(smm_tlb_policy_names, SHADOWMM_NR_TLB_POLICIES,
			      name);
}

int smm_tlb_mm_init(struct smm_mm *mm, unsigned int policy)
{
	if (policy >= SHADOWMM_NR_TLB_POLICIES ||
	    (policy == SHADOWMM_TLB_IPI && !smm_host_irqoff_faults()))
		policy = SHADOWMM_TLB_RCU;
	mm->tlb_cpus = bitmap_zalloc(smm_host_nr_cpus(), GFP_KERNEL);
	if (!mm->tlb_cpus)
		return -ENOMEM;
	mm->tlb_policy = policy;
	mm->tlb_asid = atomic_long_inc_return(&smm_tlb_next_asid);
	atomic_long_set(&mm->tlb_gen, 0);
	return 0;
}

void smm_tlb_mm_free(struct smm_mm *mm)
{
	bitmap_free(mm->tlb_cpus);
}

/*
 * Only without VMAs: then the space has no present PTE, so no TLB entry
 * can be live, no operation holds a gather, and no table waits to be
 * freed under the old policy.
 */
int smm_set_tlb_policy(struct smm_mm *mm, unsigned int policy)
{
	int ret = 0;

	if (policy >= SHADOWMM_NR_TLB_POLICIES)
		return -EINVAL;
	if (policy == SHADOWMM_TLB_IPI && !smm_host_irqoff_faults())
		return -EOPNOTSUPP;
	smm_mmap_write_lock(mm);
	if (mm->nr_vmas)
		ret = -EBUSY;
	else
		WRITE_ONCE(mm->tlb_policy, policy);
	smm_mmap_write_unlock(mm);
	return ret;
}

unsigned int smm_get_tlb_policy(struct smm_mm *mm)
{
	return READ_ONCE(mm->tlb_policy);
}

void smm_set_tlb_check(struct smm_mm *mm, bool on)
{
	WRITE_ONCE(mm->tlb_check, on);
}

/* ---- the access ---- */

/*
 * Interrupts off.  A CPU enters the mask before its first walk of the
 * space; the full barrier orders the bit before the walk's PTE loads and
 * pairs with the one a shootdown has between its PTE stores and its read
 * of the mask (store buffering: each side stores, then loads the other's
 * location).  Once set, the bit stays until this CPU leaves the space
 * (smm_tlb_leave()): this CPU's earlier barrier already ordered it.
 */
static void mmu_enter(struct smm_mm *mm, unsigned int cpu)
{
	if (test_bit(cpu, mm->tlb_cpus))
		return;
	set_bit(cpu, mm->tlb_cpus);
	/* Pairs with the full barrier in tlb_shootdown(): see above. */
	smp_mb();
}

/*
 * Interrupts off on a CPU of @mm's mask, for a walk that an IPI round
 * must wait for (the speculative fault's with tlb_policy ipi).
 */
unsigned long smm_mmu_irq_enter(struct smm_mm *mm)
{
	unsigned long flags = smm_host_irq_save();
	unsigned int cpu;

	smm_host_this_tlb(&cpu);
	mmu_enter(mm, cpu);
	return flags;
}

/* This CPU's entries of @asid, all of them. */
static void tlb_drop_asid(struct smm_tlb *tlb, u64 asid)
{
	unsigned int s, w;

	for (s = 0; s < SMM_TLB_SETS; s++)
		for (w = 0; w < SMM_TLB_WAYS; w++)
			if (tlb->set[s][w].asid == asid)
				tlb->set[s][w].asid = 0;
}

/*
 * This CPU stops running @mm, as when it switches to another mm: x86's
 * switch_mm_irqs_off() clears the old mm's bit in mm_cpumask, so flushes
 * stop interrupting the CPU, and on the way back compares the mm's
 * tlb_gen to flush what it missed.  Here the CPU drops every entry of the
 * space before it clears its bit, both with interrupts off, so that a
 * shootdown that reads the bit clear has nothing left to flush on this
 * CPU (a shootdown that still read the bit set interrupts it for
 * nothing).  The clear is a release: a shootdown that skips this CPU
 * frees what its earlier accesses read, and those reads must be done
 * (a weakly ordered CPU could otherwise still be loading a word of a page
 * the skipping CPU frees and reuses).  The next access sets the bit again
 * in mmu_enter(), with its barrier, before it walks.
 */
void smm_tlb_leave(struct smm_mm *mm)
{
	struct smm_tlb *tlb;
	unsigned long flags;
	unsigned int cpu;
	bool left = false;

	if (READ_ONCE(mm->tlb_policy) == SHADOWMM_TLB_NONE)
		return;
	flags = smm_host_irq_save();
	tlb = smm_host_this_tlb(&cpu);
	if (test_bit(cpu, mm->tlb_cpus)) {
		tlb_drop_asid(tlb, mm->tlb_asid);
		/* Pairs with smp_mb() after the IPIs in tlb_shootdown(). */
		clear_bit_unlock(cpu, mm->tlb_cpus);
		left = true;
	}
	smm_host_irq_restore(flags);
	if (left)
		smm_count(mm, SHADOWMM_EV_TLB_LEAVE);
}

/* The entry for (@asid, @vpn) in any generation, or NULL. */
static struct smm_tlb_entry *tlb_find(struct smm_tlb *tlb, u64 asid,
				      unsigned long vpn)
{
	struct smm_tlb_entry *set = tlb->set[vpn & (SMM_TLB_SETS - 1)];
	unsigned int w;

	for (w = 0; w < SMM_TLB_WAYS; w++)
		if (set[w].asid == asid && set[w].vpn == vpn)
			return &set[w];
	return NULL;
}

static void tlb_fill(struct smm_tlb *tlb, struct smm_tlb_entry *e, u64 asid,
		     unsigned long vpn, unsigned long gen, unsigned long pte)
{
	if (!e) {
		unsigned int s = vpn & (SMM_TLB_SETS - 1);

		e = &tlb->set[s][tlb->victim[s]];
		tlb->victim[s] = (tlb->victim[s] + 1) % SMM_TLB_WAYS;
	}
	e->asid = asid;
	e->vpn = vpn;
	e->gen = gen;
	e->pte = pte;
}

static void *mmu_data(struct smm_mm *mm, unsigned long pte,
		      unsigned long addr)
{
	return (char *)smm_pte_to_page(pte)->virt +
	       (smm_page_offset(mm, addr) & ~7UL);
}

/*
 * A hit the live PTE no longer backs: the page changed or lost rights
 * the entry still grants.  Only a shootdown in flight may explain one.
 */
static void tlb_check_hit(struct smm_mm *mm, unsigned long addr,
			  unsigned long epte)
{
	unsigned long pte = 0;
	struct smm_pt *pt;

	rcu_read_lock();
	pt = smm_pt_walk(mm, addr);
	if (pt)
		pte = READ_ONCE(*smm_pte_slot(mm, pt, addr));
	rcu_read_unlock();
	if (!smm_pte_present(pte) ||
	    smm_pte_to_page(pte) != smm_pte_to_page(epte) ||
	    (epte & ~pte & (SMM_PTE_READ | SMM_PTE_WRITE)))
		smm_count(mm, SHADOWMM_EV_TLB_STALE);
}

/* Without a TLB: the walk, and the access under the PTE lock. */
static int mmu_access_locked(struct smm_mm *mm, unsigned long addr,
			     bool write, smm_mmu_fn fn, void *arg)
{
	int ret = SMM_MMU_MISS;
	struct smm_pt *pt;

	/*
	 * The lockless PTE load is only a hint (a racing zap or protect may
	 * change it): the access itself is decided again under the PTE lock,
	 * whose acquire orders it after the last change of the entry, and a
	 * zap clears the entry under it before freeing the page.
	 */
	rcu_read_lock();
	pt = smm_pt_walk(mm, addr);
	if (pt && smm_pte_allows(READ_ONCE(*smm_pte_slot(mm, pt, addr)),
				 write)) {
		unsigned long *ptep = smm_pte_slot(mm, pt, addr), pte;

		spin_lock(&pt->ptl);
		pte = *ptep;
		if (smm_pte_allows(pte, write)) {
			if (!(pte & SMM_PTE_YOUNG))
				WRITE_ONCE(*ptep, pte | SMM_PTE_YOUNG);
			fn(mmu_data(mm, pte, addr), arg);
			ret = SMM_MMU_WALK;
		}
		spin_unlock(&pt->ptl);
	}
	rcu_read_unlock();
	return ret;
}

/*
 * What the MMU does for one access at @addr: through this CPU's TLB, or
 * a walk to a present PTE that allows it, calling @fn on the 8-byte
 * aligned word there with interrupts off.  SMM_MMU_MISS: no translation
 * allows it, the caller faults.
 */
int smm_mmu_access(struct smm_mm *mm, unsigned long addr, bool write,
		   smm_mmu_fn fn, void *arg)
{
	unsigned long flags, gen, vpn, pte;
	struct smm_tlb_entry *e;
	int ret = SMM_MMU_MISS;
	struct smm_tlb *tlb;
	unsigned int cpu;
	struct smm_pt *pt;

	if (READ_ONCE(mm->tlb_policy) == SHADOWMM_TLB_NONE)
		return mmu_access_locked(mm, addr, write, fn, arg);

	flags = smm_host_irq_save();
	tlb = smm_host_this_tlb(&cpu);
	mmu_enter(mm, cpu);
	/*
	 * Before the walk: an entry filled with this generation comes from
	 * PTEs read after it.  Pairs with the fully ordered increment of a
	 * full flush, which follows its PTE changes.
	 */
	gen = atomic_long_read_acquire(&mm->tlb_gen);
	vpn = addr >> READ_ONCE(mm->geom.page_shift);
	e = tlb_find(tlb, mm->tlb_asid, vpn);
	if (e && e->gen == gen && smm_pte_allows(e->pte, write)) {
		if (unlikely(READ_ONCE(mm->tlb_check)))
			tlb_check_hit(mm, addr, e->pte);
		fn(mmu_data(mm, e->pte, addr), arg);
		smm_host_irq_restore(flags);
		smm_count(mm, SHADOWMM_EV_TLB_HIT);
		return SMM_MMU_TLB;
	}
	/*
	 * RCU keeps tables freed by call_rcu() (tlb_policy rcu) alive; with
	 * ipi, interrupts off do: their freeing waits for this CPU.
	 */
	rcu_read_lock();
	pt = smm_pt_walk(mm, addr);
	if (pt) {
		unsigned long *ptep = smm_pte_slot(mm, pt, addr);

		/* Pairs with smm_set_pte(): the page is seen initialised. */
		pte = smm_host_load_pte(ptep);
		if (smm_pte_allows(pte, write)) {
			/* Trylock: a writer holding it may be waiting for us. */
			if (!(pte & SMM_PTE_YOUNG) && spin_trylock(&pt->ptl)) {
				if (*ptep == pte)
					WRITE_ONCE(*ptep, pte | SMM_PTE_YOUNG);
				spin_unlock(&pt->ptl);
			}
			tlb_fill(tlb, e, mm->tlb_asid, vpn, gen, pte);
			fn(mmu_data(mm, pte, addr), arg);
			ret = SMM_MMU_WALK;
		}
	}
	rcu_read_unlock();
	smm_host_irq_restore(flags);
	if (ret == SMM_MMU_WALK)
		smm_count(mm, SHADOWMM_EV_TLB_FILL);
	return ret;
}

/* ---- shootdowns ---- */

struct tlb_flush_info {
	u64 asid;
	unsigned long start, end;	/* page numbers */
	bool full;			/* the generation moved instead */
};

/* On each CPU of the mask, interrupts off (an IPI handler). */
static void tlb_flush_one(struct smm_tlb *tlb, void *data)
{
	const struct tlb_flush_info *f = data;
	unsigned long vpn;

	if (f->full)
		return;
	for (vpn = f->start; vpn < f->end; vpn++) {
		struct smm_tlb_entry *e = tlb_find(tlb, f->asid, vpn);

		if (e)
			e->asid = 0;
	}
}

/*
 * The PTEs of [start, end) changed: no CPU may use what it cached of them
 * once this returns.  start == end: no range, only the IPI round (tables
 * freed with tlb_policy ipi).  Interrupts on; may hold a PTE lock.
 */
static void tlb_shootdown(struct smm_mm *mm, unsigned long start,
			  unsigned long end)
{
	unsigned int shift = READ_ONCE(mm->geom.page_shift);
	struct tlb_flush_info f = {
		.asid = mm->tlb_asid,
		.start = start >> shift,
		.end = end >> shift,
	};
	unsigned int n;

	if (f.end - f.start > SMM_TLB_FLUSH_CEILING) {
		f.full = true;
		/*
		 * Fully ordered: after the PTE changes, before the read of
		 * tlb_cpus.  Pairs with smp_mb() in mmu_enter() and with
		 * the acquire of tlb_gen before a walk.
		 */
		atomic_long_inc_return(&mm->tlb_gen);
		smm_count(mm, SHADOWMM_EV_TLB_FLUSH_FULL);
	} else {
		/* Pairs with smp_mb() in mmu_enter(), as above. */
		smp_mb();
		if (start != end)
			smm_count(mm, SHADOWMM_EV_TLB_FLUSH_RANGE);
	}
	n = smm_host_shootdown(mm->tlb_cpus, tlb_flush_one, &f);
	/*
	 * A CPU the round skipped because it had left (a clear bit, written
	 * by clear_bit_unlock() in smm_tlb_leave()) is done with what it read
	 * before; order that before our frees of it.  A CPU that was
	 * interrupted is ordered by the wait.
	 */
	smp_mb();
	if (n) {
		smm_count(mm, SHADOWMM_EV_TLB_SHOOTDOWN);
		smm_count_add(mm, SHADOWMM_EV_TLB_IPI, n);
	}
}

void smm_tlb_flush_range(struct smm_mm *mm, unsigned long start,
			 unsigned long end)
{
	if (READ_ONCE(mm->tlb_policy) != SHADOWMM_TLB_NONE && start < end)
		tlb_shootdown(mm, start, end);
}

void smm_tlb_flush_mm(struct smm_mm *mm)
{
	smm_tlb_flush_range(mm, 0, SMM_TASK_SIZE);
}

/* ---- gathers ---- */

void smm_gather_init(struct smm_gather *g, struct smm_mm *mm)
{
	g->mm = mm;
	g->start = 0;
	g->end = 0;
	g->nr_pages = 0;
	g->tables = NULL;
}

/* [addr, end) lost a translation or rights: flush it before the end. */
void smm_gather_range(struct smm_gather *g, unsigned long addr,
		      unsigned long end)
{
	if (g->start == g->end) {
		g->start = addr;
		g->end = end;
	} else {
		g->start = min(g->start, addr);
		g->end = max(g->end, end);
	}
}

/*
 * A page whose mapping's reference is freed after the flush; true when
 * the batch is full and the caller must flush (smm_gather_flush(), under
 * its PTE lock) and free (smm_gather_free_pages(), after unlocking).
 */
bool smm_gather_page(struct smm_gather *g, struct smm_page *page)
{
	g->pages[g->nr_pages++] = page;
	return g->nr_pages == SMM_GATHER_BATCH;
}

/* The shootdown of what was gathered so far (tlb_flush_mmu_tlbonly()). */
void smm_gather_flush(struct smm_gather *g)
{
	smm_tlb_flush_range(g->mm, g->start, g->end);
	g->start = 0;
	g->end = 0;
}

void smm_gather_free_pages(struct smm_gather *g)
{
	unsigned int i;

	for (i = 0; i < g->nr_pages; i++)
		smm_put_page(g->mm->mem, g->pages[i]);
	g->nr_pages = 0;
}

/*
 * An unlinked table: through RCU, or with tlb_policy ipi once
 * smm_gather_finish()'s IPI round has seen every CPU leave its
 * interrupts-off walks (tlb_remove_table() without RCU on x86).
 */
void smm_gather_table(struct smm_gather *g, struct smm_pt *pt)
{
	if (READ_ONCE(g->mm->tlb_policy) != SHADOWMM_TLB_IPI) {
		smm_pt_free(g->mm, pt);
		return;
	}
	pt->next_free = g->tables;
	g->tables = pt;
}

/* The end of the operation (tlb_finish_mmu()): flush, then free. */
void smm_gather_finish(struct smm_gather *g)
{
	struct smm_mm *mm = g->mm;
	struct smm_pt *pt;

	if (g->tables) {
		/* The flush's IPIs are the round; without a range, a bare one. */
		if (g->start == g->end)
			tlb_shootdown(mm, 0, 0);
		else
			smm_gather_flush(g);
		smm_count(mm, SHADOWMM_EV_TLB_TABLE_SYNC);
	}
	smm_gather_flush(g);
	smm_gather_free_pages(g);
	while ((pt = g->tables)) {
		g->tables = pt->next_free;
		smm_pt_free_now(mm, pt);
	}
}
