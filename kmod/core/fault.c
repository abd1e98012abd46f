// SPDX-License-Identifier: GPL-2.0
/*
 * Accesses and the classic fault path.
 *
 * An access (FAULT, TOUCH) first tries what the MMU would do
 * (smm_mmu_access(), tlb.c: this CPU's TLB, or a lockless walk to a
 * present PTE that allows it).  Only a miss enters the fault handler,
 * which dispatches on the space's mode: spf, mmseq and vmalock try their
 * lockless way first and return -EAGAIN to fall back to the classic path
 * under the mmap read lock.
 *
 * A page is never touched after it is freed: a fault touches it under the
 * PTE lock, and zap clears entries under that lock; an access through the
 * MMU touches it with interrupts off, and zap frees pages only after the
 * shootdown that waits for such sections (or, with no TLB, under the PTE
 * lock too).
 */
#include "smm.h"

/* The u64 at @addr inside @page; PTE lock held. */
static void smm_do_access(struct smm_mm *mm, struct smm_page *page,
			  unsigned long addr, bool write, u64 *val)
{
	u64 *p = (u64 *)((char *)page->virt +
			 (smm_page_offset(mm, addr) & ~7UL));

	/* Other CPUs may touch the word through their TLBs meanwhile. */
	if (write)
		WRITE_ONCE(*p, *val);
	else
		*val = READ_ONCE(*p);
}

/* The accessed bit, as the MMU sets it: what reclaim's clock tests. */
static inline void smm_pte_mkyoung(unsigned long *ptep, unsigned long pte)
{
	if (!(pte & SMM_PTE_YOUNG))
		WRITE_ONCE(*ptep, pte | SMM_PTE_YOUNG);
}

/*
 * PTE lock held, the VMA's protection @prot validated by the caller.
 * Installs *pagep if the entry is empty (consuming it: its reference
 * becomes the mapping's), placing it in the rmap at @index of @av and on
 * the LRU, then accesses.
 */
void smm_fault_install(struct smm_mm *mm, struct smm_pt *pt,
		       unsigned long addr, unsigned long prot, bool write,
		       u64 *val, struct smm_page **pagep,
		       struct smm_anon_vma *av, unsigned long index)
{
	unsigned long *ptep = smm_pte_slot(mm, pt, addr);
	unsigned long pte = *ptep;

	lockdep_assert_held(&pt->ptl);
	if (!pte) {
		struct smm_page *page = *pagep;

		smm_page_add_anon_rmap(page, av, index);
		pte = (unsigned long)page | smm_prot_to_pte(prot) |
		      SMM_PTE_YOUNG;
		*pagep = NULL;
		WRITE_ONCE(pt->nr_used, pt->nr_used + 1);
		smm_set_pte(ptep, pte);
		smm_lru_add(mm->mem, page);
	} else {
		/* A write through a read-only PTE is COW's (cow.c) first. */
		WARN_ON_ONCE(write && !(pte & SMM_PTE_WRITE));
		smm_pte_mkyoung(ptep, pte);
	}
	smm_do_access(mm, smm_pte_to_page(pte), addr, write, val);
}

/*
 * A fault on a swap entry (do_swap_page()).  A page in the swap cache
 * and up to date is mapped at once.  Otherwise the fault must wait for a
 * read: with ALLOW_RETRY (and not TRIED) it returns SMM_FAULT_RETRY with
 * the page to read or wait for in @vmf, for the caller to drop its lock
 * first; else it waits here, lock held.  -ESTALE: the PTE changed, fault
 * again.
 */
static int do_swap_page(struct smm_mm *mm, struct smm_vma *vma,
			struct smm_pt *pt, unsigned long addr,
			unsigned long entry, bool write, u64 *val,
			struct smm_fault *vmf)
{
	unsigned long *ptep = smm_pte_slot(mm, pt, addr);
	struct smm_page *page;
	bool must_read;
	int err;

