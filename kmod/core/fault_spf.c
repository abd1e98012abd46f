// SPDX-License-Identifier: GPL-2.0
/*
 * Speculative page faults, after the Zijlstra/Dufour series (spf) and
 * Lespinasse's per-mm variant (mmseq).
 *
 * No mmap lock: the VMA is found under RCU, a sequence count is snapshot
 * (the VMA's vm_sequence, or for mmseq the mm's, which every mmap write
 * cycle moves), the VMA's fields are read and checked, the page tables
 * walked without allocating, and the PTE lock taken by trylock.  Under it
 * the sequence is checked again: if no writer opened a section since the
 * snapshot, the fields read are still the VMA's, the VMA still maps the
 * address, and the table is still linked, so the page can go in.  Any
 * doubt aborts to the classic path, counted by reason.
 *
 * Why a trylock: in the series the walk runs with interrupts off (so a
 * table cannot be freed under it: x86 frees tables after an IPI round)
 * until the PTE lock is taken and the sequence checked under it, and a
 * CPU that holds the PTE lock while its TLB shootdown waits for the
 * faulting CPU would wait forever if that CPU spun on the lock.  So it is
 * here with tlb_policy ipi (the knob spf_irqoff_spin_ptl spins instead);
 * with rcu the walk is under RCU only, and the trylock keeps the path
 * free of sleeping.
 */
#include "smm.h"

