/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace host of the shadow mm core: everything kmod/core takes from the
 * kernel, mapped onto pthreads, liburcu and GCC atomics.  It has the SAME
 * include guard as kmod/core/smm_internal.h and is force-included first
 * (-include), so the kernel host header is shut out, as tools/testing/vma
 * does with vma_internal.h.
 *
 * What it adds over a plain mapping, for the tests:
 *  - every lock records its owner thread, so lockdep_assert_held() and
 *    lockdep_assert_held_write() really check (shim_lockdep_*);
 *  - every allocation is counted by kind and the Nth can be made to fail
 *    (smm_shim_fail_nth()), so tests find leaks and unchecked failures;
 *  - WARN_ON() counts, so a test can assert that nothing warned.
 */
#ifndef SMM_INTERNAL_H
#define SMM_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/types.h>

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef unsigned int gfp_t;

#define GFP_KERNEL	0x1u
#define GFP_NOWAIT	0x2u
#define __GFP_ZERO	0x4u
#define __GFP_NOWARN	0x8u	/* no failure report: the host never makes one */

#define __rcu
#define __percpu
#define __must_check	__attribute__((warn_unused_result))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define BIT(n)		(1UL << (n))
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define ALIGN(x, a)	(((x) + (a) - 1) & ~((typeof(x))(a) - 1))
#define IS_ALIGNED(x, a) (((x) & ((typeof(x))(a) - 1)) == 0)
#define min(a, b)	((a) < (b) ? (a) : (b))
#define max(a, b)	((a) > (b) ? (a) : (b))
#define min_t(t, a, b)	min((t)(a), (t)(b))
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define fallthrough	__attribute__((__fallthrough__))

/* Relaxed atomics: TSan sees them, the compiler cannot tear them. */
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_mb()		__atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)
#define data_race(expr)		(expr)

typedef struct { int counter; } atomic_t;
typedef struct { long counter; } atomic_long_t;
#define ATOMIC_LONG_INIT(i)	{ (i) }
#define atomic_long_read(v)	__atomic_load_n(&(v)->counter, __ATOMIC_RELAXED)
#define atomic_long_read_acquire(v) \
	__atomic_load_n(&(v)->counter, __ATOMIC_ACQUIRE)
#define atomic_long_set(v, i)	__atomic_store_n(&(v)->counter, (i), __ATOMIC_RELAXED)
#define atomic_long_add(i, v)	((void)__atomic_fetch_add(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic_long_sub(i, v)	((void)__atomic_fetch_sub(&(v)->counter, (i), __ATOMIC_RELAXED))
#define atomic_long_inc(v)	atomic_long_add(1, v)
#define atomic_long_dec(v)	atomic_long_sub(1, v)
#define atomic_long_add_return(i, v) \
	__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_long_inc_return(v) atomic_long_add_return(1, v)
#define atomic_long_sub_return(i, v) \
	__atomic_sub_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_long_dec_return(v) atomic_long_sub_return(1, v)
#define atomic_long_dec_and_test(v) (atomic_long_dec_return(v) == 0)
/* Fully ordered when it succeeds, as the kernel's. */
static inline bool atomic_long_inc_not_zero(atomic_long_t *v)
{
	long c = __atomic_load_n(&v->counter, __ATOMIC_RELAXED);

	do {
		if (!c)
			return false;
	} while (!__atomic_compare_exchange_n(&v->counter, &c, c + 1, false,
					      __ATOMIC_SEQ_CST,
					      __ATOMIC_RELAXED));
	return true;
}

/* ---- warnings and assertions ---- */
void shim_warn(const char *cond, const char *file, int line);
#define WARN_ON(cond) ({						\
	bool __c = !!(cond);						\
	if (unlikely(__c))						\
		shim_warn(#cond, __FILE__, __LINE__);			\
	unlikely(__c);							\
})
#define WARN_ON_ONCE(cond)	WARN_ON(cond)
#define pr_err(...)		fprintf(stderr, __VA_ARGS__)
#define pr_info(...)		fprintf(stderr, __VA_ARGS__)
#define might_sleep()		do { } while (0)
#define cond_resched()		do { } while (0)
/* A "pending signal" for long commands, raised by smm_shim_signal_after(). */
bool smm_host_should_stop(void);

