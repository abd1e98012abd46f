// SPDX-License-Identifier: GPL-2.0
/*
 * The shadow swap store: slots in memory, with a settable latency per
 * page read or written, so a swap-in really sleeps.  An all-zero page
 * takes no memory (zram's same-filled pages); any other is a copy.
 *
 * A slot is in use while swap PTEs refer to it (@count) or a page is in
 * its swap cache (@page, one page reference held).  The swap cache is
 * where a page waits while it is written out (a fault meanwhile waits
 * for the copy to be taken, then maps it back without a read) and where
 * a page being read in is found by every fault on the same entry, which
 * then waits for @uptodate instead of reading twice.  @io marks either
 * I/O in flight: whoever clears it frees the slot if no PTE refers to it
 * any more; otherwise the last PTE to go (a zap, a swap-in) does.
 *
 * Lock order: PTE lock -> swap_lock -> lru_lock.  The slot array is
 * replaced only by SET_MEMORY with no slot in use.
 */
#include "smm.h"

struct smm_swap_slot {
	void *data;		/* written-out contents, NULL: all zero */
	unsigned long count;	/* swap PTEs */
	struct smm_page *page;	/* swap cache, a reference held */
	long next_free;
	bool used;
	bool io;
	unsigned long check_ptes;	/* smm_mm_validate()'s count */
};

static const char *const smm_swap_policy_names[] = {
	[SHADOWMM_SWAP_FALLBACK] = "fallback",
	[SHADOWMM_SWAP_DROP_RETRY] = "drop-retry",
	[SHADOWMM_SWAP_VMA_RETRY] = "vma-retry",
};

const char *smm_swap_policy_name(unsigned int p)
{
	return p < SHADOWMM_NR_SWAP_POLICIES ? smm_swap_policy_names[p] : NULL;
}

int smm_swap_policy_parse(const char *name)
{
	return smm_name_index(smm_swap_policy_names, SHADOWMM_NR_SWAP_POLICIES,
			      name);
}

int smm_set_swap_policy(struct smm_mm *mm, unsigned int policy)
{
	if (policy >= SHADOWMM_NR_SWAP_POLICIES)
		return -EINVAL;
	WRITE_ONCE(mm->swap_policy, policy);
	return 0;
}

/* The swap store's size limit: a slot table of at most 64 MiB. */
#define SMM_SWAP_SLOTS_MAX	BIT(20)

/*
 * The budget and swap store are the family's (struct smm_mem): a FORK
 * child's SET_MEMORY sets its parent's too.
 */
int smm_set_memory(struct smm_mm *mm, const struct shadowmm_memory *want)
{
	struct smm_swap_slot *slots = NULL, *old = NULL;
	struct smm_mem *mem = mm->mem;
	unsigned long i;
	int ret = 0;

	if (want->wmark_low > want->wmark_high ||
	    (want->max_pages && want->wmark_high > want->max_pages) ||
	    (!want->max_pages && want->wmark_high) ||
	    want->swap_slots > SMM_SWAP_SLOTS_MAX ||
	    want->swap_latency_us > USEC_PER_SEC)
		return -EINVAL;
	if (want->swap_slots != READ_ONCE(mem->swap_slots) && want->swap_slots) {
		slots = kvcalloc(want->swap_slots, sizeof(*slots), GFP_KERNEL);
		if (!slots)
			return -ENOMEM;
		for (i = 0; i < want->swap_slots; i++)
			slots[i].next_free = i + 1 < want->swap_slots ? i + 1 : -1;
	}
	/* No reclaim runs meanwhile, and no swap-in: no slot is in use. */
	mutex_lock(&mem->reclaim_lock);
	spin_lock(&mem->swap_lock);
	if (want->swap_slots != mem->swap_slots) {
		if (mem->swap_used) {
			ret = -EBUSY;
		} else {
			old = mem->slots;
			mem->slots = slots;
			slots = NULL;
			WRITE_ONCE(mem->swap_slots, want->swap_slots);
			mem->swap_free = want->swap_slots ? 0 : -1;
		}
	}
	if (!ret) {
		WRITE_ONCE(mem->max_pages, want->max_pages);
		WRITE_ONCE(mem->wmark_high, want->wmark_high);
		WRITE_ONCE(mem->wmark_low, want->wmark_low);
		WRITE_ONCE(mem->swap_latency_us, want->swap_latency_us);
	}
	spin_unlock(&mem->swap_lock);
	mutex_unlock(&mem->reclaim_lock);
	kvfree(old);
	kvfree(slots);
	return ret;
}

