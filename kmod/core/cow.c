// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write: a write to a present page whose PTE lost its write bit
 * to FORK (do_wp_page()).  The page is reused, made writable in place,
 * when the faulting space holds the only reference to it: no other
 * mapping, no swap cache, no pin (the kernel's "exclusive" test since
 * 5.8 is the same refcount test, whatever the mapcount says).  Otherwise
 * the fault copies it into a new page of its own and drops its mapping
 * of the old one.  A protect that makes the VMA writable again leaves
 * such pages read-only (pgtable.c), so every write to one comes here.
 *
 * Every fault path comes here under the PTE lock with the entry
 * re-checked: classic under mmap_lock, vmalock under the VMA lock, and
 * spf/mmseq speculatively, after validating their sequence under the
 * lock.  The old page cannot go meanwhile: its PTE holds a reference and
 * only changes under the lock held.  The new page is allocated by the
 * caller once a look under the lock found the page shared, and the fault
 * looks again (it may sleep; speculation may not, so there it is an
 * atomic allocation, or an abort).
 */
#include "smm.h"

/*
 * Would a write to the page @pte maps have to copy it?  PTE lock held:
 * without it the page may be gone.
 */
bool smm_cow_needs_page(unsigned long pte)
{
	/* Acquire: as in smm_cow_page(). */
	return atomic_long_read_acquire(&smm_pte_to_page(pte)->refcount) != 1;
}

/*
 * PTE lock held; *@ptep is @pte, present and write-protected, in a VMA
 * (or speculative snapshot of one) whose @prot allows the write.  Reuses
 * or copies into *@newp (consumed), placing a copy at @index of @av, the
 * VMA's own anon_vma.  Returns 0 with the write not yet made (the
 * caller's access does it through the new PTE), or -ENOMEM if a copy is
 * needed and *@newp is NULL: drop the lock, allocate, fault again.
 */
int smm_cow_page(struct smm_mm *mm, struct smm_pt *pt, unsigned long addr,
		 unsigned long *ptep, unsigned long pte, unsigned long prot,
		 struct smm_page **newp, struct smm_anon_vma *av,
		 unsigned long index)
{
	struct smm_page *old = smm_pte_to_page(pte), *new = *newp;

	lockdep_assert_held(&pt->ptl);
	/*
	 * Acquire: pairs with the release of the last other reference's
	 * put (atomic_long_dec_and_test() in smm_put_page(), after that
	 * space's last access under its own PTE lock), so its reads of the
	 * page come before our writes.
	 */
	if (atomic_long_read_acquire(&old->refcount) == 1) {
		/*
		 * Ours alone, and nobody can take a reference now but
		 * through this PTE, under this lock, or reclaim's isolation,
		 * which unmaps through the rmap under this lock too.
		 */
		WRITE_ONCE(*ptep, (unsigned long)old | smm_prot_to_pte(prot) |
				  SMM_PTE_YOUNG);
		smm_count(mm, SHADOWMM_EV_COW_FAULT);
		smm_count(mm, SHADOWMM_EV_COW_REUSE);
		return 0;
	}
	if (!new)
		return -ENOMEM;
	/* Nobody writes @old: every PTE mapping it is read-only. */
	memcpy(new->virt, old->virt, smm_page_size(mm));
	smm_page_add_anon_rmap(new, av, index);
	smm_set_pte(ptep, (unsigned long)new | smm_prot_to_pte(prot) |
			   SMM_PTE_YOUNG);
	/*
	 * wp_page_copy()'s ptep_clear_flush(), under the PTE lock: a TLB
	 * may still read @old through the read-only entry, and the put
	 * below may free it.
	 */
	smm_tlb_flush_range(mm, addr, addr + smm_page_size(mm));
	*newp = NULL;
	smm_lru_add(mm->mem, new);
	atomic_long_dec(&old->mapcount);
	smm_put_page(mm->mem, old);
	smm_count(mm, SHADOWMM_EV_COW_FAULT);
	smm_count(mm, SHADOWMM_EV_COW_COPY);
	return 0;
}

/* Does this access need copy-on-write? @prot is the VMA's. */
bool smm_pte_is_cow(unsigned long pte, bool write, unsigned long prot)
{
	return write && smm_pte_present(pte) && !(pte & SMM_PTE_WRITE) &&
	       (prot & SHADOWMM_PROT_WRITE);
}