/* ---- lock owner tracking (lockdep stand-in) ---- */
enum shim_lock_mode { SHIM_HELD_READ = 1, SHIM_HELD_WRITE = 2 };
void shim_lockdep_acquire(const void *lock, enum shim_lock_mode mode);
void shim_lockdep_release(const void *lock);
int shim_lockdep_held(const void *lock);	/* 0 or enum shim_lock_mode */
void shim_lockdep_assert(const void *lock, int modes, const char *what,
			 const char *file, int line);
#define lockdep_is_held(l)	(shim_lockdep_held(l) != 0)
#define lockdep_assert(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "lockdep_assert(%s) failed at %s:%d\n", \
			#c, __FILE__, __LINE__);			\
		abort();						\
	}								\
} while (0)
#define lockdep_assert_held(l) \
	shim_lockdep_assert(l, SHIM_HELD_READ | SHIM_HELD_WRITE, #l, __FILE__, __LINE__)
#define lockdep_assert_held_write(l) \
	shim_lockdep_assert(l, SHIM_HELD_WRITE, #l, __FILE__, __LINE__)
#define lockdep_assert_held_read(l) \
	shim_lockdep_assert(l, SHIM_HELD_READ, #l, __FILE__, __LINE__)

/*
 * Kernel spinlocks spin; here a holder can be preempted, so a mutex keeps
 * oversubscribed runs (4 threads on 2 CPUs) from burning their quantum.
 */
typedef struct { pthread_mutex_t m; } spinlock_t;
void spin_lock_init(spinlock_t *l);
void spin_lock(spinlock_t *l);
/*
 * Lock nesting annotations (FORK holds a parent's and a child's lock of
 * one class): the shim's lockdep tracks locks, not classes, so they are
 * plain acquisitions here.
 */
#define SINGLE_DEPTH_NESTING	1
#define spin_lock_nested(l, subclass)	spin_lock(l)
void spin_unlock(spinlock_t *l);
int spin_trylock(spinlock_t *l);

struct mutex { pthread_mutex_t m; };
void mutex_init(struct mutex *l);
void mutex_lock(struct mutex *l);
void mutex_unlock(struct mutex *l);
int mutex_trylock(struct mutex *l);
#define DEFINE_MUTEX(name) struct mutex name = { PTHREAD_MUTEX_INITIALIZER }

/*
 * Kernel rwsems are writer-fair; glibc's default rwlock prefers readers.
 * @waiters models the kernel's RWSEM_FLAG_WAITERS: up_read() that sees a
 * writer waiting touches the semaphore again after its count is gone
 * (rwsem_wake()), which ASan can see where glibc's own accesses are not
 * instrumented.
 */
struct rw_semaphore {
	pthread_rwlock_t l;
	int waiters;
	/* The CPU the writer held it from, -1: none (shim.c: spinning). */
	int owner_cpu;
	unsigned long wakeups;
	/*
	 * downgrade_write() in progress: pthread rwlocks cannot downgrade,
	 * so the shim unlocks and read-locks, and a writer that gets in
	 * between backs off until this is clear again.
	 */
	int downgrading;
};
/* How long a locker spins before it sleeps (shim.c: optimistic spinning). */
#ifndef SHIM_RWSEM_SPIN_NS
#define SHIM_RWSEM_SPIN_NS	20000
#endif
extern unsigned long shim_rwsem_spin_ns;
void init_rwsem(struct rw_semaphore *s);
void destroy_rwsem(struct rw_semaphore *s);
void down_read(struct rw_semaphore *s);
int down_read_trylock(struct rw_semaphore *s);
void up_read(struct rw_semaphore *s);
void down_write(struct rw_semaphore *s);
int down_write_trylock(struct rw_semaphore *s);
#define down_write_nested(s, subclass)	down_write(s)
void up_write(struct rw_semaphore *s);
void downgrade_write(struct rw_semaphore *s);

/*
 * Sequence counts.  Readers use acquire loads and an acquire fence before
 * the retry load, writers release stores: TSan ignores bare fences, and
 * every field a speculative reader looks at is READ_ONCE/WRITE_ONCE, so
 * TSan sees atomics there and stays quiet for the right reason.
 */
typedef struct { unsigned int sequence; } seqcount_t;
#define seqcount_init(s)	((s)->sequence = 0)
static inline unsigned int raw_read_seqcount(const seqcount_t *s)
{
	return __atomic_load_n(&s->sequence, __ATOMIC_ACQUIRE);
}
static inline int read_seqcount_retry(const seqcount_t *s, unsigned int start)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&s->sequence, __ATOMIC_ACQUIRE) != start;
}
static inline void raw_write_seqcount_begin(seqcount_t *s)
{
	__atomic_store_n(&s->sequence, s->sequence + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}
static inline void raw_write_seqcount_end(seqcount_t *s)
{
	__atomic_store_n(&s->sequence, s->sequence + 1, __ATOMIC_RELEASE);
}

/* ---- RCU: liburcu (memb flavour) readers, a call_rcu worker ---- */
struct rcu_head {
	struct rcu_head *next;
	void (*func)(struct rcu_head *head);
};
void rcu_read_lock(void);
void rcu_read_unlock(void);
void synchronize_rcu(void);
void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head));
void rcu_barrier(void);
#define rcu_dereference(p)	__atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_dereference_raw(p)	__atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#define rcu_dereference_protected(p, c) (p)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define RCU_INIT_POINTER(p, v)	__atomic_store_n(&(p), (v), __ATOMIC_RELAXED)

