// SPDX-License-Identifier: GPL-2.0
/*
 * VMA operations: map, unmap (splitting VMAs that straddle the range),
 * protect (split, then merge with equal neighbours), zap (MADV_DONTNEED).
 *
 * Each write operation first allocates everything it can need (VMAs, index
 * nodes), so it either fails with nothing changed or completes.  Every
 * change to a field a fault reads happens after smm_vma_start_write() on
 * that VMA, i.e. inside its sequence section and under its write lock.
 * VMAs leave the index by range, one erase per call however many go, so
 * a call over k VMAs reserves and copies O(height) index nodes, not O(k).
 */
#include "smm.h"

/* The first VMA that ends above @addr (find_vma()); mmap lock held. */
struct smm_vma *smm_find_vma(struct smm_mm *mm, unsigned long addr)
{
	struct smm_vma *vma = smm_vt_lookup(mm, addr);

	lockdep_assert_held(&mm->mmap_lock);
	if (vma && addr < vma->vm_end)
		return vma;
	if (vma)
		return list_is_last(&vma->vm_list, &mm->vma_list) ? NULL :
			list_next_entry(vma, vm_list);
	return list_empty(&mm->vma_list) ? NULL :
		list_first_entry(&mm->vma_list, struct smm_vma, vm_list);
}

static struct smm_vma *vma_next(struct smm_mm *mm, struct smm_vma *vma)
{
	return list_is_last(&vma->vm_list, &mm->vma_list) ? NULL :
		list_next_entry(vma, vm_list);
}

static struct smm_vma *vma_prev(struct smm_mm *mm, struct smm_vma *vma)
{
	return vma->vm_list.prev == &mm->vma_list ? NULL :
		list_prev_entry(vma, vm_list);
}

/* Puts a new, write-started VMA into the index and the list. */
void smm_vma_link(struct smm_mm *mm, struct smm_vma *vma,
		  struct smm_vma *prev)
{
	smm_vt_insert(mm, vma);
	if (prev)
		list_add(&vma->vm_list, &prev->vm_list);
	else
		list_add(&vma->vm_list, &mm->vma_list);
	mm->nr_vmas++;
}

/*
 * Takes @vma off the list and marks it detached; the caller then erases
 * it from the index with its neighbours in one smm_vt_erase_range().  It
 * is freed through RCU at write unlock (its sequence stays odd, so no
 * speculative fault can validate it).
 */
static void vma_detach(struct smm_mm *mm, struct smm_vma *vma)
{
	smm_vma_start_write(vma);
	WRITE_ONCE(vma->detached, true);
	list_del(&vma->vm_list);
	mm->nr_vmas--;
}

/*
 * Erases the @nr VMAs that start in [start, end), all detached by now.
 * Every one is write-started and marked detached before this one publish
 * of the new root: a lockless reader still in the old tree finds each of
 * them whole or detached, never half-unlinked, and the new tree has none.
 */
static void vma_erase_detached(struct smm_mm *mm, unsigned long start,
			       unsigned long end, unsigned long nr)
{
	WARN_ON(smm_vt_erase_range(mm, start, end) != nr);
}

/*
 * Splits @vma at @addr; @new becomes [addr, end), @vma keeps the start.
 * With an anon_vma, both halves' chains change under the root's lock,
 * taken after both are write-started; @spare holds the new half's chains.
 */
/*
 * vma_adjust()'s anon_vma lock: the root's, whose rwsem guards the trees
 * of every anon_vma under it (rmap.c).  The knob takes the VMA's own, as
 * 2.6.34 did; returns the anon_vma locked, for smm_anon_unlock_write().
 */
static struct smm_anon_vma *vma_adjust_lock(struct smm_anon_vma *av)
{
	if (smm_bug(SHADOWMM_BUG_ANON_VMA_OWN_LOCK)) {
		down_write(&av->rwsem);
		return av;
	}
	smm_anon_lock_write(av);
	return av->root;
}

