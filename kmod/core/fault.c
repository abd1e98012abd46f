// SPDX-License-Identifier: GPL-2.0
/*
 * Accesses and the classic fault path.
 *
 * An access (FAULT, TOUCH) first tries what the MMU would do: a lockless
 * walk under RCU to a present PTE that allows it.  Only a miss enters the
 * fault handler, which dispatches on the space's mode: spf, mmseq and
 * vmalock try their lockless way first and return -EAGAIN to fall back to
 * the classic path under the mmap read lock.
 *
 * Page contents are only touched under the PTE lock: zap clears entries
 * under it before freeing pages, so a page is never written after free.
 */
#include "smm.h"

/* The u64 at @addr inside @page; PTE lock held. */
static void smm_do_access(struct smm_mm *mm, void *page, unsigned long addr,
			  bool write, u64 *val)
{
	u64 *p = (u64 *)((char *)page + (smm_page_offset(mm, addr) & ~7UL));

	if (write)
		*p = *val;
	else
		*val = *p;
}

/*
 * PTE lock held, the VMA's protection @prot validated by the caller.
 * Installs *pagep if the entry is empty (consuming it), then accesses.
 */
void smm_fault_install(struct smm_mm *mm, struct smm_pt *pt,
		       unsigned long addr, unsigned long prot, bool write,
		       u64 *val, void **pagep)
{
	unsigned long *ptep = smm_pte_slot(mm, pt, addr);
	unsigned long pte = *ptep, bits = smm_prot_to_pte(prot);

	lockdep_assert_held(&pt->ptl);
	if (!pte) {
		pte = (unsigned long)*pagep | bits;
		*pagep = NULL;
		pt->nr_used++;
		WRITE_ONCE(*ptep, pte);
	}
	smm_do_access(mm, smm_pte_page(pte), addr, write, val);
}

/*
 * The fault proper, with @vma stable: the mmap lock (classic) or the VMA
 * read lock (vmalock) is held.  May allocate tables and a page; a page it
 * did not need is freed before returning, so no page is ever in flight
 * outside a section that smm_mm_validate() waits out.
 */
int smm_fault_locked(struct smm_mm *mm, struct smm_vma *vma,
		     unsigned long addr, bool write, u64 *val)
{
	void *page = NULL;
	struct smm_pt *pt;

	lockdep_assert(lockdep_is_held(&mm->mmap_lock) ||
		       lockdep_is_held(&vma->vm_lock));
	if (!smm_prot_allows(vma->vm_prot, write))
		return -EFAULT;
	pt = smm_pt_walk_alloc(mm, addr);
	if (!pt)
		return -ENOMEM;
	for (;;) {
		/* Allocate outside the PTE lock: it may sleep. */
		if (!page && !READ_ONCE(*smm_pte_slot(mm, pt, addr))) {
			page = smm_page_alloc_charged(mm, GFP_KERNEL);
			if (!page)
				return -ENOMEM;
		}
		spin_lock(&pt->ptl);
		/* A concurrent zap may have emptied it meanwhile. */
		if (*smm_pte_slot(mm, pt, addr) || page)
			break;
		spin_unlock(&pt->ptl);
	}
	smm_fault_install(mm, pt, addr, vma->vm_prot, write, val, &page);
	spin_unlock(&pt->ptl);
	/* Another fault filled the entry first. */
	if (page)
		smm_page_free_charged(mm, page);
	return 0;
}

static int smm_fault_classic(struct smm_mm *mm, unsigned long addr,
			     bool write, u64 *val)
{
	struct smm_vma *vma;
	int ret = -EFAULT;

	down_read(&mm->mmap_lock);
	vma = smm_vt_lookup(mm, addr);
	if (vma && addr < vma->vm_end)
		ret = smm_fault_locked(mm, vma, addr, write, val);
	up_read(&mm->mmap_lock);
	if (!ret)
		smm_count(mm, SHADOWMM_EV_FAULT_CLASSIC);
	return ret;
}

/* What the MMU does: a present PTE that allows the access. */
static bool smm_access_present(struct smm_mm *mm, unsigned long addr,
			       bool write, u64 *val)
{
	struct smm_pt *pt;
	bool done = false;

	/*
	 * The lockless PTE load is only a hint (a racing zap or protect may
	 * change it): the access itself is decided again under the PTE lock,
	 * whose acquire orders it after the last change of the entry.
	 */
	rcu_read_lock();
	pt = smm_pt_walk(mm, addr);
	if (pt && smm_pte_allows(READ_ONCE(*smm_pte_slot(mm, pt, addr)),
				 write)) {
		unsigned long pte;

		spin_lock(&pt->ptl);
		/* Re-check: a zap or protect may have won the lock. */
		pte = *smm_pte_slot(mm, pt, addr);
		if (smm_pte_allows(pte, write)) {
			smm_do_access(mm, smm_pte_page(pte), addr, write, val);
			done = true;
		}
		spin_unlock(&pt->ptl);
	}
	rcu_read_unlock();
	return done;
}

int smm_access(struct smm_mm *mm, unsigned long addr, bool write, u64 *val,
	       bool *faulted)
{
	unsigned int mode;
	int ret;

	*faulted = false;
	smm_count(mm, SHADOWMM_EV_ACCESS);
	if (smm_access_present(mm, addr, write, val)) {
		smm_count(mm, SHADOWMM_EV_ACCESS_HIT);
		return 0;
	}
	*faulted = true;
	smm_count(mm, SHADOWMM_EV_FAULT);

	mode = READ_ONCE(mm->mode);
	switch (mode) {
	case SHADOWMM_MODE_SPF:
	case SHADOWMM_MODE_MMSEQ:
		ret = smm_fault_spf(mm, addr, write, val,
				    mode == SHADOWMM_MODE_MMSEQ);
		break;
	case SHADOWMM_MODE_VMALOCK:
		ret = smm_fault_vmalock(mm, addr, write, val);
		break;
	default:
		ret = -EAGAIN;
		break;
	}
	if (ret == -EAGAIN) {
		if (mode != SHADOWMM_MODE_CLASSIC)
			smm_count(mm, SHADOWMM_EV_FALLBACK);
		ret = smm_fault_classic(mm, addr, write, val);
	}
	if (ret == -EFAULT)
		smm_count(mm, SHADOWMM_EV_FAULT_SIGSEGV);
	else if (ret == -ENOMEM)
		smm_count(mm, SHADOWMM_EV_FAULT_OOM);
	return ret;
}

int smm_mm_peek(struct smm_mm *mm, unsigned long addr, __u64 *val)
{
	struct smm_pt *pt;
	int ret = 0;

	down_read(&mm->mmap_lock);
	pt = smm_pt_walk(mm, addr);
	if (pt) {
		unsigned long pte;

		spin_lock(&pt->ptl);
		pte = *smm_pte_slot(mm, pt, addr);
		if (pte) {
			u64 v;

			smm_do_access(mm, smm_pte_page(pte), addr, false, &v);
			*val = v;
			ret = 1;
		}
		spin_unlock(&pt->ptl);
	}
	up_read(&mm->mmap_lock);
	return ret;
}