/* Resident level at which background reclaim starts, and where it stops. */
unsigned long smm_wmark_high(struct smm_mem *mem)
{
	unsigned long max = READ_ONCE(mem->max_pages);
	unsigned long high = READ_ONCE(mem->wmark_high);

	if (!max)
		return ULONG_MAX;
	return high ? high : max - max / 16;
}

unsigned long smm_wmark_low(struct smm_mem *mem)
{
	unsigned long max = READ_ONCE(mem->max_pages);
	unsigned long high = READ_ONCE(mem->wmark_high);

	if (!max)
		return ULONG_MAX;
	return high ? READ_ONCE(mem->wmark_low) : max - max / 8;
}

static struct smm_swap_slot *slot_of(struct smm_mem *mem, unsigned long slot)
{
	return &mem->slots[slot];
}

/*
 * Frees @s if nothing refers to it and no I/O is in flight; returns its
 * swap-cache page, whose reference the caller drops after the lock.
 */
static struct smm_page *slot_maybe_free(struct smm_mem *mem,
					unsigned long slot)
{
	struct smm_swap_slot *s = slot_of(mem, slot);
	struct smm_page *page = s->page;

	lockdep_assert_held(&mem->swap_lock);
	if (s->count || s->io)
		return NULL;
	if (page) {
		WRITE_ONCE(page->swap_slot, -1);
		s->page = NULL;
	}
	kfree(s->data);
	s->data = NULL;
	s->used = false;
	s->next_free = mem->swap_free;
	mem->swap_free = slot;
	mem->swap_used--;
	smm_mem_count(mem, SHADOWMM_EV_SWAP_SLOT_FREE);
	return page;
}

/* A swap PTE of @slot went away (zap, unmap, teardown); PTE lock held. */
void smm_swap_entry_free(struct smm_mem *mem, unsigned long slot)
{
	struct smm_page *page;

	spin_lock(&mem->swap_lock);
	if (WARN_ON(slot >= mem->swap_slots || !slot_of(mem, slot)->count)) {
		spin_unlock(&mem->swap_lock);
		return;
	}
	slot_of(mem, slot)->count--;
	page = slot_maybe_free(mem, slot);
	spin_unlock(&mem->swap_lock);
	if (page)
		smm_put_page(mem, page);
}

/* ---- swap-out (reclaim.c) ---- */

/*
 * Puts isolated @page into the swap cache of a new slot, with write-out
 * in flight, so that the PTEs reclaim turns into swap entries always find
 * it there until the data is in the slot.  The copy's memory is taken
 * now, before any PTE changes, so that the write-out cannot fail once
 * the page is unmapped; it stays hidden in @data (readers look at the
 * swap cache first).  -ENOSPC if the store is full, -ENOMEM.
 */
int smm_swap_out_begin(struct smm_mem *mem, struct smm_page *page)
{
	struct smm_swap_slot *s;
	void *buf;
	long slot;

	/*
	 * No reclaim from reclaim: GFP_NOWAIT, as zram's first try.  Failing
	 * is expected under pressure (the page stays and is tried later), so
	 * no allocation-failure splat: NOWARN.
	 */
	buf = kmalloc(smm_mem_page_size(mem), GFP_NOWAIT | __GFP_NOWARN);
	if (!buf)
		return -ENOMEM;
	spin_lock(&mem->swap_lock);
	slot = mem->swap_free;
	if (slot < 0) {
		spin_unlock(&mem->swap_lock);
		kfree(buf);
		smm_mem_count(mem, SHADOWMM_EV_SWAP_FULL);
		return -ENOSPC;
	}
	s = slot_of(mem, slot);
	mem->swap_free = s->next_free;
	mem->swap_used++;
	s->used = true;
	s->count = 0;
	s->io = true;
	s->data = buf;
	s->page = page;
	atomic_long_inc(&page->refcount);
	WRITE_ONCE(page->swap_slot, slot);
	/*
	 * Locked for write-out (the folio lock reclaim holds through
	 * pageout()): a fault that finds it in the swap cache waits until
	 * the copy is taken, so nothing writes the page while it is read.
	 */
	WRITE_ONCE(page->uptodate, false);
	spin_unlock(&mem->swap_lock);
	smm_mem_count(mem, SHADOWMM_EV_SWAP_SLOT_ALLOC);
	return 0;
}