/* ---- allocation, counted and failable ---- */
void *kmalloc(size_t size, gfp_t gfp);
void *kzalloc(size_t size, gfp_t gfp);
void kfree(const void *p);
#define kvzalloc(size, gfp)	kzalloc(size, gfp)
#define kvcalloc(n, size, gfp)	kzalloc((n) * (size), gfp)
#define kvfree(p)		kfree(p)
#define USEC_PER_SEC		1000000UL
#ifndef ULONG_MAX
#define ULONG_MAX		(~0UL)
#endif

struct kmem_cache;
struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
				     unsigned int align, unsigned long flags,
				     void (*ctor)(void *));
void kmem_cache_destroy(struct kmem_cache *c);
void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp);
void *kmem_cache_zalloc(struct kmem_cache *c, gfp_t gfp);
void kmem_cache_free(struct kmem_cache *c, void *p);
#define SLAB_HWCACHE_ALIGN	0x1UL

/*
 * Shadow pages and page tables in the space's sizes, as the kernel host
 * has them (kmod/core/smm_internal.h): a page is a zeroed, naturally
 * aligned block of 1 << shift bytes whatever the host's page size (the
 * slab @cache the kernel uses below its page size is not needed here),
 * a table a zeroed block of its size.  Counted (pages and bytes live),
 * failable.  smm_host_page_shift() is the process's page size unless a
 * test sets another (smm_shim_set_host_page_shift()).
 */
unsigned int smm_host_page_shift(void);
void *smm_alloc_shadow_page(struct kmem_cache *cache, unsigned int shift,
			    gfp_t gfp);
void smm_free_shadow_page(struct kmem_cache *cache, unsigned int shift,
			  void *page);
void *smm_alloc_table(unsigned int size, gfp_t gfp);
void smm_free_table(void *table, unsigned int size);

/*
 * Per-CPU data: like the kernel, one unit per CPU at a fixed stride from
 * the first; this_cpu ops pick the unit of the CPU the thread runs on.
 */
#define SHIM_PCPU_UNIT		4096
#define SHIM_NR_CPUS		256
void *shim_alloc_percpu(size_t size);
void free_percpu(void *p);
unsigned int shim_this_cpu(void);
extern unsigned int shim_nr_cpu_ids;
#define alloc_percpu(type)	((type *)shim_alloc_percpu(sizeof(type)))
#define per_cpu_ptr(p, cpu) \
	((typeof(p))((char *)(p) + (size_t)(cpu) * SHIM_PCPU_UNIT))
#define for_each_possible_cpu(cpu) \
	for ((cpu) = 0; (cpu) < shim_nr_cpu_ids; (cpu)++)
#define this_cpu_add(pcp, n)						\
	((void)__atomic_fetch_add((typeof(&(pcp)))((char *)&(pcp) +	\
			(size_t)shim_this_cpu() * SHIM_PCPU_UNIT),	\
			(n), __ATOMIC_RELAXED))
#define this_cpu_inc(pcp)	this_cpu_add(pcp, 1)