static void vma_adjust_unlock(struct smm_anon_vma *locked)
{
	up_write(&locked->rwsem);
}

static void vma_split(struct smm_mm *mm, struct smm_vma *vma,
		      struct smm_vma *new, unsigned long addr,
		      struct list_head *spare)
{
	struct smm_anon_vma *av = vma->anon_vma, *locked = NULL;

	smm_vma_start_write(vma);
	new->vm_start = addr;
	new->vm_end = vma->vm_end;
	new->vm_prot = vma->vm_prot;
	new->vm_uffd = vma->vm_uffd;
	new->vm_pgoff = smm_vma_index(vma, addr);
	smm_vma_start_write(new);
	if (av) {
		locked = vma_adjust_lock(av);
		smm_vma_chains_remove(vma);
	}
	/* Both halves are write-started, so the overlap is never seen. */
	smm_vma_link(mm, new, vma);
	WRITE_ONCE(vma->vm_end, addr);
	if (av) {
		smm_anon_vma_clone(new, vma, spare);
		smm_vma_chains_insert(vma);
		vma_adjust_unlock(locked);
	}
}

/*
 * Absorbs the run @first..@last that follows @vma (adjacent, same
 * protection, anon_vma @run_anon or none) into @vma.  Every VMA is
 * write-started before the anon_vma lock is taken.
 */
static void vma_merge_run(struct smm_mm *mm, struct smm_vma *vma,
			  struct smm_vma *first, struct smm_vma *last,
			  struct smm_anon_vma *run_anon)
{
	unsigned long start = first->vm_start, end = last->vm_end, nr = 0;
	struct smm_vma *v, *next;

	smm_vma_start_write(vma);
	for (v = first; ; v = vma_next(mm, v)) {
		smm_vma_start_write(v);
		if (v == last)
			break;
	}
	if (run_anon) {
		struct smm_anon_vma *locked = vma_adjust_lock(run_anon);

		smm_vma_chains_remove(vma);
		for (v = first; ; v = vma_next(mm, v)) {
			smm_anon_vma_merge(vma, v);
			if (v == last)
				break;
		}
		WRITE_ONCE(vma->vm_end, end);
		smm_vma_chains_insert(vma);
		vma_adjust_unlock(locked);
	}
	v = first;
	for (;;) {
		next = vma_next(mm, v);
		vma_detach(mm, v);
		nr++;
		if (v == last)
			break;
		v = next;
	}
	/* With an anon_vma, done above under its lock, where rmap sees it. */
	if (!run_anon)
		WRITE_ONCE(vma->vm_end, end);
	vma_erase_detached(mm, start, end, nr);
}

static bool vma_limit_reached(struct smm_mm *mm, unsigned long more)
{
	return mm->limits.max_vmas && mm->nr_vmas + more > mm->limits.max_vmas;
}

static bool range_is_free(struct smm_mm *mm, unsigned long addr,
			  unsigned long len)
{
	struct smm_vma *vma = smm_find_vma(mm, addr);

	return !vma || vma->vm_start >= addr + len;
}

/*
 * First fit from a moving hint, bottom-up: sequential maps cost one index
 * lookup; the hint moves back down when a hole opens below it.
 */
static unsigned long get_unmapped_area(struct smm_mm *mm, unsigned long hint,
				       unsigned long len)
{
	unsigned long addr;
	int pass;

	if (hint >= SMM_MMAP_MIN_ADDR && hint <= SMM_TASK_SIZE - len &&
	    range_is_free(mm, hint, len))
		return hint;
	addr = mm->free_area_hint;
	for (pass = 0; pass < 2; pass++) {
		struct smm_vma *vma = smm_find_vma(mm, addr);

		for (;;) {
			if (addr > SMM_TASK_SIZE - len)
				break;
			if (!vma || addr + len <= vma->vm_start)
				return addr;
			addr = vma->vm_end;
			vma = vma_next(mm, vma);
		}
		addr = SMM_MMAP_MIN_ADDR;
	}
	return 0;
}

