// SPDX-License-Identifier: GPL-2.0
/*
 * Page size and page-table geometry of a space: x86-64's 4 KiB pages with
 * 4 x 512-entry tables, or Linux's ppc64 radix with 64 KiB pages
 * (13/9/9/5 index bits), by default whichever the host kernel itself
 * uses, so that POWER numbers are taken the way the SPF series took them
 * and the same workload can still be run both ways on one kernel.
 *
 * Shadow pages are blocks of the space's page size, never a kernel page
 * each (see smm_alloc_shadow_page()): what the budget charges is what is
 * used.  A page smaller than the host's comes from a slab of its own size,
 * made here once per such geometry.
 */
#include "smm.h"

struct smm_geom_desc {
	const char *name;
	const char *cache_name;		/* of its pages, below the host's */
	unsigned int page_shift;
	unsigned int bits[SMM_PT_LEVELS];	/* PGD first */
};

static const struct smm_geom_desc smm_geoms[] = {
	[SHADOWMM_GEOM_HOST] = { .name = "host" },
	[SHADOWMM_GEOM_4K] = { "4k", "smm_page_4k", 12, { 9, 9, 9, 9 } },
	[SHADOWMM_GEOM_64K] = { "64k", "smm_page_64k", 16, { 13, 9, 9, 5 } },
};

static struct kmem_cache *smm_geom_page_cachep[SHADOWMM_NR_GEOMS];

const char *smm_geometry_name(unsigned int g)
{
	return g < SHADOWMM_NR_GEOMS ? smm_geoms[g].name : NULL;
}

int smm_geometry_parse(const char *name)
{
	unsigned int g;

	for (g = 0; g < SHADOWMM_NR_GEOMS; g++)
		if (sysfs_streq(name, smm_geoms[g].name))
			return g;
	return -EINVAL;
}

/*
 * A 64 KiB-page kernel gets the 64K geometry; any other (4 KiB, and the
 * page sizes neither geometry models) gets x86-64's.
 */
static unsigned int smm_geom_resolve(unsigned int geometry)
{
	if (geometry != SHADOWMM_GEOM_HOST)
		return geometry;
	return smm_host_page_shift() == smm_geoms[SHADOWMM_GEOM_64K].page_shift ?
	       SHADOWMM_GEOM_64K : SHADOWMM_GEOM_4K;
}

int smm_geom_init(void)
{
	unsigned int g;

	for (g = SHADOWMM_GEOM_HOST + 1; g < SHADOWMM_NR_GEOMS; g++) {
		unsigned int size = BIT(smm_geoms[g].page_shift);

		if (smm_geoms[g].page_shift >= smm_host_page_shift())
			continue;
		/* align = size: the PTE's low 12 bits hold its flags. */
		smm_geom_page_cachep[g] =
			kmem_cache_create(smm_geoms[g].cache_name, size, size,
					  0, NULL);
		if (!smm_geom_page_cachep[g]) {
			smm_geom_exit();
			return -ENOMEM;
		}
	}
	return 0;
}

void smm_geom_exit(void)
{
	unsigned int g;

	for (g = 0; g < SHADOWMM_NR_GEOMS; g++) {
		kmem_cache_destroy(smm_geom_page_cachep[g]);
		smm_geom_page_cachep[g] = NULL;
	}
}

/*
 * Fills @geom for @geometry.  Plain stores: @geom is not yet the mm's,
 * or the caller (smm_set_geometry()) publishes it with WRITE_ONCE.
 */
int smm_geom_fill(struct smm_geom *geom, unsigned int geometry)
{
	const struct smm_geom_desc *d;
	unsigned int shift;
	int level;

	if (geometry >= SHADOWMM_NR_GEOMS)
		return -EINVAL;
	geometry = smm_geom_resolve(geometry);
	d = &smm_geoms[geometry];
	geom->id = geometry;
	geom->page_shift = d->page_shift;
	geom->page_size = BIT(d->page_shift);
	geom->page_cache = smm_geom_page_cachep[geometry];
	shift = d->page_shift;
	for (level = SMM_PT_LEVELS - 1; level >= 0; level--) {
		geom->shift[level] = shift;
		geom->mask[level] = BIT(d->bits[level]) - 1;
		shift += d->bits[level];
	}
	return 0;
}

