/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of shadowmm.ko's kernel glue share: the limits and fault
 * path that a new shadow space starts with (module parameters), the ctl
 * file that makes the spaces, and the debugfs directory that holds it.
 */
#ifndef SHADOWMM_MODULE_H
#define SHADOWMM_MODULE_H

#include <linux/fs.h>
#include <linux/types.h>

#include "core/smm_api.h"

/*
 * A default of new spaces that is one of a few names: the fault path, the
 * geometry, the swap policy.  Its module parameter and its debugfs file
 * both parse and print it through these.
 */
struct shadowmm_named_default {
	unsigned int value;
	const char *(*name)(unsigned int v);
	int (*parse)(const char *name);
};

/* shadowmm_main.c: module parameters */
extern struct shadowmm_named_default shadowmm_default_mode;
extern struct shadowmm_named_default shadowmm_default_geometry;
extern struct shadowmm_named_default shadowmm_default_swap_policy;
extern struct shadowmm_named_default shadowmm_default_anon_policy;
extern struct shadowmm_named_default shadowmm_default_tlb_policy;
int shadowmm_named_default_set(struct shadowmm_named_default *d,
			       const char *name);
const char *shadowmm_named_default_name(const struct shadowmm_named_default *d);

void shadowmm_space_params(struct smm_limits *limits, unsigned int *mode,
			   unsigned int *geometry);
/* What SET_MEMORY and SET_SWAP_POLICY give a new space once it exists. */
void shadowmm_swap_params(struct shadowmm_memory *mem, unsigned int *policy,
			  unsigned int *anon_policy, unsigned int *tlb_policy);
bool shadowmm_validate_on_release(void);

/* shadowmm_ctl.c: one open() of ctl is one shadow address space */
extern const struct file_operations shadowmm_ctl_fops;
void shadowmm_ctl_validate_stats(unsigned long *runs, unsigned long *failed);

/* shadowmm_uffd.c: the userfault channel's file, COPY from user memory */
int shadowmm_uffd_open(struct smm_mm *mm, struct shadowmm_cmd *cmd,
		       void __user *uarg);
int shadowmm_uffd_copy_user(struct smm_mm *mm, struct shadowmm_cmd *cmd);

/* shadowmm_debugfs.c */
int shadowmm_debugfs_init(void);
/* shadowmm_tlb.c: the per-CPU shadow TLBs */
int shadowmm_tlb_init(void);
void shadowmm_tlb_exit(void);
/* shadowmm_reclaim.c: the shrinker (the reclaim thread is the core's). */
int shadowmm_shrinker_init(void);
void shadowmm_shrinker_exit(void);
void shadowmm_debugfs_exit(void);

#endif /* SHADOWMM_MODULE_H */