static void merge_range(struct smm_mm *mm, struct smm_vma *vma,
			unsigned long end);

int smm_map(struct smm_mm *mm, unsigned long addr, unsigned long len,
	    unsigned long prot, unsigned long flags, unsigned long *out)
{
	struct smm_vma *vma, *prev;
	unsigned long start;
	int ret;

	vma = smm_vma_alloc(mm);
	if (!vma)
		return -ENOMEM;

	smm_mmap_write_lock(mm);
	ret = -EINVAL;
	if (!smm_range_aligned(mm, addr, len))
		goto fail;
	/*
	 * The budget counts pages of the space's own size; with swap behind
	 * it a mapping may be larger (reclaim makes room).
	 */
	ret = -ENOMEM;
	if (READ_ONCE(mm->mem->max_pages) &&
	    !READ_ONCE(mm->mem->swap_slots) &&
	    len >> mm->geom.page_shift > READ_ONCE(mm->mem->max_pages))
		goto fail;
	if (vma_limit_reached(mm, 1))
		goto fail;
	if (flags & SHADOWMM_MAP_FIXED) {
		start = addr;
		ret = -EEXIST;
		if (!range_is_free(mm, start, len))
			goto fail;
	} else {
		start = get_unmapped_area(mm, addr, len);
		ret = -ENOMEM;
		if (!start)
			goto fail;
	}
	/* The insert, and the one erase a merge with the neighbours costs. */
	ret = smm_vt_reserve(mm, 1, 1);
	if (ret)
		goto fail;

	vma->vm_start = start;
	vma->vm_end = start + len;
	vma->vm_prot = prot;
	vma->vm_pgoff = start >> mm->geom.page_shift;
	smm_vma_start_write(vma);
	prev = smm_vt_lookup(mm, start);
	smm_vma_link(mm, vma, prev);
	/*
	 * As mmap_region() does: a mapping next to one it could continue
	 * joins it, so a program that maps piece by piece (ebizzy's records,
	 * malloc's arenas) has the few VMAs, and their anon_vma, the kernel
	 * would give it, not one per call.  Linked first and merged by the
	 * one path protect uses: the new VMA has no anon_vma, so it joins
	 * either side, and both only when theirs agree.
	 */
	merge_range(mm, prev ? prev : vma, start + len);
	if (!(flags & SHADOWMM_MAP_FIXED))
		mm->free_area_hint = start + len;
	smm_count(mm, SHADOWMM_EV_OP_MAP);
	smm_mmap_write_unlock(mm);
	*out = start;
	return 0;

fail:
	smm_mmap_write_unlock(mm);
	smm_vma_free(vma);
	return ret;
}

/* VMAs intersecting [start, end), and whether the range has holes. */
static unsigned long count_vmas(struct smm_mm *mm, unsigned long start,
				unsigned long end, bool *holes)
{
	struct smm_vma *vma = smm_find_vma(mm, start);
	unsigned long n = 0, covered = start;

	*holes = false;
	for (; vma && vma->vm_start < end; vma = vma_next(mm, vma)) {
		if (vma->vm_start > covered)
			*holes = true;
		covered = vma->vm_end;
		n++;
	}
	if (covered < end)
		*holes = true;
	return n;
}

/*
 * The last VMA that starts below @end.  Taken from the index, not by a
 * walk along the list, so that finding both ends of a range is O(log n)
 * however many VMAs lie between them.
 */
static struct smm_vma *vma_last_below(struct smm_mm *mm, unsigned long end)
{
	return smm_vt_lookup(mm, end - 1);
}

