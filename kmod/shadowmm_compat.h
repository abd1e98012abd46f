/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The host kernel APIs that differ between the kernels shadowmm builds
 * against (Debian's 6.1 and 6.12), in one place: the glue calls these,
 * never a version test of its own.
 */
#ifndef SHADOWMM_COMPAT_H
#define SHADOWMM_COMPAT_H

#include <linux/shrinker.h>
#include <linux/slab.h>

/*
 * 6.7 made shrinkers objects the shrinker core allocates and frees
 * (shrinker_alloc(), shrinker_register(), shrinker_free()); 6.1 registers
 * one the caller owns.  Either way the glue holds a pointer.  Kbuild
 * tells which by looking at the headers (SMM_HAVE_SHRINKER_ALLOC).
 */
static inline struct shrinker *
smm_shrinker_create(unsigned long (*count)(struct shrinker *,
					   struct shrink_control *),
		    unsigned long (*scan)(struct shrinker *,
					  struct shrink_control *),
		    const char *name)
{
	struct shrinker *s;

#ifdef SMM_HAVE_SHRINKER_ALLOC
	s = shrinker_alloc(0, "%s", name);
	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	shrinker_register(s);
#else
	s = kzalloc(sizeof(*s), GFP_KERNEL);
	if (!s)
		return NULL;
	s->count_objects = count;
	s->scan_objects = scan;
	s->seeks = DEFAULT_SEEKS;
	if (register_shrinker(s, "%s", name)) {
		kfree(s);
		return NULL;
	}
#endif
	return s;
}

static inline void smm_shrinker_destroy(struct shrinker *s)
{
#ifdef SMM_HAVE_SHRINKER_ALLOC
	shrinker_free(s);
#else
	unregister_shrinker(s);
	kfree(s);
#endif
}

#endif /* SHADOWMM_COMPAT_H */