/* The swap entry reclaim writes into a PTE for @page. */
unsigned long smm_swap_entry(struct smm_page *page)
{
	return ((unsigned long)page->swap_slot << SMM_PTE_SWAP_SHIFT) |
	       SMM_PTE_SWAP;
}

/* One more swap PTE refers to @slot (FORK's copy); PTE lock held. */
void smm_swap_slot_dup(struct smm_mem *mem, unsigned long slot)
{
	spin_lock(&mem->swap_lock);
	slot_of(mem, slot)->count++;
	spin_unlock(&mem->swap_lock);
}

/* One more swap PTE refers to @page's slot (reclaim's); PTE lock held. */
void smm_swap_entry_dup(struct smm_mem *mem, struct smm_page *page)
{
	smm_swap_slot_dup(mem, page->swap_slot);
}

/*
 * Copies the page's words to @dst; false if they were all zero.  A word
 * at a time with READ_ONCE(): the page is unmapped here, but not every
 * unmapping was ours.  A zap drops the mapcount under the PTE lock
 * before its TLB flush, so a CPU may still store through an old entry
 * while we read (its page then has no swap entry, and nobody reads what
 * we wrote out); and the last store before that zap is ordered before
 * our read only by the PTE lock the zap took, not by the mapcount we
 * read.
 */
static bool page_copy_out(u64 *dst, const void *virt, unsigned long size)
{
	const u64 *p = virt;
	unsigned long i;
	u64 any = 0;

	for (i = 0; i < size / sizeof(u64); i++) {
		u64 w = READ_ONCE(p[i]);

		dst[i] = w;
		any |= w;
	}
	return any != 0;
}

/*
 * Writes the unmapped @page to its slot (sleeping for the latency) and
 * takes it out of the swap cache.  If it is still mapped somewhere (a
 * fault took it back from the cache), nothing is written: the slot goes
 * when its last swap PTE does.  Returns true if the data is in the slot.  No lock
 * held; the caller's isolation reference keeps @page.
 */
bool smm_swap_out_end(struct smm_mem *mem, struct smm_page *page)
{
	unsigned long size = smm_mem_page_size(mem), slot = page->swap_slot;
	bool written = !atomic_long_read(&page->mapcount);
	struct smm_page *drop;
	void *buf = NULL;

	/* The slot's buffer is ours while write-out is in flight. */
	spin_lock(&mem->swap_lock);
	buf = slot_of(mem, slot)->data;
	slot_of(mem, slot)->data = NULL;
	spin_unlock(&mem->swap_lock);
	if (written) {
		if (!page_copy_out(buf, page->virt, size)) {
			kfree(buf);
			buf = NULL;
		}
		smm_host_io_sleep(READ_ONCE(mem->swap_latency_us));
		smm_mem_count(mem, SHADOWMM_EV_PSWPOUT);
	}
	spin_lock(&mem->swap_lock);
	slot_of(mem, slot)->io = false;
	if (written) {
		slot_of(mem, slot)->data = buf;
		buf = NULL;
		/* The data is in the slot: out of the swap cache. */
		if (slot_of(mem, slot)->count) {
			slot_of(mem, slot)->page = NULL;
			WRITE_ONCE(page->swap_slot, -1);
			drop = page;
		} else {
			drop = slot_maybe_free(mem, slot);
		}
	} else {
		drop = slot_maybe_free(mem, slot);
	}
	spin_unlock(&mem->swap_lock);
	/* Pairs with smp_load_acquire() in smm_swapin_wait(), do_swap_page(). */
	smp_store_release(&page->uptodate, true);
	wake_up_var(page);
	kfree(buf);
	if (drop)
		smm_put_page(mem, drop);
	return written;
}

/* ---- swap-in ---- */

/*
 * The page of swap entry @pte with a reference: from the swap cache, or
 * (if @may_alloc) a new one put there with *must_read set, which the
 * caller fills with smm_swap_read() outside its locks.  NULL with
 * -EAGAIN if the slot is no longer in use (the PTE changed: retry the
 * fault), -ENOMEM, or -EWOULDBLOCK if reading is needed and the caller
 * may not allocate.
 */
