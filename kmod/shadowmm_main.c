// SPDX-License-Identifier: GPL-2.0
/*
 * shadowmm.ko: shadow address spaces for page-fault scalability work.
 *
 * The module proper: its parameters (what a new space starts with) and
 * init/exit, which bring the core's caches and the debugfs files up and
 * down.  The spaces themselves live in the ctl file (shadowmm_ctl.c).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sysfs.h>

#include "shadowmm_module.h"

/*
 * Read when a space is created: changing a parameter through
 * /sys/module/shadowmm/parameters/ affects spaces opened afterwards.
 */
static unsigned long max_pages = 262144;
module_param(max_pages, ulong, 0644);
MODULE_PARM_DESC(max_pages,
		 "Resident shadow pages per space, of the space's page size (default 262144; 0: no limit)");

static unsigned long max_vmas = 65530;
module_param(max_vmas, ulong, 0644);
MODULE_PARM_DESC(max_vmas,
		 "VMAs per space, like vm.max_map_count (default 65530; 0: no limit)");

static bool validate_on_release;
module_param(validate_on_release, bool, 0644);
MODULE_PARM_DESC(validate_on_release,
		 "Check each space's consistency when it is closed (default N)");

static unsigned int default_mode = SHADOWMM_MODE_CLASSIC;

static int default_mode_set(const char *val, const struct kernel_param *kp)
{
	int mode = smm_mode_parse(val);

	if (mode < 0)
		return mode;
	WRITE_ONCE(default_mode, mode);
	return 0;
}

static int default_mode_get(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%s\n",
			  smm_mode_name(READ_ONCE(default_mode)));
}

static const struct kernel_param_ops default_mode_ops = {
	.set = default_mode_set,
	.get = default_mode_get,
};
module_param_cb(default_mode, &default_mode_ops, NULL, 0644);
MODULE_PARM_DESC(default_mode,
		 "Fault path of new spaces: classic, spf, vmalock or mmseq (default classic)");

static unsigned int default_geometry = SHADOWMM_GEOM_HOST;

static int default_geometry_set(const char *val,
				const struct kernel_param *kp)
{
	int geometry = smm_geometry_parse(val);

	if (geometry < 0)
		return geometry;
	WRITE_ONCE(default_geometry, geometry);
	return 0;
}

static int default_geometry_get(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%s\n",
			  smm_geometry_name(READ_ONCE(default_geometry)));
}

static const struct kernel_param_ops default_geometry_ops = {
	.set = default_geometry_set,
	.get = default_geometry_get,
};
module_param_cb(default_geometry, &default_geometry_ops, NULL, 0644);
MODULE_PARM_DESC(default_geometry,
		 "Page size and table geometry of new spaces: host, 4k or 64k (default host)");

void shadowmm_space_params(struct smm_limits *limits, unsigned int *mode,
			   unsigned int *geometry)
{
	limits->max_pages = READ_ONCE(max_pages);
	limits->max_vmas = READ_ONCE(max_vmas);
	*mode = READ_ONCE(default_mode);
	*geometry = READ_ONCE(default_geometry);
}

unsigned int shadowmm_default_geometry(void)
{
	return READ_ONCE(default_geometry);
}

void shadowmm_set_default_geometry(unsigned int geometry)
{
	WRITE_ONCE(default_geometry, geometry);
}

unsigned int shadowmm_default_mode(void)
{
	return READ_ONCE(default_mode);
}

void shadowmm_set_default_mode(unsigned int mode)
{
	WRITE_ONCE(default_mode, mode);
}

bool shadowmm_validate_on_release(void)
{
	return READ_ONCE(validate_on_release);
}

static int __init shadowmm_init(void)
{
	int ret;

	ret = smm_core_init();
	if (ret)
		return ret;
	ret = shadowmm_debugfs_init();
	if (ret) {
		smm_core_exit();
		return ret;
	}
	ret = shadowmm_shrinker_init();
	if (ret) {
		shadowmm_debugfs_exit();
		smm_core_exit();
		return ret;
	}
	pr_info("loaded: max_pages=%lu max_vmas=%lu default_mode=%s default_geometry=%s\n",
		max_pages, max_vmas, smm_mode_name(default_mode),
		smm_geometry_name(default_geometry));
	return 0;
}

/*
 * No space can be open here: each open ctl file holds a module reference.
 * smm_core_exit() waits for the RCU callbacks that free into its caches.
 */
static void __exit shadowmm_exit(void)
{
	shadowmm_shrinker_exit();
	shadowmm_debugfs_exit();
	smm_core_exit();
}

module_init(shadowmm_init);
module_exit(shadowmm_exit);

MODULE_DESCRIPTION("Shadow address spaces for page-fault scalability experiments");
MODULE_LICENSE("GPL");
