// SPDX-License-Identifier: GPL-2.0
/*
 * FORK: a child space that is a copy of its parent, as dup_mmap() makes
 * one.  The child shares the parent's memory (struct smm_mem: budget,
 * LRU, swap store), gets a copy of every VMA, with anon_vma chains to
 * every anon_vma of the parent's VMA plus one of its own under the same
 * root (anon_vma_fork()), and a copy of the page tables in which every
 * private page is mapped read-only in both spaces (copy_present_pte()):
 * the first write in either copies it, or reuses it once it is the
 * writer's alone (cow.c).  Swap entries are copied with one more
 * reference on their slot.
 *
 * The parent's mmap lock is held for write throughout, and each of its
 * VMAs is write-started before its page tables are copied (mainline since
 * 6.4.x, "fork: lock VMAs of the parent process when forking"): vmalock
 * and spf faults of the parent's threads back off until the copy is
 * done.  The bug that fix closed, the 6.4 fork that left the VMAs
 * unlocked, is the fork_no_vma_lock knob: a parent thread's fault then
 * changes the page tables in the middle of the copy, and the child sees
 * the parent's memory as it never was at any one moment.
 *
 * Present pages may still be written by the parent's threads while the
 * copy runs (the MMU path needs no lock), until their PTE is write-
 * protected under its lock here: each page is copied at one moment, and a
 * thread that wrote it after that faults and waits for the fork to end.
 * So what the child sees of each thread's writes is a prefix of them.
 */
#include "smm.h"

/*
 * The child's chains, before the root's lock is taken: one per chain of
 * the parent's VMA, one for its own anon_vma, and that anon_vma.
 */
struct fork_anon {
	struct list_head avcs;
	struct smm_anon_vma *av;
};

static void fork_anon_release(struct smm_mm *mm, struct fork_anon *fa)
{
	struct smm_avc *avc, *tmp;

	list_for_each_entry_safe(avc, tmp, &fa->avcs, same_vma) {
		list_del(&avc->same_vma);
		smm_avc_free(avc);
	}
	smm_anon_vma_prepare_release(mm, fa->av, NULL);
	fa->av = NULL;
}

static int fork_anon_alloc(struct smm_mm *child, struct smm_vma *vma,
			   struct fork_anon *fa)
{
	unsigned long n = smm_vma_nr_chains(vma) + 1;
	struct smm_avc *avc;

	INIT_LIST_HEAD(&fa->avcs);
	fa->av = NULL;
	if (!vma->anon_vma)
		return 0;
	while (n--) {
		avc = smm_avc_alloc();
		if (!avc)
			goto nomem;
		list_add(&avc->same_vma, &fa->avcs);
	}
	fa->av = smm_anon_vma_alloc(child);
	if (fa->av)
		return 0;
nomem:
	fork_anon_release(child, fa);
	return -ENOMEM;
}

/*
 * One PTE table's entries in [start, end), both tables' locks held: the
 * parent's private pages lose their write bit in both spaces and gain a
 * mapping, swap entries gain a slot reference.  The child's PTEs are old
 * (pte_mkold()): its own accesses will make them young.
 */
static void copy_pte_table(struct smm_mm *child, struct smm_mm *parent,
			   struct smm_pt *dst, struct smm_pt *src,
			   unsigned long start, unsigned long end)
{
	unsigned long addr, size = smm_page_size(parent);
	unsigned long pages = 0, swaps = 0;

	lockdep_assert_held(&src->ptl);
	lockdep_assert_held(&dst->ptl);
	for (addr = start; addr < end; addr += size) {
		unsigned long *sp = smm_pte_slot(parent, src, addr);
		unsigned long *dp = smm_pte_slot(child, dst, addr);
		unsigned long pte = *sp;

		if (!pte)
			continue;
		if (smm_pte_is_swap(pte)) {
			smm_swap_slot_dup(parent->mem,
					  pte >> SMM_PTE_SWAP_SHIFT);
			swaps++;
		} else {
			struct smm_page *page = smm_pte_to_page(pte);

			atomic_long_inc(&page->refcount);
			atomic_long_inc(&page->mapcount);
			if (pte & SMM_PTE_WRITE) {
				pte &= ~SMM_PTE_WRITE;
				WRITE_ONCE(*sp, pte);
			}
			pte &= ~SMM_PTE_YOUNG;
			pages++;
		}
		smm_set_pte(dp, pte);
		WRITE_ONCE(dst->nr_used, dst->nr_used + 1);
	}
	smm_count_add(parent, SHADOWMM_EV_FORK_PAGES, pages);
	smm_count_add(parent, SHADOWMM_EV_FORK_SWAP, swaps);
}

/* copy_page_range() for one VMA; -ENOMEM if a child table is missing. */
static int copy_page_range(struct smm_mm *child, struct smm_mm *parent,
			   struct smm_vma *vma)
{
	unsigned long span = smm_pt_span(parent, SMM_PT_LEVELS - 2);
	unsigned long addr = vma->vm_start;