struct smm_page *smm_swapin_get(struct smm_mem *mem, unsigned long pte,
				bool may_alloc, bool *must_read, int *err)
{
	unsigned long slot = pte >> SMM_PTE_SWAP_SHIFT;
	struct smm_page *page, *new = NULL;

	*must_read = false;
	for (;;) {
		spin_lock(&mem->swap_lock);
		if (slot >= mem->swap_slots || !slot_of(mem, slot)->count) {
			spin_unlock(&mem->swap_lock);
			*err = -EAGAIN;
			page = NULL;
			break;
		}
		page = slot_of(mem, slot)->page;
		if (page) {
			atomic_long_inc(&page->refcount);
			spin_unlock(&mem->swap_lock);
			smm_mem_count(mem, SHADOWMM_EV_SWAP_CACHE_HIT);
			break;
		}
		if (new) {
			struct smm_swap_slot *s = slot_of(mem, slot);

			s->page = new;
			s->io = true;
			WRITE_ONCE(new->swap_slot, slot);
			WRITE_ONCE(new->uptodate, false);
			/* The cache's reference; the caller keeps its own. */
			atomic_long_inc(&new->refcount);
			spin_unlock(&mem->swap_lock);
			*must_read = true;
			page = new;
			new = NULL;
			break;
		}
		spin_unlock(&mem->swap_lock);
		if (!may_alloc) {
			*err = -EWOULDBLOCK;
			return NULL;
		}
		/* May reclaim: outside the swap lock. */
		new = smm_page_alloc(mem, GFP_KERNEL);
		if (!new) {
			*err = -ENOMEM;
			return NULL;
		}
	}
	if (new)
		smm_put_page(mem, new);
	return page;
}

/*
 * Reads @page's slot into it, sleeping for the latency (the major
 * fault's I/O), then publishes it.  No lock held.  The release of
 * @uptodate pairs with the acquire in smm_swapin_wait(): a waiter that
 * sees it sees the data.
 */
void smm_swap_read(struct smm_mem *mem, struct smm_page *page)
{
	unsigned long slot = page->swap_slot;
	struct smm_page *drop;
	void *data;

	/* The cache pins the slot, so @data stays while we read it. */
	spin_lock(&mem->swap_lock);
	data = slot_of(mem, slot)->data;
	spin_unlock(&mem->swap_lock);
	smm_host_io_sleep(READ_ONCE(mem->swap_latency_us));
	if (data)
		memcpy(page->virt, data, smm_mem_page_size(mem));
	smm_mem_count(mem, SHADOWMM_EV_PSWPIN);
	spin_lock(&mem->swap_lock);
	slot_of(mem, slot)->io = false;
	/* Zapped while we read: nobody will map it from the cache. */
	drop = slot_maybe_free(mem, slot);
	spin_unlock(&mem->swap_lock);
	/* Pairs with smp_load_acquire() in smm_swapin_wait(), do_swap_page(). */
	smp_store_release(&page->uptodate, true);
	wake_up_var(page);
	if (drop)
		smm_put_page(mem, drop);
}

void smm_swapin_wait(struct smm_page *page)
{
	/* Pairs with smp_store_release() in smm_swap_read(). */
	wait_var_event(page, smp_load_acquire(&page->uptodate));
}

/*
 * Maps swap-cache @page where swap entry @entry was; PTE lock held and
 * the entry re-checked by the caller.  The caller's reference becomes
 * the mapping's; the slot loses a swap PTE and, with the last, goes.
 *
 * After FORK a slot may have swap PTEs in several spaces, which all map
 * this one page from the cache: the page is then not exclusive, so it
 * goes in read-only (a write copies it, cow.c) and, mapped first, under
 * the root anon_vma, the one every relative's VMA is chained to (as
 * __page_set_anon_rmap() does for a page that is not exclusive).  Under
 * the swap lock, so two spaces mapping it at once agree which is first.
 */
void smm_swapin_map(struct smm_vma *vma, unsigned long *ptep,
		    unsigned long addr, unsigned long entry,
		    struct smm_page *page, unsigned long prot)
{
	struct smm_mem *mem = vma->vm_mm->mem;
	unsigned long slot = entry >> SMM_PTE_SWAP_SHIFT;
	unsigned long bits = smm_prot_to_pte(prot);
	struct smm_anon_vma *av = smm_vma_anon(vma);
	struct smm_page *drop;
	bool first, exclusive;

