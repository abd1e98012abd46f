// SPDX-License-Identifier: GPL-2.0
/*
 * The reverse map of anonymous pages: from a page to every PTE that maps
 * it, through its anon_vma and the interval tree of the VMAs (their
 * anon_vma_chains) that may hold it.
 *
 * Locking: the root anon_vma's rwsem guards the trees of every anon_vma
 * under that root (2.6.35, "take the anon_vma root lock in vma_adjust"):
 * writers that change a VMA's range or chains hold it for write, under
 * the mmap write lock; rmap walkers (reclaim) hold it for read and no mmap
 * or VMA lock.  So a walker sees every VMA's vm_start, vm_end and
 * vm_pgoff consistent with its tree node.  The PTE it then looks at is
 * re-checked under the PTE lock.
 *
 * anon_vmas are freed through RCU: reclaim finds one from a page under
 * rcu_read_lock() and pins it with atomic_long_inc_not_zero(), as
 * folio_get_anon_vma() does.  A VMA's anon_vma is set lazily by its first
 * fault (anon_vma_prepare()); VMAs without one merge with anything, as in
 * the kernel, which is why it is lazy.
 */
#include "smm.h"

struct kmem_cache *smm_anon_vma_cachep;
struct kmem_cache *smm_avc_cachep;

struct smm_anon_vma *smm_anon_vma_alloc(struct smm_mm *mm)
{
	struct smm_anon_vma *av = kmem_cache_alloc(smm_anon_vma_cachep,
						   GFP_KERNEL);

	if (!av)
		return NULL;
	av->root = av;
	init_rwsem(&av->rwsem);
	atomic_long_set(&av->refcount, 1);
	av->tree.root = NULL;
	av->mem = mm->mem;
	av->check_stamp = 0;
	smm_mem_count(mm->mem, SHADOWMM_EV_ANON_VMA_ALLOC);
	return av;
}

static void anon_vma_free_rcu(struct rcu_head *head)
{
	struct smm_anon_vma *av = container_of(head, struct smm_anon_vma, rcu);

	destroy_rwsem(&av->rwsem);
	kmem_cache_free(smm_anon_vma_cachep, av);
}

void smm_put_anon_vma(struct smm_anon_vma *av)
{
	struct smm_anon_vma *root = av->root;

	if (!atomic_long_dec_and_test(&av->refcount))
		return;
	WARN_ON(av->tree.root);
	smm_mem_count(av->mem, SHADOWMM_EV_ANON_VMA_FREE);
	call_rcu(&av->rcu, anon_vma_free_rcu);
	if (root != av)
		smm_put_anon_vma(root);
}

struct smm_avc *smm_avc_alloc(void)
{
	return kmem_cache_alloc(smm_avc_cachep, GFP_KERNEL);
}

void smm_avc_free(struct smm_avc *avc)
{
	kmem_cache_free(smm_avc_cachep, avc);
}

static unsigned long smm_vma_pages(const struct smm_vma *vma)
{
	return (vma->vm_end - vma->vm_start) >> vma->vm_mm->geom.page_shift;
}

static void avc_set_range(struct smm_avc *avc)
{
	avc->rb.start = avc->vma->vm_pgoff;
	avc->rb.last = avc->vma->vm_pgoff + smm_vma_pages(avc->vma) - 1;
}

static void avc_link(struct smm_vma *vma, struct smm_avc *avc,
		     struct smm_anon_vma *av)
{
	avc->vma = vma;
	avc->anon_vma = av;
	list_add_tail(&avc->same_vma, &vma->anon_vma_chain);
	avc_set_range(avc);
	smm_itree_insert(&av->tree, &avc->rb);
}

/*
 * The first fault of @vma gives it an anon_vma (anon_vma_prepare()).
 * Called with the mmap lock held (read: concurrent first faults race,
 * page_table_lock picks one).  @av_new and @avc_new were allocated by
 * the caller outside every lock and are consumed if used.  The release
 * pairs with the smp_load_acquire() of lockless faults: one that sees the
 * pointer sees the anon_vma initialised and linked.
 */