	while (addr < vma->vm_end) {
		unsigned long next = min((addr & ~(span - 1)) + span,
					 vma->vm_end);
		struct smm_pt *src = smm_pt_walk(parent, addr), *dst;

		/*
		 * Unlocked: a speculative fault that validated its VMA
		 * before our write-start may still fill a table read as
		 * empty here.  Its page is then the parent's alone, as if it
		 * had faulted just after the FORK; the lock below orders
		 * every fault on a table we copy.
		 */
		if (src && READ_ONCE(src->nr_used)) {
			/* May sleep and reclaim: no spinlock, no anon lock. */
			dst = smm_pt_walk_alloc(child, addr);
			if (!dst)
				return -ENOMEM;
			spin_lock(&src->ptl);
			spin_lock_nested(&dst->ptl, SINGLE_DEPTH_NESTING);
			copy_pte_table(child, parent, dst, src, addr, next);
			spin_unlock(&dst->ptl);
			spin_unlock(&src->ptl);
			smm_race_window(SMM_RW_FORK_COPY);
			cond_resched();
		}
		addr = next;
	}
	return 0;
}

/*
 * One VMA of the parent, write-started (unless the knob), copied into
 * the child: the VMA, its chains, then its page tables, in that order, so
 * that reclaim, which finds pages through the chains, sees every copied
 * PTE.
 */
static int fork_vma(struct smm_mm *child, struct smm_mm *parent,
		    struct smm_vma *vma)
{
	struct smm_vma *new = smm_vma_alloc(child);
	struct fork_anon fa;
	int ret = -ENOMEM;

	if (!new)
		return ret;
	ret = fork_anon_alloc(child, vma, &fa);
	if (ret)
		goto free_vma;
	ret = smm_vt_reserve(child, 1, 0);
	if (ret)
		goto free_anon;
	new->vm_start = vma->vm_start;
	new->vm_end = vma->vm_end;
	new->vm_prot = vma->vm_prot;
	new->vm_pgoff = vma->vm_pgoff;
	/*
	 * vm_uffd stays 0: the child has no userfault channel (as the
	 * kernel's dup_userfaultfd() without UFFD_FEATURE_EVENT_FORK).
	 */
	if (vma->anon_vma) {
		smm_anon_lock_write(vma->anon_vma);
		smm_anon_vma_clone(new, vma, &fa.avcs);
		smm_anon_vma_fork_link(new, fa.av, &fa.avcs);
		smm_anon_unlock_write(vma->anon_vma);
		fa.av = NULL;
	}
	smm_vma_start_write(new);
	/* The parent's VMAs come in address order: each goes last. */
	smm_vma_link(child, new, list_empty(&child->vma_list) ? NULL :
			   list_last_entry(&child->vma_list, struct smm_vma,
					   vm_list));
	/* From here the child's teardown undoes whatever is copied. */
	return copy_page_range(child, parent, vma);

free_anon:
	fork_anon_release(child, &fa);
free_vma:
	smm_vma_free(new);
	return ret;
}

/*
 * FORK.  A failure leaves the parent as it was, but for write bits its
 * PTEs lost (the next write reuses the page, as after a child's exit).
 */
int smm_fork(struct smm_mm *parent, struct smm_mm **childp)
{
	struct smm_mm *child;
	struct smm_vma *vma;
	int ret;

	ret = smm_mm_create_child(parent, &child);
	if (ret)
		return ret;
	smm_mmap_write_lock(parent);
	/* A SET_GEOMETRY came first: the child has the old one. */
	if (child->geom.id != parent->geom.id) {
		ret = -EAGAIN;
		goto out;
	}
	smm_mmap_write_lock_nested(child);
	list_for_each_entry(vma, &parent->vma_list, vm_list) {
		/*
		 * The 6.4.x fix: the parent's vmalock and spf faults in this
		 * VMA wait (or abort) until the copy is complete.
		 */
		if (!smm_bug(SHADOWMM_BUG_FORK_NO_VMA_LOCK))
			smm_vma_start_write(vma);
		/* Tables populated by faults that got in first are seen. */
		smm_pt_sync_populators(parent);
		ret = fork_vma(child, parent, vma);
		if (ret)
			break;
	}
	child->free_area_hint = parent->free_area_hint;
	smm_mmap_write_unlock(child);
	/*
	 * dup_mmap()'s flush_tlb_mm(): the parent's TLBs may still write
	 * pages now shared, until here, under the write lock.  Its
	 * threads' stores up to this point are the child's snapshot.
	 */
	smm_tlb_flush_mm(parent);
out:
	smm_mmap_write_unlock(parent);
	if (ret) {
		smm_mm_destroy(child);
		return ret;
	}
	smm_count(parent, SHADOWMM_EV_FORK);
	*childp = child;
	return 0;
}
