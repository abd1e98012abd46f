// SPDX-License-Identifier: GPL-2.0
/*
 * The kernel host of the shadow MMU's CPUs (core/tlb.c): one shadow TLB
 * per CPU, from the dynamic per-CPU allocator (at 8 KiB it would not fit
 * a module's static per-CPU reserve), and shootdowns by IPI:
 * on_each_cpu_mask() with wait, as flush_tlb_mm_range() sends them, so a
 * shootdown costs here what a real one costs on this machine.
 */
#include <linux/cpumask.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/smp.h>

#include "core/smm.h"
#include "shadowmm_module.h"

static struct smm_tlb __percpu *shadowmm_tlbs;

int shadowmm_tlb_init(void)
{
	shadowmm_tlbs = alloc_percpu(struct smm_tlb);
	return shadowmm_tlbs ? 0 : -ENOMEM;
}

/* After smm_core_exit(): no space, so no access and no shootdown. */
void shadowmm_tlb_exit(void)
{
	free_percpu(shadowmm_tlbs);
}

struct smm_tlb *smm_host_this_tlb(unsigned int *cpu)
{
	lockdep_assert_irqs_disabled();
	*cpu = smp_processor_id();
	return this_cpu_ptr(shadowmm_tlbs);
}

/*
 * The bits a space's mask has: all that cpumask operations read, which
 * without CPUMASK_OFFSTACK is NR_CPUS, not nr_cpu_ids.
 */
unsigned int smm_host_nr_cpus(void)
{
	return cpumask_size() * BITS_PER_BYTE;
}

struct shadowmm_shootdown {
	smm_tlb_fn fn;
	void *info;
};

/* In the IPI, or locally with interrupts off: this CPU's TLB. */
static void shadowmm_shootdown_one(void *data)
{
	struct shadowmm_shootdown *s = data;

	s->fn(this_cpu_ptr(shadowmm_tlbs), s->info);
}

unsigned int smm_host_shootdown(const unsigned long *cpus, smm_tlb_fn fn,
				void *info)
{
	struct shadowmm_shootdown s = { fn, info };
	const struct cpumask *mask = to_cpumask(cpus);
	unsigned int others;

	/* Waiting with interrupts off could wait for a CPU waiting for us. */
	lockdep_assert_irqs_enabled();
	preempt_disable();
	others = cpumask_weight(mask) -
		 cpumask_test_cpu(smp_processor_id(), mask);
	on_each_cpu_mask(mask, shadowmm_shootdown_one, &s, true);
	preempt_enable();
	return others;
}