	page = smm_swapin_get(mm->mem, entry, true, &must_read, &err);
	if (!page)
		return err == -EAGAIN ? -ESTALE : err;
	/* Acquire: pairs with the release in smm_swap_read(). */
	if (must_read || !smp_load_acquire(&page->uptodate)) {
		vmf->wait_page = page;
		vmf->must_read = must_read;
		if ((vmf->flags & SMM_FAULT_ALLOW_RETRY) &&
		    !(vmf->flags & SMM_FAULT_TRIED))
			return SMM_FAULT_RETRY;
		/* TRIED: wait holding the lock, and keep our reference. */
		atomic_long_inc(&page->refcount);
		WARN_ON_ONCE(smm_fault_wait(mm, vmf));
	}
	spin_lock(&pt->ptl);
	if (READ_ONCE(*ptep) != entry) {
		spin_unlock(&pt->ptl);
		smm_swapin_put(mm->mem, page);
		return -ESTALE;
	}
	smm_swapin_map(vma, ptep, addr, entry, page, vma->vm_prot);
	/*
	 * A slot other spaces still refer to comes back read-only: a write
	 * copies it first, on the next pass (do_swap_page()'s do_wp_page()).
	 */
	if (write && !(*ptep & SMM_PTE_WRITE)) {
		spin_unlock(&pt->ptl);
		return -ESTALE;
	}
	smm_do_access(mm, page, addr, write, val);
	spin_unlock(&pt->ptl);
	return 0;
}

/*
 * The wait of a fault that got SMM_FAULT_RETRY, its lock dropped: for a
 * userfault, until it is resolved (uffd.c); for a swap-in, reads the page
 * in (a major fault) or waits for the read under way, then lets go of
 * it, and the retried fault finds it in the swap cache.  0: fault again;
 * else the fault fails with that error.
 */
int smm_fault_wait(struct smm_mm *mm, struct smm_fault *vmf)
{
	struct smm_page *page = vmf->wait_page;

	if (vmf->uffd)
		return smm_uffd_wait(mm, vmf);
	if (vmf->must_read) {
		smm_swap_read(mm->mem, page);
		vmf->major = true;
	} else {
		smm_swapin_wait(page);
	}
	vmf->wait_page = NULL;
	vmf->must_read = false;
	smm_swapin_put(mm->mem, page);
	return 0;
}

/*
 * Gives @vma its anon_vma for a first fault.  Under mmap_lock, as
 * anon_vma_prepare(); under the VMA lock, as 6.8's vmf_anon_prepare():
 * anon_vma_prepare() needs mmap_lock, which ranks above the VMA lock we
 * hold, so only a trylock may take it; if a writer has it, the fault is
 * redone under mmap_lock (-EAGAIN).
 */
static int anon_prepare(struct smm_mm *mm, struct smm_vma *vma,
			struct smm_fault *vmf, struct smm_anon_vma **av_new,
			struct smm_avc **avc_new)
{
	bool vma_locked = vmf->flags & SMM_FAULT_VMA_LOCK;
	int ret;

	if (vma_locked && !down_read_trylock(&mm->mmap_lock)) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_NO_ANON);
		return -EAGAIN;
	}
	ret = smm_anon_vma_prepare_alloc(mm, av_new, avc_new);
	if (!ret)
		smm_anon_vma_prepare(vma, av_new, avc_new);
	if (vma_locked) {
		up_read(&mm->mmap_lock);
		/* Ours was used, not a concurrent first fault's. */
		if (!ret && !*av_new)
			smm_count(mm, SHADOWMM_EV_VMA_LOCK_ANON_PREPARE);
	}
	return ret;
}

/*
 * The fault proper, with @vma stable: the mmap lock (classic) or the VMA
 * read lock (vmalock, SMM_FAULT_VMA_LOCK) is held.  May allocate tables,
 * a page (reclaiming for it) and the VMA's anon_vma; a page it did not
 * need is freed before returning.  Returns 0, -EFAULT, -ENOMEM,
 * SMM_FAULT_RETRY (see do_swap_page()) or, under the VMA lock only,
 * -EAGAIN: the fault must be redone under mmap_lock.
 */