/* VMA splits at @start and @end need; 0, 1 or 2. */
static unsigned int splits_needed(struct smm_mm *mm, unsigned long start,
				  unsigned long end)
{
	struct smm_vma *vma = smm_find_vma(mm, start);
	unsigned int n = 0;

	if (!vma || vma->vm_start >= end)
		return 0;
	if (vma->vm_start < start)
		n++;
	if (vma_last_below(mm, end)->vm_end > end)
		n++;
	return n;
}

/*
 * Allocates what an operation on [start, end) can need: @nr_new VMAs and
 * index nodes for the splits plus @erases range erases (each O(height),
 * whatever number of VMAs it unlinks).
 */
static int prealloc(struct smm_mm *mm, struct smm_vma **new,
		    unsigned int nr_new, unsigned long erases,
		    struct list_head *spare, unsigned long chains)
{
	unsigned int i;

	for (i = 0; i < nr_new; i++) {
		new[i] = smm_vma_alloc(mm);
		if (!new[i])
			return -ENOMEM;
	}
	for (; chains; chains--) {
		struct smm_avc *avc = smm_avc_alloc();

		if (!avc)
			return -ENOMEM;
		list_add(&avc->same_vma, spare);
	}
	return smm_vt_reserve(mm, nr_new, erases);
}

static void prealloc_release(struct smm_vma **new, unsigned int nr,
			     struct list_head *spare)
{
	struct smm_avc *avc, *tmp;
	unsigned int i;

	for (i = 0; i < nr; i++)
		if (new[i])
			smm_vma_free(new[i]);
	list_for_each_entry_safe(avc, tmp, spare, same_vma) {
		list_del(&avc->same_vma);
		smm_avc_free(avc);
	}
}

/* anon_vma chains the splits at @start and @end give their new halves. */
static unsigned long split_chains(struct smm_mm *mm, unsigned long start,
				  unsigned long end)
{
	struct smm_vma *vma = smm_find_vma(mm, start), *last;
	unsigned long n = 0;

	if (!vma || vma->vm_start >= end)
		return 0;
	if (vma->vm_start < start)
		n += smm_vma_nr_chains(vma);
	last = vma_last_below(mm, end);
	if (last->vm_end > end)
		n += smm_vma_nr_chains(last);
	return n;
}

/* Makes [start, end) whole VMAs; returns the first. */
static struct smm_vma *split_range(struct smm_mm *mm, unsigned long start,
				   unsigned long end, struct smm_vma **new,
				   struct list_head *spare)
{
	struct smm_vma *vma = smm_find_vma(mm, start), *last = NULL;
	unsigned int used = 0;

	if (!vma || vma->vm_start >= end)
		return NULL;
	if (vma->vm_start < start) {
		vma_split(mm, vma, new[used], start, spare);
		new[used++] = NULL;
		vma = vma_next(mm, vma);
	}
	last = vma_last_below(mm, end);
	if (last->vm_end > end) {
		vma_split(mm, last, new[used], end, spare);
		new[used++] = NULL;
	}
	return vma;
}

/*
 * unmap_region(): zap, tables, then the shootdown and the frees.  The
 * range's VMAs are detached (@vmas holds them, maybe among others), so no
 * fault refills it, under either lock mode.
 */
static void unmap_region(struct smm_mm *mm, struct list_head *vmas,
			 unsigned long start, unsigned long end,
			 unsigned long floor, unsigned long ceiling)
{
	struct smm_vma *vma;
	struct smm_gather g;

	smm_gather_init(&g, mm);
	smm_zap_range(&g, start, end);
	/* Out of the rmap once their pages are gone (unlink_anon_vmas()). */
	list_for_each_entry(vma, vmas, vm_wlist)
		if (vma->detached)
			smm_unlink_anon_vmas(vma);
	smm_free_pgtables(&g, start, end, floor, ceiling);
	smm_gather_finish(&g);
}

