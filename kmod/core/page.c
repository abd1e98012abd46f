// SPDX-License-Identifier: GPL-2.0
/*
 * Page descriptors: every shadow page has one (struct smm_page, a small
 * folio), allocated and freed with the data, and a PTE points at it.
 *
 * Lifetime is the refcount's (see struct smm_page): mappings, the swap
 * cache and pins each hold one, and the last put frees the page, taking
 * it off the LRU first.  The budget (limits.max_pages) counts pages of
 * the space's size; a fault that would exceed it reclaims first (direct
 * reclaim) if the space has swap, and the background reclaimer is woken
 * at the high watermark.
 */
#include "smm.h"

struct kmem_cache *smm_page_cachep;

/*
 * Charges one page, reclaiming first if the budget is full and the caller
 * may sleep: 1 if charged, 0 if there is no budget (nothing to count; the
 * free then uncharges nothing, whatever the budget has become), -ENOMEM.
 * Unsigned compare: a budget of 2^63 or more is a large one.
 */
static int page_charge(struct smm_mem *mem, bool may_reclaim)
{
	unsigned long max = READ_ONCE(mem->max_pages);
	int tries = 0;

	if (!max)
		return 0;
	for (;;) {
		unsigned long nr = atomic_long_inc_return(&mem->nr_pages);

		if (nr <= max) {
			if (nr >= smm_wmark_high(mem))
				smm_wake_reclaimer(mem);
			return 1;
		}
		atomic_long_dec(&mem->nr_pages);
		/*
		 * Some rounds: another faulter may take what one round
		 * freed, or another reclaimer hold the space's clock.
		 * Nothing to swap to, or no room after all of them: out
		 * of memory, as before there was swap.
		 */
		if (!may_reclaim || !READ_ONCE(mem->swap_slots) ||
		    ++tries > 16)
			return -ENOMEM;
		smm_reclaim_direct(mem);
	}
}

static void page_uncharge(struct smm_mem *mem, bool charged)
{
	if (charged)
		atomic_long_dec(&mem->nr_pages);
}

/*
 * A zeroed page of the space's size with its descriptor, one reference
 * held (the caller's), not on the LRU.  GFP_NOWAIT callers (speculative
 * faults, under RCU) never reclaim.
 */
struct smm_page *smm_page_alloc(struct smm_mem *mem, gfp_t gfp)
{
	int charged = page_charge(mem, gfp == GFP_KERNEL);
	struct smm_page *page;

	if (charged < 0)
		return NULL;
	page = kmem_cache_alloc(smm_page_cachep, gfp);
	if (!page)
		goto uncharge;
	page->virt = smm_alloc_shadow_page(mem->page_cache,
					   mem->page_shift, gfp);
	if (!page->virt) {
		kmem_cache_free(smm_page_cachep, page);
		goto uncharge;
	}
	atomic_long_set(&page->refcount, 1);
	atomic_long_set(&page->mapcount, 0);
	page->anon_vma = NULL;
	page->index = 0;
	INIT_LIST_HEAD(&page->lru);
	page->on_lru = false;
	page->swap_slot = -1;
	page->uptodate = true;
	page->charged = charged;
	smm_mem_count(mem, SHADOWMM_EV_PAGE_ALLOC);
	return page;

uncharge:
	page_uncharge(mem, charged);
	return NULL;
}

static void page_free(struct smm_mem *mem, struct smm_page *page)
{
	WARN_ON(atomic_long_read(&page->mapcount) || page->swap_slot >= 0);
	page_uncharge(mem, page->charged);
	smm_mem_count(mem, SHADOWMM_EV_PAGE_FREE);
	smm_free_shadow_page(mem->page_cache, mem->page_shift,
			     page->virt);
	kmem_cache_free(smm_page_cachep, page);
}

/*
 * Drops a reference; the last one takes the page off the LRU and frees
 * it.  May be called under a PTE lock or the swap lock (lock order: PTE
 * lock, swap_lock, lru_lock).
 */
void smm_put_page(struct smm_mem *mem, struct smm_page *page)
{
	if (!atomic_long_dec_and_test(&page->refcount))
		return;
	/*
	 * Nobody else holds it, but reclaim may be scanning the LRU: only
	 * its lock makes the unlink safe.  on_lru is stable under it.
	 */
	spin_lock(&mem->lru_lock);
	if (page->on_lru) {
		list_del(&page->lru);
		page->on_lru = false;
		WRITE_ONCE(mem->nr_lru, mem->nr_lru - 1);
	}
	spin_unlock(&mem->lru_lock);
	page_free(mem, page);
}

/* Puts a mapped page at the tail of the clock (the youngest end). */
void smm_lru_add(struct smm_mem *mem, struct smm_page *page)
{
	spin_lock(&mem->lru_lock);
	if (!page->on_lru) {
		list_add_tail(&page->lru, &mem->lru);
		page->on_lru = true;
		WRITE_ONCE(mem->nr_lru, mem->nr_lru + 1);
	}
	spin_unlock(&mem->lru_lock);
}

/*
 * The page a present PTE maps gets its place in the rmap: the faulting
 * VMA's anon_vma and the page offset of @addr in it.  Before the PTE is
 * set, under its lock, so a page reachable through a PTE is always
 * reachable through the rmap.
 */
void smm_page_add_anon_rmap(struct smm_page *page, struct smm_anon_vma *av,
			    unsigned long index)
{
	page->anon_vma = av;
	page->index = index;
	atomic_long_inc(&page->mapcount);
}