int smm_fault_locked(struct smm_mm *mm, struct smm_vma *vma,
		     unsigned long addr, bool write, u64 *val,
		     struct smm_fault *vmf)
{
	struct smm_anon_vma *av_new = NULL;
	struct smm_avc *avc_new = NULL;
	struct smm_page *page = NULL;
	unsigned long *ptep, pte;
	bool cow_copy = false;
	struct smm_pt *pt;
	int ret = 0;

	lockdep_assert(lockdep_is_held(&mm->mmap_lock) ||
		       lockdep_is_held(&vma->vm_lock));
	if (!smm_prot_allows(vma->vm_prot, write))
		return -EFAULT;
	/*
	 * 6.4 to 6.7: a VMA without an anon_vma takes its first fault under
	 * mmap_lock, where anon_vma_prepare() may run.  (TRYLOCK decides
	 * below, once the page is there, in vma_lock_anon_prepare().)
	 */
	if ((vmf->flags & SMM_FAULT_VMA_LOCK) && !smm_vma_anon(vma) &&
	    READ_ONCE(mm->anon_policy) == SHADOWMM_ANON_FALLBACK) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_NO_ANON);
		return -EAGAIN;
	}
	pt = smm_pt_walk_alloc(mm, addr);
	if (!pt)
		return -ENOMEM;
	ptep = smm_pte_slot(mm, pt, addr);
	for (;;) {
		/* Each pass decides afresh (an -ESTALE pass is retried). */
		ret = 0;
		pte = READ_ONCE(*ptep);
		if (smm_pte_is_swap(pte)) {
			if (page) {
				smm_put_page(mm->mem, page);
				page = NULL;
			}
			if ((vmf->flags & SMM_FAULT_VMA_LOCK) &&
			    READ_ONCE(mm->swap_policy) ==
			    SHADOWMM_SWAP_FALLBACK) {
				smm_count(mm, SHADOWMM_EV_VMA_LOCK_SWAP_FALLBACK);
				ret = -EAGAIN;
				break;
			}
			ret = do_swap_page(mm, vma, pt, addr, pte, write, val,
					   vmf);
			if (ret == -ESTALE)
				continue;
			break;
		}
		/* A missing page of a registered range is userspace's. */
		if (!pte && smm_vma_uffd_missing(vma)) {
			if (page) {
				smm_put_page(mm->mem, page);
				page = NULL;
			}
			ret = smm_handle_userfault(mm, vma, addr, write, vmf);
			break;
		}
		/*
		 * Allocate outside the PTE lock: it may sleep and reclaim.
		 * A first touch needs a page, and so does a write to a page
		 * shared since FORK that the last pass found not ours alone
		 * (only under the lock may we look at the page).
		 */
		if (!page && (!pte || cow_copy)) {
			page = smm_page_alloc(mm->mem, GFP_KERNEL);
			if (!page) {
				ret = -ENOMEM;
				break;
			}
			/*
			 * After the page: a fault that fails changes
			 * nothing, so the VMA may still merge as before.
			 */
			if (!smm_vma_anon(vma)) {
				ret = anon_prepare(mm, vma, vmf, &av_new,
						   &avc_new);
				if (ret)
					break;
			}
		}
		spin_lock(&pt->ptl);
		pte = *ptep;
		/*
		 * A concurrent zap or reclaim may have changed it (and a
		 * zapped entry of a registered range is a userfault now).
		 */
		if (smm_pte_is_swap(pte) ||
		    (!pte && (!page || smm_vma_uffd_missing(vma)))) {
			spin_unlock(&pt->ptl);
			continue;
		}
		/* Shared: allocate the copy, and look again. */
		if (smm_pte_is_cow(pte, write, vma->vm_prot) &&
		    smm_cow_page(mm, pt, addr, ptep, pte, vma->vm_prot, &page,
				 smm_vma_anon(vma), smm_vma_index(vma, addr))) {
			spin_unlock(&pt->ptl);
			cow_copy = true;
			continue;
		}
		smm_fault_install(mm, pt, addr, vma->vm_prot, write, val,
				  &page, smm_vma_anon(vma),
				  smm_vma_index(vma, addr));
		spin_unlock(&pt->ptl);
		break;
	}
	/* Another fault filled the entry first, or we failed. */
	if (page)
		smm_put_page(mm->mem, page);
	smm_anon_vma_prepare_release(mm, av_new, avc_new);
	return ret;
}