int smm_unmap(struct smm_mm *mm, unsigned long start, unsigned long len)
{
	unsigned long end = start + len, floor, ceiling, n = 0;
	struct smm_vma *new[2] = { NULL, NULL }, *vma, *prev, *next, *tmp;
	unsigned int splits;
	LIST_HEAD(detached);
	LIST_HEAD(spare);
	int ret;

	smm_mmap_write_lock(mm);
	ret = -EINVAL;
	if (!smm_range_aligned(mm, start, len))
		goto out;
	vma = smm_find_vma(mm, start);
	ret = 0;
	if (!vma || vma->vm_start >= end)
		goto out;
	splits = splits_needed(mm, start, end);
	/* Punching a hole in one VMA makes two: the map count grows. */
	ret = -ENOMEM;
	if (splits == 2 && vma == vma_last_below(mm, end) &&
	    vma_limit_reached(mm, 1))
		goto out;
	ret = prealloc(mm, new, splits, 1, &spare,
		       split_chains(mm, start, end));
	if (ret)
		goto out;

	vma = split_range(mm, start, end, new, &spare);
	prev = vma_prev(mm, vma);
	/* Whole VMAs now, the range's only walk along the list. */
	while (vma && vma->vm_start < end) {
		next = vma_next(mm, vma);
		vma_detach(mm, vma);
		vma = next;
		n++;
	}
	vma_erase_detached(mm, start, end, n);
	next = vma;
	floor = prev ? prev->vm_end : 0;
	ceiling = next ? next->vm_start : SMM_TASK_SIZE;
	if (start < mm->free_area_hint)
		mm->free_area_hint = max(start, SMM_MMAP_MIN_ADDR);
	smm_count(mm, SHADOWMM_EV_OP_UNMAP);
	if (smm_model(mm, SHADOWMM_MODEL_UNMAP_WRITE)) {
		unmap_region(mm, &mm->write_vmas, start, end, floor, ceiling);
		goto out;
	}
	/*
	 * Readers may come back now: the tree no longer has the range, and
	 * no writer can map into it before our up_read(), so what the zap
	 * and the table frees clear stays clear.  prev and next may change
	 * under read (a fault's anon_vma), but not their bounds.
	 */
	smm_mmap_write_downgrade(mm, &detached);
	unmap_region(mm, &detached, start, end, floor, ceiling);
	list_for_each_entry_safe(vma, tmp, &detached, vm_wlist) {
		list_del(&vma->vm_wlist);
		smm_vma_free(vma);
	}
	up_read(&mm->mmap_lock);
	prealloc_release(new, 2, &spare);
	return 0;
out:
	smm_mmap_write_unlock(mm);
	prealloc_release(new, 2, &spare);
	return ret;
}

/*
 * Merges VMAs equal to their neighbour (protection, userfault flags, and
 * anon_vma where both have one) from @vma up to @end, each run into its
 * first VMA with one index erase.  After a protect of a range without holes the runs
 * are bounded by merge_runs_max(), which is what smm_protect() reserves
 * for.
 */
static void merge_range(struct smm_mm *mm, struct smm_vma *vma,
			unsigned long end)
{
	while (vma) {
		struct smm_vma *next = vma_next(mm, vma), *last = NULL, *n;
		struct smm_anon_vma *run_anon = vma->anon_vma;

		if (!next || next->vm_start > end)
			break;
		for (n = next; n && n->vm_start <= end &&
		     n->vm_start == (last ? last : vma)->vm_end &&
		     n->vm_prot == vma->vm_prot &&
		     n->vm_uffd == vma->vm_uffd &&
		     smm_anon_mergeable(vma, n, run_anon);
		     n = vma_next(mm, n)) {
			last = n;
			if (!run_anon)
				run_anon = n->anon_vma;
		}
		if (last)
			vma_merge_run(mm, vma, next, last, run_anon);
		vma = vma_next(mm, vma);
	}
}