/* ---- lists (the subset of <linux/list.h> the core uses) ---- */
struct list_head { struct list_head *next, *prev; };
#define LIST_HEAD_INIT(name)	{ &(name), &(name) }
#define LIST_HEAD(name)		struct list_head name = LIST_HEAD_INIT(name)
static inline void INIT_LIST_HEAD(struct list_head *l)
{
	l->next = l;
	l->prev = l;
}
static inline void __list_add(struct list_head *n, struct list_head *prev,
			      struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}
static inline void list_add(struct list_head *n, struct list_head *head)
{
	__list_add(n, head, head->next);
}
static inline void list_add_tail(struct list_head *n, struct list_head *head)
{
	__list_add(n, head->prev, head);
}
static inline void list_del(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	e->next = NULL;
	e->prev = NULL;
}
static inline void list_move_tail(struct list_head *e, struct list_head *head)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	list_add_tail(e, head);
}
static inline int list_is_last(const struct list_head *e,
			       const struct list_head *h)
{
	return e->next == h;
}
static inline int list_empty(const struct list_head *h)
{
	return h->next == h;
}
#define list_entry(ptr, type, member)	container_of(ptr, type, member)
#define list_first_entry(h, type, member) list_entry((h)->next, type, member)
#define list_last_entry(h, type, member) list_entry((h)->prev, type, member)
#define list_next_entry(pos, member) \
	list_entry((pos)->member.next, typeof(*(pos)), member)
#define list_prev_entry(pos, member) \
	list_entry((pos)->member.prev, typeof(*(pos)), member)
#define list_entry_is_head(pos, head, member) (&(pos)->member == (head))
#define list_for_each_entry(pos, head, member)				\
	for (pos = list_first_entry(head, typeof(*pos), member);	\
	     !list_entry_is_head(pos, head, member);			\
	     pos = list_next_entry(pos, member))
#define list_for_each_entry_safe(pos, n, head, member)			\
	for (pos = list_first_entry(head, typeof(*pos), member),	\
	     n = list_next_entry(pos, member);				\
	     !list_entry_is_head(pos, head, member);			\
	     pos = n, n = list_next_entry(n, member))
#define list_for_each_entry_from(pos, head, member)			\
	for (; !list_entry_is_head(pos, head, member);			\
	     pos = list_next_entry(pos, member))

static inline bool sysfs_streq(const char *s1, const char *s2)
{
	while (*s1 && *s1 == *s2) {
		s1++;
		s2++;
	}
	if (*s1 == *s2)
		return true;
	if (!*s1 && *s2 == '\n' && !s2[1])
		return true;
	if (*s1 == '\n' && !s1[1] && !*s2)
		return true;
	return false;
}

/* Race-window injection: let another thread run here. */
void smm_host_race_delay(void);

/*
 * Waiting for a variable's condition (<linux/wait_bit.h>): a table of
 * condition variables hashed by the variable's address, as the kernel
 * hashes wait_var_event(), so a wake-up reaches the waiters of its own
 * variable and few others.  (One condition variable for all woke every
 * waiting fault and resolver for each userfault: on 2 CPUs the herd made
 * each wait 240 us, against 31 us for the real userfaultfd.)  Each
 * wake-up moves its bucket's generation on, and a waiter sleeps only if
 * none came since it last tested its condition, so none is lost.
 * shim_wait_var_slice() returns after a wake-up in its bucket or a
 * millisecond, and the condition is tested again.
 */
void wake_up_var(void *var);
unsigned long shim_wait_var_gen(const void *var);
void shim_wait_var_slice(const void *var, unsigned long gen);
#define wait_var_event(var, condition) do {				\
	for (;;) {							\
		unsigned long __gen = shim_wait_var_gen(var);		\
		if (condition)						\
			break;						\
		shim_wait_var_slice(var, __gen);			\
	}								\
} while (0)
/* Milliseconds: jiffies here are. */
#define msecs_to_jiffies(ms)	((long)(ms))
unsigned long shim_now_ms(void);
/* 0 if @condition is still false after @timeout ms, else at least 1. */
#define wait_event_interruptible_timeout(wq, condition, timeout) ({	\
	unsigned long __end = shim_now_ms() + (timeout);		\
	long __ret = 0;							\
	for (;;) {							\
		unsigned long __gen = shim_wait_var_gen(&(wq));		\
		if (condition) {					\
			__ret = 1;					\
			break;						\
		}							\
		if (shim_now_ms() >= __end)				\
			break;						\
		shim_wait_var_slice(&(wq), __gen);			\
	}								\
	__ret;								\
})