/* spf and mmseq counters are listed in the same order. */
#define SPF_EV(mmseq, name) \
	((mmseq) ? SHADOWMM_EV_MMSEQ_##name : SHADOWMM_EV_SPF_##name)

int smm_fault_spf(struct smm_mm *mm, unsigned long addr, bool write,
		  u64 *val, bool mmseq)
{
	enum shadowmm_counter abort;
	const seqcount_t *seqc;
	unsigned long start, end, prot, pgoff, index, *ptep, pte;
	struct smm_page *page = NULL;
	struct smm_anon_vma *av;
	struct smm_vma *vma;
	struct smm_pt *pt;
	unsigned int seq;
	bool cow_copy = false;
	bool irqoff = false;
	unsigned long flags = 0;

	smm_count(mm, SPF_EV(mmseq, ATTEMPT));
	rcu_read_lock();
	/*
	 * raw_read_seqcount() is an acquire (smp_rmb() after the load):
	 * the fields read below are at least as new as the snapshot.  Pairs
	 * with the smp_wmb() of the write-side begin and end.
	 */
	if (mmseq) {
		seqc = &mm->mm_seq;
		seq = raw_read_seqcount(seqc);
		abort = SPF_EV(mmseq, ABORT_SEQ);
		if (seq & 1)
			goto out_abort;
	}
	vma = smm_vt_lookup(mm, addr);
	abort = SPF_EV(mmseq, ABORT_NO_VMA);
	if (!vma)
		goto out_abort;
	if (!mmseq) {
		seqc = &vma->vm_sequence;
		seq = raw_read_seqcount(seqc);
		abort = SPF_EV(mmseq, ABORT_SEQ);
		if (seq & 1)
			goto out_abort;
	}
	abort = SPF_EV(mmseq, ABORT_NO_VMA);
	if (READ_ONCE(vma->detached))
		goto out_abort;
	smm_race_window(SMM_RW_SPF_AFTER_SNAPSHOT);

	start = READ_ONCE(vma->vm_start);
	end = READ_ONCE(vma->vm_end);
	prot = READ_ONCE(vma->vm_prot);
	pgoff = READ_ONCE(vma->vm_pgoff);
	if (addr < start || addr >= end)
		goto out_abort;
	abort = SPF_EV(mmseq, ABORT_ACCESS);
	if (!smm_prot_allows(prot, write))
		goto out_abort;
	/*
	 * Userfaults sleep, and so does nothing speculative: the series
	 * never handled a registered VMA (validated with the rest below).
	 */
	abort = SPF_EV(mmseq, ABORT_UFFD);
	if (READ_ONCE(vma->vm_uffd))
		goto out_abort;
	/*
	 * As in the series: no anon_vma yet, no speculation (preparing one
	 * takes locks).  Acquire: pairs with the release in
	 * smm_anon_vma_prepare(), so the anon_vma is seen initialised.
	 */
	av = smm_vma_anon(vma);
	abort = SPF_EV(mmseq, ABORT_NO_ANON);
	if (!av)
		goto out_abort;
	/*
	 * The fields may be torn mid-change: trust them only if unchanged.
	 * smp_rmb() in read_seqcount_retry() orders the loads above before
	 * the re-read; pairs with smp_wmb() in raw_write_seqcount_begin().
	 */
	abort = SPF_EV(mmseq, ABORT_SEQ);
	if (read_seqcount_retry(seqc, seq))
		goto out_abort;

	/*
	 * The first fault under a new table takes the classic path.  The
	 * walk's rcu_dereference()s pair with rcu_assign_pointer() in
	 * smm_pt_walk_alloc(); RCU keeps a table unlinked meanwhile alive.
	 */
	if (smm_tlb_irqoff_walk(mm)) {
		flags = smm_mmu_irq_enter(mm);
		irqoff = true;
	}
	pt = smm_pt_walk(mm, addr);
	abort = SPF_EV(mmseq, ABORT_NO_TABLE);
	if (!pt)
		goto out_abort;
	ptep = smm_pte_slot(mm, pt, addr);
	for (;;) {
		/* A swap-in must sleep: not here (the series' abort). */
		pte = READ_ONCE(*ptep);
		abort = SPF_EV(mmseq, ABORT_SWAP);
		if (smm_pte_is_swap(pte))
			goto out_abort;
		/*
		 * Under RCU nothing may sleep: an atomic allocation, never
		 * reclaim, or none.  A COW copy's page too, once a look
		 * under the lock found the page shared.
		 */
		if (!page && (!pte || cow_copy)) {
			page = smm_page_alloc(mm->mem, GFP_NOWAIT);
			abort = SPF_EV(mmseq, ABORT_NOMEM);
			if (!page)
				goto out_abort;
		}
		smm_race_window(SMM_RW_SPF_BEFORE_TRYLOCK);
		if (irqoff && smm_bug(SHADOWMM_BUG_SPF_IRQOFF_SPIN_PTL)) {
			spin_lock(&pt->ptl);
		} else if (!spin_trylock(&pt->ptl)) {
			abort = SPF_EV(mmseq, ABORT_PTL_BUSY);
			goto out_abort;
		}
		pte = *ptep;
		if (smm_pte_is_swap(pte)) {
			spin_unlock(&pt->ptl);
			abort = SPF_EV(mmseq, ABORT_SWAP);
			goto out_abort;
		}
		/* Emptied by a zap since we looked: get a page and retry. */
		if (!pte && !page) {
			spin_unlock(&pt->ptl);
			continue;
		}
		/* Shared since FORK (anonymous COW, as the series did). */
		if (!page && smm_pte_is_cow(pte, write, prot) &&
		    smm_cow_needs_page(pte)) {
			spin_unlock(&pt->ptl);
			cow_copy = true;
			continue;
		}
		break;
	}
	smm_race_window(SMM_RW_SPF_UNDER_PTL);
	/*
	 * Writers open their section before they take a PTE lock to zap or
	 * change protection, so under the lock an unchanged count means no
	 * such writer has been here since the snapshot, nor can come now:
	 * the trylock's acquire pairs with the writer's spin_unlock(), and
	 * the retry's smp_rmb() orders the table walk before the re-read, so
	 * a table populated after the writer's smm_pt_sync_populators() comes
	 * with the odd count (see there).
	 */
	abort = SPF_EV(mmseq, ABORT_SEQ_PTL);
	if (read_seqcount_retry(seqc, seq)) {
		spin_unlock(&pt->ptl);
		goto out_abort;
	}
	/*
	 * The lock now keeps the table: a writer that may free it has to
	 * zap it under this lock first, and opens its section before.
	 * Interrupts back on for the rest, which may shoot down (COW).
	 */
	if (irqoff) {
		smm_host_irq_restore(flags);
		irqoff = false;
	}
	/* start and pgoff validated with the rest by the retry above. */
	index = pgoff + ((addr - start) >> mm->geom.page_shift);
	/*
	 * A reference taken since (reclaim isolating it) makes the page
	 * shared after all, and we have no copy: abort, counted.
	 */
	if (smm_pte_is_cow(pte, write, prot) &&
	    smm_cow_page(mm, pt, addr, ptep, pte, prot, &page, av, index)) {
		spin_unlock(&pt->ptl);
		abort = SPF_EV(mmseq, ABORT_COW);
		goto out_abort;
	}
	smm_fault_install(mm, pt, addr, prot, write, val, &page, av, index);
	spin_unlock(&pt->ptl);
	if (page)
		smm_put_page(mm->mem, page);
	rcu_read_unlock();
	smm_count(mm, SPF_EV(mmseq, SUCCESS));
	return 0;

out_abort:
	if (irqoff)
		smm_host_irq_restore(flags);
	if (page)
		smm_put_page(mm->mem, page);
	rcu_read_unlock();
	smm_count(mm, abort);
	return -EAGAIN;
}