void smm_anon_vma_prepare(struct smm_vma *vma, struct smm_anon_vma **av_new,
			  struct smm_avc **avc_new)
{
	struct smm_mm *mm = vma->vm_mm;
	struct smm_anon_vma *av = *av_new;

	lockdep_assert_held(&mm->mmap_lock);
	/* New: nobody else can reach its tree yet, but lockdep should see
	 * the order (mmap_lock -> anon_vma rwsem -> page_table_lock).
	 */
	down_write(&av->rwsem);
	spin_lock(&mm->page_table_lock);
	if (!vma->anon_vma) {
		avc_link(vma, *avc_new, av);
		/* Pairs with smp_load_acquire() in smm_fault_spf(). */
		smp_store_release(&vma->anon_vma, av);
		*av_new = NULL;
		*avc_new = NULL;
	}
	spin_unlock(&mm->page_table_lock);
	up_write(&av->rwsem);
}

void smm_anon_vma_prepare_release(struct smm_mm *mm, struct smm_anon_vma *av,
				  struct smm_avc *avc)
{
	if (av) {
		atomic_long_set(&av->refcount, 0);
		smm_mem_count(mm->mem, SHADOWMM_EV_ANON_VMA_FREE);
		destroy_rwsem(&av->rwsem);
		kmem_cache_free(smm_anon_vma_cachep, av);
	}
	if (avc)
		smm_avc_free(avc);
}

static const char *const smm_anon_policy_names[] = {
	[SHADOWMM_ANON_FALLBACK] = "fallback",
	[SHADOWMM_ANON_TRYLOCK] = "trylock",
};

const char *smm_anon_policy_name(unsigned int p)
{
	return p < SHADOWMM_NR_ANON_POLICIES ? smm_anon_policy_names[p] : NULL;
}

int smm_anon_policy_parse(const char *name)
{
	return smm_name_index(smm_anon_policy_names, SHADOWMM_NR_ANON_POLICIES,
			      name);
}

int smm_set_anon_policy(struct smm_mm *mm, unsigned int policy)
{
	if (policy >= SHADOWMM_NR_ANON_POLICIES)
		return -EINVAL;
	WRITE_ONCE(mm->anon_policy, policy);
	return 0;
}