/*
 * Merge runs a protect of [start, end) can leave (merge_range()): one,
 * plus one wherever the anon_vmas of the range and its neighbours change
 * (VMAs without one join either side).  Without faults, or with one
 * anon_vma, a single erase: O(height) nodes however many VMAs merge.
 */
static unsigned long merge_runs_max(struct smm_mm *mm, unsigned long start,
				    unsigned long end)
{
	struct smm_vma *vma = smm_find_vma(mm, start), *prev;
	struct smm_anon_vma *seen = NULL;
	unsigned long runs = 1;

	if (!vma)
		return runs;
	prev = vma_prev(mm, vma);
	if (prev)
		vma = prev;
	for (; vma && vma->vm_start <= end; vma = vma_next(mm, vma)) {
		if (!vma->anon_vma)
			continue;
		if (seen && vma->anon_vma != seen)
			runs++;
		seen = vma->anon_vma;
	}
	return runs;
}

/*
 * Sets protection @value (or, @uffd, the userfault flags) on every VMA
 * in [start, end), splitting at the ends and merging what became equal.
 * mmap write lock held; holes are the caller's to refuse.  -ENOMEM if
 * the splits would pass the VMA limit or an allocation fails, and then
 * nothing changed.
 */
static int change_range(struct smm_mm *mm, unsigned long start,
			unsigned long end, bool uffd, unsigned long value)
{
	struct smm_vma *new[2] = { NULL, NULL }, *vma, *prev;
	unsigned long erases;
	unsigned int splits;
	LIST_HEAD(spare);
	bool holes;
	int ret;

	lockdep_assert_held_write(&mm->mmap_lock);
	/*
	 * Merging unlinks by range: one erase per run, whatever it covers.
	 * Userfault flags change between any two VMAs (and holes separate
	 * an unregister's runs), so there a run per VMA, and the two
	 * neighbours', bounds them.
	 */
	erases = uffd ? count_vmas(mm, start, end, &holes) + 2 :
			merge_runs_max(mm, start, end);
	splits = splits_needed(mm, start, end);
	if (vma_limit_reached(mm, splits))
		return -ENOMEM;
	ret = prealloc(mm, new, splits, erases, &spare,
		       split_chains(mm, start, end));
	if (ret)
		goto out;

	vma = split_range(mm, start, end, new, &spare);
	prev = vma ? vma_prev(mm, vma) : NULL;
	for (; vma && vma->vm_start < end; vma = vma_next(mm, vma)) {
		if ((uffd ? vma->vm_uffd : vma->vm_prot) == value)
			continue;
		smm_vma_start_write(vma);
		if (uffd) {
			WRITE_ONCE(vma->vm_uffd, value);
			continue;
		}
		WRITE_ONCE(vma->vm_prot, value);
		smm_change_prot_range(mm, vma->vm_start, vma->vm_end, value);
	}
	merge_range(mm, prev ? prev : smm_find_vma(mm, start), end);
out:
	prealloc_release(new, 2, &spare);
	return ret;
}

int smm_protect(struct smm_mm *mm, unsigned long start, unsigned long len,
		unsigned long prot)
{
	unsigned long end = start + len;
	bool holes;
	int ret;

	smm_mmap_write_lock(mm);
	ret = -EINVAL;
	if (!smm_range_aligned(mm, start, len))
		goto out;
	count_vmas(mm, start, end, &holes);
	/* Like mprotect(2): a hole anywhere fails the whole call. */
	ret = -ENOMEM;
	if (holes)
		goto out;
	ret = change_range(mm, start, end, false, prot);
	if (!ret)
		smm_count(mm, SHADOWMM_EV_OP_PROTECT);
out:
	smm_mmap_write_unlock(mm);
	return ret;
}

/*
 * UFFD_REGISTER (@flags SHADOWMM_UFFD_MISSING) and UNREGISTER (0), the
 * caller holding the mmap write lock.  Registering needs the whole range
 * mapped (-ENOMEM) and none of it registered (-EBUSY); unregistering
 * takes what it finds.
 */