int smm_fault_classic(struct smm_mm *mm, unsigned long addr, bool write,
		      u64 *val, struct smm_fault *vmf)
{
	struct smm_vma *vma;
	int ret;

	vmf->flags |= SMM_FAULT_ALLOW_RETRY;
	vmf->flags &= ~SMM_FAULT_VMA_LOCK;
	for (;;) {
		ret = -EFAULT;
		smm_mmap_read_lock(mm);
		vma = smm_vt_lookup(mm, addr);
		if (vma && addr < vma->vm_end)
			ret = smm_fault_locked(mm, vma, addr, write, val, vmf);
		up_read(&mm->mmap_lock);
		if (ret != SMM_FAULT_RETRY)
			break;
		/*
		 * VM_FAULT_RETRY: wait with mmap_lock dropped; a swap-in
		 * once (then TRIED waits holding it), a userfault each time.
		 */
		smm_count(mm, vmf->uffd ? SHADOWMM_EV_FAULT_RETRY_UFFD :
					  SHADOWMM_EV_FAULT_RETRY);
		ret = smm_fault_wait(mm, vmf);
		if (ret)
			break;
		vmf->flags |= SMM_FAULT_TRIED;
	}
	if (!ret)
		smm_count(mm, SHADOWMM_EV_FAULT_CLASSIC);
	return ret;
}

struct access_word {
	bool write;
	u64 *val;
};

/* smm_mmu_fn of FAULT and TOUCH: one word, interrupts off. */
static void access_word(void *data, void *arg)
{
	struct access_word *a = arg;

	/*
	 * Racy by nature, as memory is: through a TLB, nothing but the
	 * shootdown orders two threads' words.  Whole 8-byte words.
	 */
	if (a->write)
		WRITE_ONCE(*(u64 *)data, *a->val);
	else
		*a->val = READ_ONCE(*(u64 *)data);
}

int smm_access(struct smm_mm *mm, unsigned long addr, bool write, u64 *val,
	       bool *faulted)
{
	struct smm_fault vmf = { 0 };
	unsigned int mode;
	int ret;
	struct access_word a = { write, val };

	*faulted = false;
	smm_count(mm, SHADOWMM_EV_ACCESS);
	if (smm_mmu_access(mm, addr, write, access_word, &a)) {
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
		ret = smm_fault_vmalock(mm, addr, write, val, &vmf);
		break;
	default:
		ret = -EAGAIN;
		break;
	}
	if (ret == -EAGAIN) {
		if (mode != SHADOWMM_MODE_CLASSIC)
			smm_count(mm, SHADOWMM_EV_FALLBACK);
		ret = smm_fault_classic(mm, addr, write, val, &vmf);
	}
	if (vmf.major)
		smm_count(mm, SHADOWMM_EV_PGMAJFAULT);
	if (ret == -EFAULT)
		smm_count(mm, SHADOWMM_EV_FAULT_SIGSEGV);
	else if (ret == -ENOMEM)
		smm_count(mm, SHADOWMM_EV_FAULT_OOM);
	else if (ret)
		smm_count(mm, SHADOWMM_EV_FAULT_SIGBUS);
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
		if (smm_pte_present(pte)) {
			u64 v;

			smm_do_access(mm, smm_pte_to_page(pte), addr, false,
				      &v);
			*val = v;
			ret = 1;
		} else if (smm_pte_is_swap(pte)) {
			*val = smm_swap_peek(mm->mem, pte,
					     smm_page_offset(mm, addr) & ~7UL);
			ret = 1;
		}
		spin_unlock(&pt->ptl);
	}
	up_read(&mm->mmap_lock);
	return ret;
}