/* Allocates the anon_vma and chain a first fault may need. */
int smm_anon_vma_prepare_alloc(struct smm_mm *mm, struct smm_anon_vma **av,
			       struct smm_avc **avc)
{
	*av = smm_anon_vma_alloc(mm);
	*avc = *av ? smm_avc_alloc() : NULL;
	if (!*avc) {
		smm_anon_vma_prepare_release(mm, *av, NULL);
		*av = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* Chains of @vma: what a split must preallocate for the new half. */
unsigned long smm_vma_nr_chains(struct smm_vma *vma)
{
	struct smm_avc *avc;
	unsigned long n = 0;

	list_for_each_entry(avc, &vma->anon_vma_chain, same_vma)
		n++;
	return n;
}

/*
 * A change of a VMA's range or pgoff, or of its chains, holds its
 * anon_vma's root rwsem for write, takes the chains out of their trees
 * first and puts them back with the new range after (vma_adjust()'s
 * pre/post update).  The VMAs involved are write-started by the caller
 * first: never wait for a VMA lock while holding an anon_vma lock, which
 * reclaim in a fault under a VMA lock may be waiting for.
 */
void smm_anon_lock_write(struct smm_anon_vma *av)
{
	down_write(&av->root->rwsem);
}

void smm_anon_unlock_write(struct smm_anon_vma *av)
{
	up_write(&av->root->rwsem);
}

void smm_vma_chains_remove(struct smm_vma *vma)
{
	struct smm_avc *avc;

	list_for_each_entry(avc, &vma->anon_vma_chain, same_vma)
		smm_itree_remove(&avc->anon_vma->tree, &avc->rb);
}

void smm_vma_chains_insert(struct smm_vma *vma)
{
	struct smm_avc *avc;

	list_for_each_entry(avc, &vma->anon_vma_chain, same_vma) {
		avc_set_range(avc);
		smm_itree_insert(&avc->anon_vma->tree, &avc->rb);
	}
}

/*
 * The new half of a split gets the same anon_vmas (anon_vma_clone()),
 * one chain each from @spare (preallocated, smm_vma_nr_chains() of them),
 * in the trees with its range.  Under the root's lock, @old's chains out
 * of the trees.
 */
void smm_anon_vma_clone(struct smm_vma *new, struct smm_vma *old,
			struct list_head *spare)
{
	struct smm_avc *avc;

	WRITE_ONCE(new->anon_vma, old->anon_vma);
	list_for_each_entry(avc, &old->anon_vma_chain, same_vma) {
		struct smm_avc *n = list_first_entry(spare, struct smm_avc,
						     same_vma);

		list_del(&n->same_vma);
		avc_link(new, n, avc->anon_vma);
		atomic_long_inc(&avc->anon_vma->refcount);
	}
}

/*
 * FORK's child VMA @vma, cloned from its parent's (smm_anon_vma_clone()),
 * gets an anon_vma of its own, @av, under the same root: the pages its
 * own faults and COW copies make go there, where the parent's rmap walks
 * never look (anon_vma_fork()).  Root's lock held; one chain from @spare.
 */
void smm_anon_vma_fork_link(struct smm_vma *vma, struct smm_anon_vma *av,
			    struct list_head *spare)
{
	struct smm_anon_vma *root = vma->anon_vma->root;
	struct smm_avc *avc = list_first_entry(spare, struct smm_avc,
					       same_vma);

	lockdep_assert_held_write(&root->rwsem);
	list_del(&avc->same_vma);
	av->root = root;
	/* The root lives while an anon_vma under it does. */
	atomic_long_inc(&root->refcount);
	avc_link(vma, avc, av);
	/* The child is not published yet; release all the same, as ever. */
	smp_store_release(&vma->anon_vma, av);
}

/*
 * Takes @vma's chains out of their trees and drops them
 * (unlink_anon_vmas()): it was detached and zapped.
 */
void smm_unlink_anon_vmas(struct smm_vma *vma)
{
	struct smm_anon_vma *av = vma->anon_vma;
	struct smm_avc *avc, *tmp;

	if (!av)
		return;
	smm_anon_lock_write(av);
	smm_vma_chains_remove(vma);
	smm_anon_unlock_write(av);
	list_for_each_entry_safe(avc, tmp, &vma->anon_vma_chain, same_vma) {
		list_del(&avc->same_vma);
		smm_put_anon_vma(avc->anon_vma);
		smm_avc_free(avc);
	}
}

/*
 * Merging: may @b (adjacent, after @a, same protection) join @a?  Only
 * with a page offset that continues @a's, and with the same anon_vma or
 * where one has none (is_mergeable_anon_vma()).
 */
bool smm_anon_mergeable(const struct smm_vma *a, const struct smm_vma *b,
			const struct smm_anon_vma *run_anon)
{
	/* @b must continue @a's page offsets, where its pages sit. */
	if (b->vm_pgoff != smm_vma_index(a, b->vm_start))
		return false;
	return !b->anon_vma || !run_anon || b->anon_vma == run_anon;
}

/*
 * @vma absorbs @victim (being detached; merging never drops pages).  If
 * @vma has no anon_vma yet it takes @victim's chains whole; otherwise
 * @victim's chains (of the same anon_vma) go.  Under the root's lock
 * with @vma's chains out of the trees: smm_vma_chains_insert() puts back
 * what @vma ends up with.
 */
void smm_anon_vma_merge(struct smm_vma *vma, struct smm_vma *victim)
{
	struct smm_avc *avc, *tmp;

	if (!victim->anon_vma)
		return;
	list_for_each_entry_safe(avc, tmp, &victim->anon_vma_chain, same_vma) {
		smm_itree_remove(&avc->anon_vma->tree, &avc->rb);
		list_del(&avc->same_vma);
		if (!vma->anon_vma) {
			avc->vma = vma;
			list_add_tail(&avc->same_vma, &vma->anon_vma_chain);
			continue;
		}
		/* Already chained to the same anon_vma: drop the copy. */
		WARN_ON(vma->anon_vma != victim->anon_vma);
		smm_put_anon_vma(avc->anon_vma);
		smm_avc_free(avc);
	}
	/*
	 * @vma is write-started, so no speculative fault validates what it
	 * reads here.
	 */
	if (!vma->anon_vma)
		/* Release anyway: pairs with smm_fault_spf()'s acquire. */
		smp_store_release(&vma->anon_vma, victim->anon_vma);
	WRITE_ONCE(victim->anon_vma, NULL);
}

/* ---- walking ---- */

/*
 * Pins and read-locks the anon_vma of @page, which the caller holds a
 * reference on (folio_lock_anon_vma_read()); NULL if the page is no
 * longer mapped or its anon_vma is going.
 */
static struct smm_anon_vma *page_lock_anon_vma_read(struct smm_page *page)
{
	struct smm_anon_vma *av;

	rcu_read_lock();
	av = READ_ONCE(page->anon_vma);
	/*
	 * A mapped page's anon_vma lives while the VMA that maps it does;
	 * once unmapped it may be freed, hence RCU and inc_not_zero.
	 */
	if (!av || !atomic_long_read(&page->mapcount) ||
	    !atomic_long_inc_not_zero(&av->refcount)) {
		rcu_read_unlock();
		return NULL;
	}
	rcu_read_unlock();
	down_read(&av->root->rwsem);
	return av;
}

struct rmap_walk {
	struct smm_page *page;
	smm_rmap_one_fn fn;
	void *arg;
	unsigned long done;
};

static void rmap_walk_one(struct smm_itree_node *node, void *arg)
{
	struct smm_avc *avc = container_of(node, struct smm_avc, rb);
	struct rmap_walk *w = arg;
	struct smm_vma *vma = avc->vma;
	unsigned long addr = vma->vm_start +
		((w->page->index - vma->vm_pgoff) << vma->vm_mm->geom.page_shift);

	if (WARN_ON(addr < vma->vm_start || addr >= vma->vm_end))
		return;
	w->done += w->fn(w->page, vma, addr, w->arg);
}

/*
 * Calls @fn for every VMA and address where @page may be mapped (the fn
 * checks the PTE under its lock); returns the sum of what @fn returned.
 */
unsigned long smm_rmap_walk(struct smm_page *page, smm_rmap_one_fn fn,
			    void *arg)
{
	struct rmap_walk w = { .page = page, .fn = fn, .arg = arg };
	struct smm_anon_vma *av = page_lock_anon_vma_read(page);

	if (!av)
		return 0;
	smm_itree_for_each(&av->tree, page->index, page->index, rmap_walk_one,
			   &w);
	up_read(&av->root->rwsem);
	smm_put_anon_vma(av);
	return w.done;
}

/*
 * Calls @fn with the PTE lock held if the PTE at @addr in @vma's space
 * maps @page; returns what it returned, or 0.  The walk is under RCU: a
 * table unlinked meanwhile is still there, and then empty.
 */
unsigned long smm_page_pte_call(struct smm_page *page, struct smm_vma *vma,
				unsigned long addr, smm_pte_fn fn, void *arg)
{
	struct smm_mm *mm = vma->vm_mm;
	unsigned long *ptep, ret = 0;
	struct smm_pt *pt;

	rcu_read_lock();
	pt = smm_pt_walk(mm, addr);
	if (!pt) {
		rcu_read_unlock();
		return 0;
	}
	ptep = smm_pte_slot(mm, pt, addr);
	spin_lock(&pt->ptl);
	rcu_read_unlock();
	if (smm_pte_present(*ptep) && smm_pte_to_page(*ptep) == page)
		ret = fn(mm, page, ptep, arg);
	spin_unlock(&pt->ptl);
	return ret;
}

/* ---- validation (smm_mm_validate(), everything quiesced) ---- */

static void count_vma_hit(struct smm_itree_node *node, void *arg)
{
	struct smm_avc *avc = container_of(node, struct smm_avc, rb);
	struct smm_vma **want = arg;

	if (avc->vma == want[0])
		want[1] = avc->vma;
}

/*
 * Every present page of @vma is in its anon_vma at the offset its address
 * implies, mapped once, and the rmap finds this VMA for it; every chain
 * is in its tree with the VMA's range.
 */
int smm_rmap_validate_vma(struct smm_mm *mm, struct smm_vma *vma,
			  unsigned long stamp, unsigned long *chains,
			  unsigned long *nodes, char *why, unsigned long len)
{
	struct smm_avc *avc;

	list_for_each_entry(avc, &vma->anon_vma_chain, same_vma) {
		struct smm_anon_vma *av = avc->anon_vma;
		struct smm_vma *want[2] = { vma, NULL };

		(*chains)++;
		if (avc->vma != vma || avc->rb.start != vma->vm_pgoff ||
		    avc->rb.last != vma->vm_pgoff + smm_vma_pages(vma) - 1) {
			snprintf(why, len,
				 "rmap: chain of VMA %#lx has range [%lu, %lu]",
				 vma->vm_start, avc->rb.start, avc->rb.last);
			return -EUCLEAN;
		}
		smm_itree_for_each(&av->tree, avc->rb.start, avc->rb.start,
				   count_vma_hit, want);
		if (!want[1]) {
			snprintf(why, len,
				 "rmap: chain of VMA %#lx not in its tree",
				 vma->vm_start);
			return -EUCLEAN;
		}
		if (av->check_stamp != stamp) {
			long n = smm_itree_validate(&av->tree);

			av->check_stamp = stamp;
			if (n < 0) {
				snprintf(why, len,
					 "rmap: interval tree of VMA %#lx broken",
					 vma->vm_start);
				return -EUCLEAN;
			}
			*nodes += n;
		}
	}
	if (vma->anon_vma && list_empty(&vma->anon_vma_chain)) {
		snprintf(why, len, "rmap: VMA %#lx has an anon_vma, no chain",
			 vma->vm_start);
		return -EUCLEAN;
	}
	return 0;
}

struct rmap_count {
	struct smm_vma *vma;
	unsigned long addr;
	unsigned long hits, others, twice;
};

static unsigned long pte_maps(struct smm_mm *mm, struct smm_page *page,
			      unsigned long *ptep, void *arg)
{
	return 1;
}

static unsigned long rmap_check_one(struct smm_page *page,
				    struct smm_vma *vma, unsigned long addr,
				    void *arg)
{
	struct rmap_count *c = arg;

	if (vma == c->vma && addr == c->addr)
		c->hits++;
	else if (vma->vm_mm == c->vma->vm_mm)
		c->twice += smm_page_pte_call(page, vma, addr, pte_maps, NULL);
	else
		c->others += smm_page_pte_call(page, vma, addr, pte_maps, NULL);
	return 0;
}

static bool vma_chained_to(struct smm_vma *vma, struct smm_anon_vma *av)
{
	struct smm_avc *avc;

	list_for_each_entry(avc, &vma->anon_vma_chain, same_vma)
		if (avc->anon_vma == av)
			return true;
	return false;
}

/* A present page at @addr of @vma: placed where the rmap finds it. */
int smm_rmap_validate_page(struct smm_mm *mm, struct smm_vma *vma,
			   unsigned long addr, struct smm_page *page,
			   char *why, unsigned long len)
{
	unsigned long index = smm_vma_index(vma, addr);
	struct rmap_count c = { .vma = vma, .addr = addr };

	if (!vma_chained_to(vma, page->anon_vma) || page->index != index) {
		snprintf(why, len,
			 "rmap: page at %#lx has index %lu, VMA implies %lu",
			 addr, page->index, index);
		return -EUCLEAN;
	}
	smm_rmap_walk(page, rmap_check_one, &c);
	/*
	 * Every mapping, in this space or a fork relative's, is found by
	 * the rmap and counted once; each holds a reference.
	 */
	if (atomic_long_read(&page->mapcount) != c.hits + c.others ||
	    atomic_long_read(&page->refcount) <
	    atomic_long_read(&page->mapcount) || !page->on_lru) {
		snprintf(why, len,
			 "rmap: page at %#lx mapcount %ld refcount %ld lru %d",
			 addr, atomic_long_read(&page->mapcount),
			 atomic_long_read(&page->refcount), page->on_lru);
		return -EUCLEAN;
	}
	if (c.hits != 1 || c.twice) {
		snprintf(why, len,
			 "rmap: page at %#lx found %lu times, %lu elsewhere",
			 addr, c.hits, c.twice);
		return -EUCLEAN;
	}
	return 0;
}
