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

/* shadowmm_main.c: module parameters */
void shadowmm_space_params(struct smm_limits *limits, unsigned int *mode,
			   unsigned int *geometry);
unsigned int shadowmm_default_mode(void);
void shadowmm_set_default_mode(unsigned int mode);
unsigned int shadowmm_default_geometry(void);
void shadowmm_set_default_geometry(unsigned int geometry);
bool shadowmm_validate_on_release(void);

/* shadowmm_ctl.c: one open() of ctl is one shadow address space */
extern const struct file_operations shadowmm_ctl_fops;
void shadowmm_ctl_validate_stats(unsigned long *runs, unsigned long *failed);

/* shadowmm_debugfs.c */
int shadowmm_debugfs_init(void);
/* shadowmm_reclaim.c: the shrinker (the reclaim thread is the core's). */
int shadowmm_shrinker_init(void);
void shadowmm_shrinker_exit(void);
void shadowmm_debugfs_exit(void);

#endif /* SHADOWMM_MODULE_H */