/*
 * Wait queues (<linux/wait.h>) are waits on their own address.  Nothing
 * here delivers signals, so the interruptible waits never fail.
 */
struct wait_queue_head {
	int unused;
};
typedef struct wait_queue_head wait_queue_head_t;
#define init_waitqueue_head(wq)	do { } while (0)
#define wake_up_all(wq)		wake_up_var(wq)
#define wait_event_interruptible(wq, condition) ({			\
	wait_var_event(&(wq), condition);				\
	0;								\
})
#define wait_var_event_interruptible(var, condition) ({			\
	wait_var_event(var, condition);					\
	0;								\
})

/* The faulting thread, as a userfault event names it: gettid(). */
unsigned long smm_host_tid(void);

/* A shadow swap I/O: nanosleep(), so the thread really leaves the CPU. */
void smm_host_io_sleep(unsigned long us);

/* The background reclaimer: a thread (kmod: a kthread). */
int smm_host_reclaimer_start(void (*fn)(void));
void smm_host_reclaimer_stop(void);
void smm_host_reclaimer_wake(void);

/*
 * The shadow MMU's CPUs (user/shim/tlb.c; the kernel's are in
 * kmod/shadowmm_tlb.c).  Here a "CPU" is a thread: each has a shadow TLB
 * of its own (a slot of a fixed table, reused after the thread exits;
 * threads share one if they outnumber the slots, as tasks share a CPU),
 * and "interrupts off" is holding its slot's mutex.  A shootdown first
 * interrupts every CPU running a thread of the process, by
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) (real IPIs: the cost of a
 * real shootdown, growing with the CPUs it reaches), then takes the mutex
 * of each slot in the mask in turn and runs the function on its TLB:
 * like the IPI it waits for that CPU's interrupts-off section to end.  A
 * signal handler could run the function on the thread itself, but then
 * each access would pay two sigprocmask() calls to mask it.
 */
struct smm_tlb;
typedef void (*smm_tlb_fn)(struct smm_tlb *tlb, void *info);
/*
 * A lockless walker's load of a PTE whose page it will touch: the kernel
 * relies on the address dependency, which TSan does not follow, so an
 * acquire here.  Pairs with smm_set_pte().
 */
#define smm_host_load_pte(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
unsigned long smm_host_irq_save(void);
void smm_host_irq_restore(unsigned long flags);
struct smm_tlb *smm_host_this_tlb(unsigned int *cpu);
unsigned int smm_host_nr_cpus(void);
unsigned int smm_host_shootdown(const unsigned long *cpus, smm_tlb_fn fn,
				void *info);
static inline bool smm_host_irqoff_faults(void)
{
	return true;
}

/* ---- bitmaps (the part of <linux/bitmap.h> the core uses) ---- */
#define BITS_PER_LONG		(8 * sizeof(long))
#define BITS_TO_LONGS(n)	(((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
static inline unsigned long *bitmap_zalloc(unsigned int nbits, gfp_t gfp)
{
	return (unsigned long *)kzalloc(BITS_TO_LONGS(nbits) * sizeof(long),
					gfp);
}
#define bitmap_free(p)		kfree(p)
static inline bool test_bit(unsigned int nr, const unsigned long *addr)
{
	return (__atomic_load_n(&addr[nr / BITS_PER_LONG], __ATOMIC_RELAXED) >>
		(nr % BITS_PER_LONG)) & 1;
}
static inline void set_bit(unsigned int nr, unsigned long *addr)
{
	__atomic_fetch_or(&addr[nr / BITS_PER_LONG], 1UL << (nr % BITS_PER_LONG),
			  __ATOMIC_RELAXED);
}
static inline void clear_bit_unlock(unsigned int nr, unsigned long *addr)
{
	__atomic_fetch_and(&addr[nr / BITS_PER_LONG],
			   ~(1UL << (nr % BITS_PER_LONG)), __ATOMIC_RELEASE);
}

/* ---- test controls (user/shim/shim.c) ---- */
#include "shim_test.h"

#endif /* SMM_INTERNAL_H */
