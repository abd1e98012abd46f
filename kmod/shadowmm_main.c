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
#include <linux/string.h>
#include <linux/sysfs.h>

#include "core/smm_internal.h"
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

static unsigned long swap_slots;
module_param(swap_slots, ulong, 0644);
MODULE_PARM_DESC(swap_slots,
		 "Swap slots per space, pages of the space's size (default 0: no swap)");

static unsigned long swap_latency_us = 100;
module_param(swap_latency_us, ulong, 0644);
MODULE_PARM_DESC(swap_latency_us,
		 "Microseconds a swap-in or swap-out of one page sleeps (default 100)");

int shadowmm_named_default_set(struct shadowmm_named_default *d,
			       const char *name)
{
	int v = d->parse(name);

	if (v < 0)
		return v;
	if (d == &shadowmm_default_tlb_policy && v == SHADOWMM_TLB_IPI &&
	    !smm_host_irqoff_faults())
		return -EOPNOTSUPP;
	WRITE_ONCE(d->value, v);
	return 0;
}

const char *shadowmm_named_default_name(const struct shadowmm_named_default *d)
{
	return d->name(READ_ONCE(d->value));
}

struct shadowmm_named_default shadowmm_default_mode = {
	.value = SHADOWMM_MODE_CLASSIC,
	.name = smm_mode_name,
	.parse = smm_mode_parse,
};

struct shadowmm_named_default shadowmm_default_geometry = {
	.value = SHADOWMM_GEOM_HOST,
	.name = smm_geometry_name,
	.parse = smm_geometry_parse,
};

struct shadowmm_named_default shadowmm_default_swap_policy = {
	.value = SHADOWMM_SWAP_DROP_RETRY,
	.name = smm_swap_policy_name,
	.parse = smm_swap_policy_parse,
};

struct shadowmm_named_default shadowmm_default_anon_policy = {
	.value = SHADOWMM_ANON_TRYLOCK,
	.name = smm_anon_policy_name,
	.parse = smm_anon_policy_parse,
};

struct shadowmm_named_default shadowmm_default_tlb_policy = {
	.value = SHADOWMM_TLB_RCU,
	.name = smm_tlb_policy_name,
	.parse = smm_tlb_policy_parse,
};

/* kp->arg is the struct shadowmm_named_default. */
static int named_param_set(const char *val, const struct kernel_param *kp)
{
	return shadowmm_named_default_set(kp->arg, val);
}

static int named_param_get(char *buffer, const struct kernel_param *kp)
{
	return sysfs_emit(buffer, "%s\n", shadowmm_named_default_name(kp->arg));
}

static const struct kernel_param_ops named_param_ops = {
	.set = named_param_set,
	.get = named_param_get,
};

module_param_cb(default_mode, &named_param_ops, &shadowmm_default_mode, 0644);
MODULE_PARM_DESC(default_mode,
		 "Fault path of new spaces: classic, spf, vmalock or mmseq (default classic)");
module_param_cb(default_geometry, &named_param_ops, &shadowmm_default_geometry,
		0644);
MODULE_PARM_DESC(default_geometry,
		 "Page size and table geometry of new spaces: host, 4k or 64k (default host)");
module_param_cb(swap_policy, &named_param_ops, &shadowmm_default_swap_policy,
		0644);
MODULE_PARM_DESC(swap_policy,
		 "What a vmalock fault of new spaces does at a swap-in: fallback, drop-retry or vma-retry (default drop-retry)");
module_param_cb(anon_policy, &named_param_ops, &shadowmm_default_anon_policy,
		0644);
MODULE_PARM_DESC(anon_policy,
		 "How a vmalock fault of new spaces gives a VMA its first anon_vma: fallback (6.4) or trylock (6.8+, default)");
module_param_cb(tlb_policy, &named_param_ops, &shadowmm_default_tlb_policy,
		0644);
MODULE_PARM_DESC(tlb_policy,
		 "Shadow TLBs of new spaces: none, rcu (default: tables freed by RCU) or ipi (freed after an IPI round, speculative walks with interrupts off; not on PREEMPT_RT)");

void shadowmm_space_params(struct smm_limits *limits, unsigned int *mode,
			   unsigned int *geometry)
{
	limits->max_pages = READ_ONCE(max_pages);
	limits->max_vmas = READ_ONCE(max_vmas);
	*mode = READ_ONCE(shadowmm_default_mode.value);
	*geometry = READ_ONCE(shadowmm_default_geometry.value);
}

/* Watermarks 0: the core derives them from the budget. */
void shadowmm_swap_params(struct shadowmm_memory *mem, unsigned int *policy,
			  unsigned int *anon_policy, unsigned int *tlb_policy)
{
	memset(mem, 0, sizeof(*mem));
	mem->max_pages = READ_ONCE(max_pages);
	mem->swap_slots = READ_ONCE(swap_slots);
	mem->swap_latency_us = READ_ONCE(swap_latency_us);
	*policy = READ_ONCE(shadowmm_default_swap_policy.value);
	*anon_policy = READ_ONCE(shadowmm_default_anon_policy.value);
	*tlb_policy = READ_ONCE(shadowmm_default_tlb_policy.value);
}

bool shadowmm_validate_on_release(void)
{
	return READ_ONCE(validate_on_release);
}

static int __init shadowmm_init(void)
{
	int ret;

	ret = shadowmm_tlb_init();
	if (ret)
		return ret;
	ret = smm_core_init();
	if (ret)
		goto tlb_exit;
	ret = shadowmm_debugfs_init();
	if (ret)
		goto core_exit;
	ret = shadowmm_shrinker_init();
	if (ret)
		goto debugfs_exit;
	pr_info("loaded: max_pages=%lu max_vmas=%lu default_mode=%s default_geometry=%s swap_slots=%lu swap_latency_us=%lu swap_policy=%s anon_policy=%s tlb_policy=%s\n",
		max_pages, max_vmas,
		shadowmm_named_default_name(&shadowmm_default_mode),
		shadowmm_named_default_name(&shadowmm_default_geometry),
		swap_slots, swap_latency_us,
		shadowmm_named_default_name(&shadowmm_default_swap_policy),
		shadowmm_named_default_name(&shadowmm_default_anon_policy),
		shadowmm_named_default_name(&shadowmm_default_tlb_policy));
	return 0;

debugfs_exit:
	shadowmm_debugfs_exit();
core_exit:
	smm_core_exit();
tlb_exit:
	shadowmm_tlb_exit();
	return ret;
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
	shadowmm_tlb_exit();
}

module_init(shadowmm_init);
module_exit(shadowmm_exit);

MODULE_DESCRIPTION("Shadow address spaces for page-fault scalability experiments");
MODULE_LICENSE("GPL");