/* Bytes of one table at @level: entries x 8. */
static unsigned int smm_geom_table_size(const struct smm_geom *geom,
					int level)
{
	return (geom->mask[level] + 1) * sizeof(unsigned long);
}

/*
 * Only an empty space changes geometry: with no VMA there is no page and
 * no table below the PGD, so nothing of one geometry meets the other but
 * the PGD itself, which is replaced.
 *
 * Lockless walkers (present-page accesses, COPY/SEARCH pieces) may still
 * run: they read mm->pgd, then the geometry.  So the old PGD is unlinked
 * first and the geometry changed behind it; the new PGD is published only
 * after a grace period.  A walker that reads the new PGD therefore did not
 * end before that grace period, so it began after it started and sees the
 * whole new geometry (RCU's guarantee, no barrier of our own); one that
 * read the old PGD finds it empty (its level-0 index is below 256 in both
 * geometries, inside either PGD), and a NULL one ends the walk.
 */
int smm_set_geometry(struct smm_mm *mm, unsigned int geometry)
{
	struct smm_pt *old, *pgd;
	struct smm_geom geom;
	int level, ret;

	ret = smm_geom_fill(&geom, geometry);
	if (ret)
		return ret;
	pgd = smm_pt_alloc(mm, smm_geom_table_size(&geom, 0));
	if (!pgd)
		return -ENOMEM;
	smm_mmap_write_lock(mm);
	old = rcu_dereference_protected(mm->pgd,
					lockdep_is_held(&mm->mmap_lock));
	/* A family's pages are of one size (struct smm_mem). */
	if (mm->nr_vmas || old->nr_used || smm_mem_shared(mm->mem)) {
		smm_mmap_write_unlock(mm);
		smm_pt_free(mm, pgd);
		return -EBUSY;
	}
	RCU_INIT_POINTER(mm->pgd, NULL);
	WRITE_ONCE(mm->geom.id, geom.id);
	WRITE_ONCE(mm->geom.page_shift, geom.page_shift);
	WRITE_ONCE(mm->geom.page_size, geom.page_size);
	WRITE_ONCE(mm->geom.page_cache, geom.page_cache);
	for (level = 0; level < SMM_PT_LEVELS; level++) {
		WRITE_ONCE(mm->geom.shift[level], geom.shift[level]);
		WRITE_ONCE(mm->geom.mask[level], geom.mask[level]);
	}
	smm_mem_set_geometry(mm->mem, &geom);
	smm_pt_free(mm, old);
	synchronize_rcu();
	rcu_assign_pointer(mm->pgd, pgd);
	smm_mmap_write_unlock(mm);
	return 0;
}

unsigned int smm_get_geometry(struct smm_mm *mm)
{
	return READ_ONCE(mm->geom.id);
}

void smm_mm_info(struct smm_mm *mm, struct shadowmm_info *info)
{
	struct smm_geom geom;
	int level;

	memset(info, 0, sizeof(*info));
	/* One consistent geometry, not one torn by a SET_GEOMETRY. */
	down_read(&mm->mmap_lock);
	geom = mm->geom;
	up_read(&mm->mmap_lock);
	info->geometry = geom.id;
	info->page_shift = geom.page_shift;
	info->page_size = geom.page_size;
	info->pt_levels = SMM_PT_LEVELS;
	for (level = 0; level < SMM_PT_LEVELS; level++)
		info->pt_bits[level] = smm_geoms[geom.id].bits[level];
	info->task_size = SMM_TASK_SIZE;
	info->mmap_min_addr = SMM_MMAP_MIN_ADDR;
	info->host_page_size = BIT(smm_host_page_shift());
	info->max_pages = READ_ONCE(mm->mem->max_pages);
	info->wmark_high = READ_ONCE(mm->mem->wmark_high);
	info->wmark_low = READ_ONCE(mm->mem->wmark_low);
	info->swap_slots = READ_ONCE(mm->mem->swap_slots);
	info->swap_latency_us = READ_ONCE(mm->mem->swap_latency_us);
	info->swap_policy = READ_ONCE(mm->swap_policy);
	info->anon_policy = READ_ONCE(mm->anon_policy);
	info->tlb_policy = READ_ONCE(mm->tlb_policy);
	info->model = READ_ONCE(mm->model);
}