	spin_lock(&mem->swap_lock);
	slot_of(mem, slot)->count--;
	first = !atomic_long_read(&page->mapcount);
	exclusive = first && !slot_of(mem, slot)->count;
	if (first)
		smm_page_add_anon_rmap(page, exclusive ? av : av->root,
				       smm_vma_index(vma, addr));
	else
		atomic_long_inc(&page->mapcount);
	drop = slot_maybe_free(mem, slot);
	spin_unlock(&mem->swap_lock);
	if (!exclusive)
		bits &= ~SMM_PTE_WRITE;
	smm_set_pte(ptep, (unsigned long)page | bits | SMM_PTE_YOUNG);
	/* The cache's reference: ours keeps the page. */
	if (drop)
		smm_put_page(mem, drop);
	smm_lru_add(mem, page);
}

/*
 * A fault that got @page from the swap cache but did not map it (the PTE
 * changed) drops it; if no swap PTE refers to its slot any more, the
 * cache lets go too.
 */
void smm_swapin_put(struct smm_mem *mem, struct smm_page *page)
{
	struct smm_page *drop = NULL;
	long slot;

	spin_lock(&mem->swap_lock);
	slot = page->swap_slot;
	if (slot >= 0)
		drop = slot_maybe_free(mem, slot);
	spin_unlock(&mem->swap_lock);
	if (drop)
		smm_put_page(mem, drop);
	smm_put_page(mem, page);
}

/* What a swap entry holds at @off, for peek(); PTE lock held. */
u64 smm_swap_peek(struct smm_mem *mem, unsigned long pte, unsigned long off)
{
	struct smm_swap_slot *s;
	u64 val = 0;

	spin_lock(&mem->swap_lock);
	s = slot_of(mem, pte >> SMM_PTE_SWAP_SHIFT);
	if (s->page)
		memcpy(&val, (char *)s->page->virt + off, sizeof(val));
	else if (s->data)
		memcpy(&val, (char *)s->data + off, sizeof(val));
	spin_unlock(&mem->swap_lock);
	return val;
}

/* Teardown: the slot table, once every PTE and cache page is gone. */
void smm_swap_destroy(struct smm_mem *mem)
{
	WARN_ON(mem->swap_used);
	kvfree(mem->slots);
	mem->slots = NULL;
}

/*
 * Validation: the swap PTEs counted by a walk, per slot.  *@cached: pages
 * only the swap cache holds (read in by a fault that then failed, say
 * for a write to a range made read-only meanwhile); the next fault on the
 * entry maps them, a zap frees them.
 */
void smm_swap_check_begin(struct smm_mem *mem)
{
	unsigned long i;

	for (i = 0; i < mem->swap_slots; i++)
		slot_of(mem, i)->check_ptes = 0;
}

/* A swap PTE of @slot seen by the validating walk; false if no such slot. */
bool smm_swap_check_pte(struct smm_mem *mem, unsigned long slot)
{
	if (slot >= mem->swap_slots)
		return false;
	slot_of(mem, slot)->check_ptes++;
	return true;
}

int smm_swap_validate(struct smm_mem *mem, unsigned long *cached, char *why,
		      unsigned long len)
{
	unsigned long i, used = 0;

	for (i = 0; i < mem->swap_slots; i++) {
		struct smm_swap_slot *s = slot_of(mem, i);

		if (s->used)
			used++;
		if (s->page && !atomic_long_read(&s->page->mapcount))
			(*cached)++;
		if (s->count != s->check_ptes || s->io ||
		    (s->used && !s->count && !s->page) ||
		    (!s->used && (s->count || s->page))) {
			snprintf(why, len,
				 "swap: slot %lu count %lu, %lu swap PTEs, cache %d io %d",
				 i, s->count, s->check_ptes, !!s->page, s->io);
			return -EUCLEAN;
		}
	}
	if (used != mem->swap_used) {
		snprintf(why, len, "swap: %lu slots used, swap_used %lu", used,
			 mem->swap_used);
		return -EUCLEAN;
	}
	return 0;
}