int smm_vma_set_uffd(struct smm_mm *mm, unsigned long start,
		     unsigned long end, unsigned long flags)
{
	struct smm_vma *vma;
	bool holes;

	lockdep_assert_held_write(&mm->mmap_lock);
	if (!smm_range_aligned(mm, start, end - start))
		return -EINVAL;
	if (flags) {
		count_vmas(mm, start, end, &holes);
		if (holes)
			return -ENOMEM;
		vma = smm_find_vma(mm, start);
		for (; vma && vma->vm_start < end; vma = vma_next(mm, vma))
			if (vma->vm_uffd)
				return -EBUSY;
	}
	return change_range(mm, start, end, true, flags);
}

/*
 * MADV_DONTNEED: frees the pages, keeps the VMAs.  A read-side operation,
 * as in the kernel, so faults may run (and refill) concurrently.
 */
int smm_zap(struct smm_mm *mm, unsigned long start, unsigned long len)
{
	unsigned long end = start + len;
	struct smm_gather g;
	struct smm_vma *vma;
	bool holes;

	down_read(&mm->mmap_lock);
	if (!smm_range_aligned(mm, start, len)) {
		up_read(&mm->mmap_lock);
		return -EINVAL;
	}
	count_vmas(mm, start, end, &holes);
	if (holes) {
		up_read(&mm->mmap_lock);
		return -ENOMEM;
	}
	smm_gather_init(&g, mm);
	for (vma = smm_find_vma(mm, start); vma && vma->vm_start < end;
	     vma = vma_next(mm, vma))
		smm_zap_range(&g, max(start, vma->vm_start),
			      min(end, vma->vm_end));
	smm_gather_finish(&g);
	smm_count(mm, SHADOWMM_EV_OP_ZAP);
	up_read(&mm->mmap_lock);
	return 0;
}

/*
 * Teardown: nobody else uses @mm any more, so the index goes wholesale
 * instead of one copy-on-write erase per VMA (which could need memory).
 */
void smm_unmap_all(struct smm_mm *mm)
{
	struct smm_vma *vma, *tmp;
	struct smm_gather g;

	smm_mmap_write_lock(mm);
	smm_gather_init(&g, mm);
	smm_zap_range(&g, 0, SMM_TASK_SIZE);
	list_for_each_entry(vma, &mm->vma_list, vm_list)
		smm_unlink_anon_vmas(vma);
	smm_free_all_pgtables(&g);
	smm_gather_finish(&g);
	list_for_each_entry_safe(vma, tmp, &mm->vma_list, vm_list) {
		list_del(&vma->vm_list);
		smm_vma_free(vma);
	}
	mm->nr_vmas = 0;
	smm_vt_destroy(mm);
	smm_mmap_write_unlock(mm);
}

int smm_mm_lookup(struct smm_mm *mm, unsigned long addr,
		  struct smm_vma_info *out)
{
	struct smm_vma *vma;
	int found = 0;

	rcu_read_lock();
	vma = smm_vt_lookup(mm, addr);
	if (vma && addr < READ_ONCE(vma->vm_end)) {
		out->start = READ_ONCE(vma->vm_start);
		out->end = READ_ONCE(vma->vm_end);
		out->prot = READ_ONCE(vma->vm_prot);
		found = 1;
	}
	rcu_read_unlock();
	return found;
}

long smm_mm_vmas(struct smm_mm *mm, struct smm_vma_info *out, long max)
{
	struct smm_vma *vma;
	long n = 0;

	down_read(&mm->mmap_lock);
	list_for_each_entry(vma, &mm->vma_list, vm_list) {
		if (n < max) {
			out[n].start = vma->vm_start;
			out[n].end = vma->vm_end;
			out[n].prot = vma->vm_prot;
		}
		n++;
	}
	up_read(&mm->mmap_lock);
	return n;
}
