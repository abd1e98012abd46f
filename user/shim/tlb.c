// SPDX-License-Identifier: GPL-2.0
/*
 * The userspace host of the shadow MMU's CPUs (core tlb.c; the kernel's
 * is kmod/shadowmm_tlb.c).  Why threads stand in for CPUs, and how a
 * shootdown stands in for an IPI: see smm_internal.h.
 */
#include <linux/membarrier.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "smm.h"

/* CPUs a space's mask can name: more live threads share slots. */
#define SHIM_TLB_CPUS		256

struct shim_cpu {
	/* Held from smm_host_irq_save() to restore: "interrupts off". */
	pthread_mutex_t irq;
	bool taken;			/* a live thread owns it (atomic) */
	pid_t last;			/* the last thread in it, under irq */
	struct smm_tlb tlb;		/* under irq */
};

static struct shim_cpu shim_cpus[SHIM_TLB_CPUS] = {
	[0 ... SHIM_TLB_CPUS - 1] = { .irq = PTHREAD_MUTEX_INITIALIZER },
};
static __thread struct shim_cpu *shim_me;
static __thread bool shim_irqs_off;
static unsigned int shim_shared_next;
static pthread_key_t shim_cpu_key;
static pthread_once_t shim_cpu_once = PTHREAD_ONCE_INIT;
static bool shim_membarrier_ok;

/* A thread that exits gives its slot back (it keeps its TLB's entries). */
static void shim_cpu_release(void *arg)
{
	struct shim_cpu *c = arg;

	__atomic_store_n(&c->taken, false, __ATOMIC_RELEASE);
}

static void shim_cpu_setup(void)
{
	if (pthread_key_create(&shim_cpu_key, shim_cpu_release))
		abort();
	shim_membarrier_ok =
		!syscall(__NR_membarrier,
			 MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
}

static struct shim_cpu *shim_cpu(void)
{
	unsigned int i;

	if (shim_me)
		return shim_me;
	pthread_once(&shim_cpu_once, shim_cpu_setup);
	for (i = 0; i < SHIM_TLB_CPUS; i++) {
		bool free = false;

		if (__atomic_compare_exchange_n(&shim_cpus[i].taken, &free,
						true, false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			shim_me = &shim_cpus[i];
			pthread_setspecific(shim_cpu_key, shim_me);
			return shim_me;
		}
	}
	i = __atomic_fetch_add(&shim_shared_next, 1, __ATOMIC_RELAXED);
	shim_me = &shim_cpus[i % SHIM_TLB_CPUS];
	return shim_me;
}

unsigned long smm_host_irq_save(void)
{
	struct shim_cpu *c = shim_cpu();
	pid_t self = gettid();

	if (shim_irqs_off) {
		fprintf(stderr, "shim: interrupts disabled twice\n");
		abort();
	}
	pthread_mutex_lock(&c->irq);
	shim_irqs_off = true;
	/*
	 * A slot that changes threads is a CPU that switches tasks: the
	 * full barrier orders the new thread's walks after the old one's
	 * entry into masks (mmu_enter() relies on a CPU's own earlier
	 * smp_mb() there).
	 */
	if (c->last != self) {
		c->last = self;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	return 0;
}

void smm_host_irq_restore(unsigned long flags)
{
	shim_irqs_off = false;
	pthread_mutex_unlock(&shim_me->irq);
}

struct smm_tlb *smm_host_this_tlb(unsigned int *cpu)
{
	if (!shim_irqs_off) {
		fprintf(stderr, "shim: a TLB used with interrupts on\n");
		abort();
	}
	*cpu = shim_me - shim_cpus;
	return &shim_me->tlb;
}

unsigned int smm_host_nr_cpus(void)
{
	return SHIM_TLB_CPUS;
}

unsigned int smm_host_shootdown(const unsigned long *cpus, smm_tlb_fn fn,
				void *info)
{
	unsigned long mask[BITS_TO_LONGS(SHIM_TLB_CPUS)];
	unsigned int i, w, others = 0;

	/* The slot we would wait for could be our own. */
	if (shim_irqs_off) {
		fprintf(stderr, "shim: shootdown with interrupts off\n");
		abort();
	}
	/*
	 * One snapshot of the mask, a word at a time (as the kernel's
	 * cpumask walk): a flush of a one-thread space costs a few loads,
	 * not a probe of every slot.  A CPU that enters after the snapshot
	 * walks after the caller's full barrier, and sees the new PTEs.
	 */
	for (w = 0; w < BITS_TO_LONGS(SHIM_TLB_CPUS); w++) {
		/* Acquire: pairs with clear_bit_unlock() (TSan sees no fence). */
		mask[w] = __atomic_load_n(&cpus[w], __ATOMIC_ACQUIRE);
		others += __builtin_popcountl(mask[w]);
	}
	if (shim_me && test_bit(shim_me - shim_cpus, mask))
		others--;
	/* What the IPIs cost: every CPU running one of our threads. */
	if (others && shim_membarrier_ok)
		syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0);
	for (w = 0; w < BITS_TO_LONGS(SHIM_TLB_CPUS); w++) {
		while (mask[w]) {
			struct shim_cpu *c;

			i = __builtin_ctzl(mask[w]);
			mask[w] &= mask[w] - 1;
			c = &shim_cpus[w * BITS_PER_LONG + i];
			pthread_mutex_lock(&c->irq);
			fn(&c->tlb, info);
			pthread_mutex_unlock(&c->irq);
		}
	}
	return others;
}
