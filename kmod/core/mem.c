// SPDX-License-Identifier: GPL-2.0
/*
 * The memory a fork family shares (struct smm_mem): created with a space,
 * shared by FORK, freed with the family's last space; and the reclaim that
 * works across families (the background thread, the host's shrinker),
 * which finds them on smm_mem_list.
 *
 * smm_mm_list_lock guards the list, every mem's @users and the counters
 * of dead families.  A family leaves the list before its last space is
 * torn down, so the reclaimer and the shrinker, which hold that lock,
 * never see a family being freed.
 */
#include "smm.h"

static LIST_HEAD(smm_mem_list);
static unsigned long smm_mem_retired[SHADOWMM_NR_COUNTERS];

/* A new family's memory, for @mm's geometry: not yet on the list. */
struct smm_mem *smm_mem_create(const struct smm_mm *mm,
			       unsigned long max_pages)
{
	struct smm_mem *mem = kzalloc(sizeof(*mem), GFP_KERNEL);

	if (!mem)
		return NULL;
	mem->events = alloc_percpu(struct smm_events);
	if (!mem->events) {
		kfree(mem);
		return NULL;
	}
	smm_mem_set_geometry(mem, &mm->geom);
	atomic_long_set(&mem->nr_pages, 0);
	mem->max_pages = max_pages;
	spin_lock_init(&mem->lru_lock);
	INIT_LIST_HEAD(&mem->lru);
	mutex_init(&mem->reclaim_lock);
	spin_lock_init(&mem->swap_lock);
	mem->swap_free = -1;
	mem->users = 1;
	mutex_lock(&smm_mm_list_lock);
	list_add_tail(&mem->mem_list, &smm_mem_list);
	mutex_unlock(&smm_mm_list_lock);
	return mem;
}

/* FORK: one more space of the family. */
void smm_mem_share(struct smm_mem *mem)
{
	mutex_lock(&smm_mm_list_lock);
	mem->users++;
	mutex_unlock(&smm_mm_list_lock);
}

/*
 * A space of the family is going.  For the last one the family leaves the
 * list at once (returns true); the caller then tears the space down and
 * frees @mem with smm_mem_free() once its pages and slots are gone.
 */
bool smm_mem_put(struct smm_mem *mem)
{
	bool last;

	mutex_lock(&smm_mm_list_lock);
	last = !--mem->users;
	if (last)
		list_del(&mem->mem_list);
	mutex_unlock(&smm_mm_list_lock);
	return last;
}

void smm_mem_free(struct smm_mem *mem)
{
	unsigned int i;

	WARN_ON(atomic_long_read(&mem->nr_pages) > 0 || mem->nr_lru);
	smm_swap_destroy(mem);
	mutex_lock(&smm_mm_list_lock);
	for (i = 0; i < SHADOWMM_NR_COUNTERS; i++)
		smm_mem_retired[i] += smm_events_sum(mem->events, i);
	mutex_unlock(&smm_mm_list_lock);
	free_percpu(mem->events);
	kfree(mem);
}

/*
 * SET_GEOMETRY and FORK keep the family's pages one size: a space may
 * change its geometry only while its family is itself alone.
 */
bool smm_mem_shared(struct smm_mem *mem)
{
	return READ_ONCE(mem->users) > 1;
}

void smm_mem_set_geometry(struct smm_mem *mem, const struct smm_geom *geom)
{
	WRITE_ONCE(mem->page_shift, geom->page_shift);
	WRITE_ONCE(mem->page_cache, geom->page_cache);
}

/* Live families' counters and dead ones', frees or the rest (mm.c). */
void smm_mems_stats_add(__u64 *c, bool frees)
{
	struct smm_mem *mem;
	unsigned int i;

	lockdep_assert_held(&smm_mm_list_lock);
	for (i = 0; i < SHADOWMM_NR_COUNTERS; i++)
		if (smm_is_gauge_free(i) == frees)
			c[i] += smm_mem_retired[i];
	list_for_each_entry(mem, &smm_mem_list, mem_list)
		smm_events_add(mem->events, c, frees);
}

/* ---- reclaim across families: the background thread, the shrinker ---- */

void smm_background_reclaim(void)
{
	struct smm_mem *mem;

	/* The last space's destroy takes a family off the list first. */
	mutex_lock(&smm_mm_list_lock);
	list_for_each_entry(mem, &smm_mem_list, mem_list)
		smm_balance_space(mem, SHADOWMM_EV_RECLAIM_BACKGROUND);
	mutex_unlock(&smm_mm_list_lock);
}

unsigned long smm_shrink_count(void)
{
	struct smm_mem *mem;
	unsigned long n = 0;

	if (!mutex_trylock(&smm_mm_list_lock))
		return 0;
	list_for_each_entry(mem, &smm_mem_list, mem_list)
		n += smm_space_reclaimable(mem);
	mutex_unlock(&smm_mm_list_lock);
	return n;
}

/*
 * Never waits for the list's lock: its holder may be allocating (a space
 * being created) and so be the reason this shrinker runs.
 */
long smm_shrink_scan(unsigned long nr)
{
	struct smm_mem *mem;
	long freed = 0;

	if (!mutex_trylock(&smm_mm_list_lock))
		return -1;
	list_for_each_entry(mem, &smm_mem_list, mem_list) {
		if ((unsigned long)freed >= nr)
			break;
		freed += smm_shrink_space(mem, nr - freed);
	}
	mutex_unlock(&smm_mm_list_lock);
	return freed;
}
