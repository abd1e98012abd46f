// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace host of the shadow mm core: locks with owner tracking, counted
 * and failable allocation, per-CPU units, warnings.  See smm_internal.h.
 */
#include <sched.h>
#include <stdlib.h>
#include <sys/rseq.h>
#include <time.h>
#include <unistd.h>

#include "smm_internal.h"
#include "shadowmm.h"

/* ---- warnings ---- */

static long shim_warn_count;

void shim_warn(const char *cond, const char *file, int line)
{
	__atomic_fetch_add(&shim_warn_count, 1, __ATOMIC_RELAXED);
	fprintf(stderr, "WARNING: %s at %s:%d\n", cond, file, line);
}

long smm_shim_warnings(void)
{
	return __atomic_load_n(&shim_warn_count, __ATOMIC_RELAXED);
}

/* ---- lock owner tracking ---- */

/*
 * Locks this thread holds, innermost last.  Deep enough for the core: mmap
 * lock, one VMA lock, page_table_lock, one PTE lock, a global mutex.
 */
#define SHIM_MAX_HELD 16
static __thread struct {
	const void *lock;
	enum shim_lock_mode mode;
} shim_held[SHIM_MAX_HELD];
static __thread int shim_nr_held;

void shim_lockdep_acquire(const void *lock, enum shim_lock_mode mode)
{
	if (shim_nr_held == SHIM_MAX_HELD) {
		fprintf(stderr, "shim lockdep: more than %d locks held\n",
			SHIM_MAX_HELD);
		abort();
	}
	shim_held[shim_nr_held].lock = lock;
	shim_held[shim_nr_held].mode = mode;
	shim_nr_held++;
}

void shim_lockdep_release(const void *lock)
{
	int i;

	for (i = shim_nr_held - 1; i >= 0; i--) {
		if (shim_held[i].lock == lock) {
			shim_held[i] = shim_held[shim_nr_held - 1];
			shim_nr_held--;
			return;
		}
	}
	fprintf(stderr, "shim lockdep: releasing %p, which is not held\n",
		lock);
	abort();
}

int shim_lockdep_held(const void *lock)
{
	int i;

	for (i = 0; i < shim_nr_held; i++)
		if (shim_held[i].lock == lock)
			return shim_held[i].mode;
	return 0;
}

void shim_lockdep_assert(const void *lock, int modes, const char *what,
			 const char *file, int line)
{
	if (shim_lockdep_held(lock) & modes)
		return;
	fprintf(stderr, "lockdep_assert_held(%s) failed at %s:%d\n", what,
		file, line);
	abort();
}

/* Adaptive: spins a little before sleeping, closer to a kernel spinlock. */
void spin_lock_init(spinlock_t *l)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
	pthread_mutex_init(&l->m, &attr);
	pthread_mutexattr_destroy(&attr);
}

void spin_lock(spinlock_t *l)
{
	pthread_mutex_lock(&l->m);
	shim_lockdep_acquire(l, SHIM_HELD_WRITE);
}

void spin_unlock(spinlock_t *l)
{
	shim_lockdep_release(l);
	pthread_mutex_unlock(&l->m);
}

int spin_trylock(spinlock_t *l)
{
	if (pthread_mutex_trylock(&l->m))
		return 0;
	shim_lockdep_acquire(l, SHIM_HELD_WRITE);
	return 1;
}

void mutex_init(struct mutex *l)
{
	pthread_mutex_init(&l->m, NULL);
}

void mutex_lock(struct mutex *l)
{
	pthread_mutex_lock(&l->m);
	shim_lockdep_acquire(l, SHIM_HELD_WRITE);
}

int mutex_trylock(struct mutex *l)
{
	if (pthread_mutex_trylock(&l->m))
		return 0;
	shim_lockdep_acquire(l, SHIM_HELD_WRITE);
	return 1;
}

void mutex_unlock(struct mutex *l)
{
	shim_lockdep_release(l);
	pthread_mutex_unlock(&l->m);
}

static unsigned int shim_rwsem_wake_delay_us;
static long shim_rwsem_delayed_wakes;

long smm_shim_rwsem_delayed_wakes(void)
{
	return __atomic_load_n(&shim_rwsem_delayed_wakes, __ATOMIC_RELAXED);
}

void smm_shim_rwsem_wake_delay(unsigned int us)
{
	__atomic_store_n(&shim_rwsem_wake_delay_us, us, __ATOMIC_RELAXED);
}

void init_rwsem(struct rw_semaphore *s)
{
	pthread_rwlockattr_t attr;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&s->l, &attr);
	pthread_rwlockattr_destroy(&attr);
	s->waiters = 0;
	s->owner_cpu = -1;
	s->wakeups = 0;
	s->downgrading = 0;
}

void destroy_rwsem(struct rw_semaphore *s)
{
	pthread_rwlock_destroy(&s->l);
}

/*
 * The kernel's rwsem spins on the lock while its owner runs (optimistic
 * spinning) and sleeps only after that; a bare pthread rwlock sleeps on
 * the futex at once, and a contended mmap_lock then costs two context
 * switches and a convoy where the kernel's costs a few microseconds of
 * spinning: classic, pinned one thread per CPU, ran 30x slower than
 * unpinned.  So lockers try for a while before they block.
 *
 * Userspace cannot read a thread's on_cpu, but it can see one case of
 * "the owner is not running": the writer took the lock on the CPU the
 * spinner now runs on (each thread's rseq cpu_id, see shim_rseq_cpu()).
 * Then every spin keeps the owner off its CPU, so the spinner sleeps at
 * once, as rwsem_spin_on_owner() stops when !owner_on_cpu().  With
 * workers pinned one per CPU and more workers than CPUs that is exactly
 * the preempted-owner case; an owner that migrated since it took the lock
 * is not seen, and the time bound stays: the kernel stops spinning on a
 * reader-owned rwsem after at most 25 us (rwsem_rspin_threshold()), and
 * a reader-owned shim rwsem has no owner CPU.
 */
unsigned long shim_rwsem_spin_ns = SHIM_RWSEM_SPIN_NS;

static inline void shim_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#elif defined(__powerpc64__)
	__asm__ __volatile__("or 1,1,1; or 2,2,2" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

static uint64_t shim_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static int shim_rseq_cpu(void);

/* The writer runs on no CPU we can vouch for, unless it is ours. */
static bool shim_rwsem_owner_preempted(const struct rw_semaphore *s)
{
	int owner = __atomic_load_n(&s->owner_cpu, __ATOMIC_RELAXED);

	return owner >= 0 && owner == shim_rseq_cpu();
}

static bool shim_rwsem_spin(struct rw_semaphore *s,
			    int (*trylock)(pthread_rwlock_t *))
{
	unsigned long budget = __atomic_load_n(&shim_rwsem_spin_ns,
					       __ATOMIC_RELAXED);
	uint64_t deadline = 0;
	unsigned int i;

	if (!trylock(&s->l))
		return true;
	if (!budget)
		return false;
	for (i = 1;; i++) {
		if (shim_rwsem_owner_preempted(s))
			return false;
		shim_cpu_relax();
		if (!trylock(&s->l))
			return true;
		/* The clock every 16 tries: a vDSO call costs ~20 pauses. */
		if (i % 16)
			continue;
		if (!deadline)
			deadline = shim_now_ns() + budget;
		else if (shim_now_ns() > deadline)
			return false;
	}
}

void down_read(struct rw_semaphore *s)
{
	if (!shim_rwsem_spin(s, pthread_rwlock_tryrdlock))
		pthread_rwlock_rdlock(&s->l);
	shim_lockdep_acquire(s, SHIM_HELD_READ);
}

int down_read_trylock(struct rw_semaphore *s)
{
	if (pthread_rwlock_tryrdlock(&s->l))
		return 0;
	shim_lockdep_acquire(s, SHIM_HELD_READ);
	return 1;
}

/*
 * Like the kernel's: the count drops first, and a writer seen waiting is
 * woken afterwards through the semaphore, so the caller must keep it
 * alive (vma_end_read() holds RCU) until up_read() returns.
 */
void up_read(struct rw_semaphore *s)
{
	bool wake = __atomic_load_n(&s->waiters, __ATOMIC_RELAXED);
	unsigned int delay;

	shim_lockdep_release(s);
	pthread_rwlock_unlock(&s->l);
	if (!wake)
		return;
	delay = __atomic_load_n(&shim_rwsem_wake_delay_us, __ATOMIC_RELAXED);
	if (delay) {
		__atomic_fetch_add(&shim_rwsem_delayed_wakes, 1,
				   __ATOMIC_RELAXED);
		usleep(delay);
	}
	__atomic_fetch_add(&s->wakeups, 1, __ATOMIC_RELAXED);
}

/*
 * Makes the write hold just taken on s->l the caller's, unless it came
 * between a downgrader's unlock and its read lock (downgrading was set
 * before that unlock, which our lock acquired): then it gives it back.
 */
static bool shim_rwsem_claim_write(struct rw_semaphore *s)
{
	if (__atomic_load_n(&s->downgrading, __ATOMIC_RELAXED)) {
		pthread_rwlock_unlock(&s->l);
		return false;
	}
	__atomic_store_n(&s->owner_cpu, shim_rseq_cpu(), __ATOMIC_RELAXED);
	shim_lockdep_acquire(s, SHIM_HELD_WRITE);
	return true;
}

void down_write(struct rw_semaphore *s)
{
	for (;;) {
		/* A spinner is no waiter (no RWSEM_FLAG_WAITERS), a sleeper is. */
		if (!shim_rwsem_spin(s, pthread_rwlock_trywrlock)) {
			__atomic_fetch_add(&s->waiters, 1, __ATOMIC_RELAXED);
			pthread_rwlock_wrlock(&s->l);
			__atomic_fetch_sub(&s->waiters, 1, __ATOMIC_RELAXED);
		}
		if (shim_rwsem_claim_write(s))
			return;
		/* Until the downgrader has its read lock (it needs the CPU). */
		while (__atomic_load_n(&s->downgrading, __ATOMIC_RELAXED))
			sched_yield();
	}
}

int down_write_trylock(struct rw_semaphore *s)
{
	return !pthread_rwlock_trywrlock(&s->l) && shim_rwsem_claim_write(s);
}

/*
 * The kernel turns the write hold into a read hold atomically; here no
 * other writer may run in between (down_write() backs off), readers may,
 * as they may in the kernel right after the downgrade.
 */
void downgrade_write(struct rw_semaphore *s)
{
	shim_lockdep_release(s);
	__atomic_store_n(&s->downgrading, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&s->owner_cpu, -1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->l);
	pthread_rwlock_rdlock(&s->l);
	__atomic_store_n(&s->downgrading, 0, __ATOMIC_RELAXED);
	shim_lockdep_acquire(s, SHIM_HELD_READ);
}

void up_write(struct rw_semaphore *s)
{
	shim_lockdep_release(s);
	__atomic_store_n(&s->owner_cpu, -1, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&s->l);
}

/* ---- allocation: counted, failable ---- */

static long shim_live[SHIM_NR_ALLOC_KINDS];
static long shim_total;
static long shim_fail_at;	/* fail when shim_total reaches this; 0: off */

void smm_shim_fail_nth(long n)
{
	long now = __atomic_load_n(&shim_total, __ATOMIC_RELAXED);

	__atomic_store_n(&shim_fail_at, n > 0 ? now + n : 0, __ATOMIC_RELAXED);
}

long smm_shim_fail_nth_pending(void)
{
	long at = __atomic_load_n(&shim_fail_at, __ATOMIC_RELAXED);

	return at ? at - __atomic_load_n(&shim_total, __ATOMIC_RELAXED) : 0;
}

static long shim_pages_sum(bool bytes);

long smm_shim_allocs_live(int kind)
{
	long sum = 0;
	int k;

	if (kind == SHIM_ALLOC_PAGE)
		return shim_pages_sum(false);
	if (kind >= 0)
		return __atomic_load_n(&shim_live[kind], __ATOMIC_RELAXED);
	for (k = 0; k < SHIM_NR_ALLOC_KINDS; k++)
		sum += k == SHIM_ALLOC_PAGE ?
		       shim_pages_sum(false) :
		       __atomic_load_n(&shim_live[k], __ATOMIC_RELAXED);
	return sum;
}

long smm_shim_allocs_total(void)
{
	return __atomic_load_n(&shim_total, __ATOMIC_RELAXED);
}

/* Counts one allocation attempt; false if this one is to fail. */
static bool shim_alloc_begin(void)
{
	long n = __atomic_add_fetch(&shim_total, 1, __ATOMIC_RELAXED);
	long at = __atomic_load_n(&shim_fail_at, __ATOMIC_RELAXED);

	if (at && n == at) {
		__atomic_store_n(&shim_fail_at, 0, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

static void *shim_alloc_end(void *p, enum shim_alloc_kind kind)
{
	if (p)
		__atomic_fetch_add(&shim_live[kind], 1, __ATOMIC_RELAXED);
	return p;
}

static void shim_free(const void *p, enum shim_alloc_kind kind)
{
	if (!p)
		return;
	__atomic_fetch_sub(&shim_live[kind], 1, __ATOMIC_RELAXED);
	free((void *)p);
}

void *kmalloc(size_t size, gfp_t gfp)
{
	if (!shim_alloc_begin())
		return NULL;
	return shim_alloc_end(malloc(size), SHIM_ALLOC_KMALLOC);
}

void *kzalloc(size_t size, gfp_t gfp)
{
	if (!shim_alloc_begin())
		return NULL;
	return shim_alloc_end(calloc(1, size), SHIM_ALLOC_KMALLOC);
}

void kfree(const void *p)
{
	shim_free(p, SHIM_ALLOC_KMALLOC);
}

struct kmem_cache {
	const char *name;
	size_t size;
	size_t align;
	long live;
};

struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
				     unsigned int align, unsigned long flags,
				     void (*ctor)(void *))
{
	struct kmem_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->name = name;
	c->align = align ? align : sizeof(void *);
	if (flags & SLAB_HWCACHE_ALIGN && c->align < 64)
		c->align = 64;
	c->size = ALIGN((size_t)size, c->align);
	return c;
}

void kmem_cache_destroy(struct kmem_cache *c)
{
	if (!c)
		return;
	if (__atomic_load_n(&c->live, __ATOMIC_RELAXED))
		fprintf(stderr, "kmem_cache_destroy %s: %ld objects live\n",
			c->name, c->live);
	free(c);
}

void *kmem_cache_alloc(struct kmem_cache *c, gfp_t gfp)
{
	void *p;

	if (!shim_alloc_begin())
		return NULL;
	p = aligned_alloc(c->align, c->size);
	if (p && gfp & __GFP_ZERO)
		memset(p, 0, c->size);
	if (p)
		__atomic_fetch_add(&c->live, 1, __ATOMIC_RELAXED);
	return shim_alloc_end(p, SHIM_ALLOC_SLAB);
}

void *kmem_cache_zalloc(struct kmem_cache *c, gfp_t gfp)
{
	return kmem_cache_alloc(c, gfp | __GFP_ZERO);
}

void kmem_cache_free(struct kmem_cache *c, void *p)
{
	if (!p)
		return;
	__atomic_fetch_sub(&c->live, 1, __ATOMIC_RELAXED);
	shim_free(p, SHIM_ALLOC_SLAB);
}

/*
 * Shadow pages.  glibc's aligned_alloc() is slow and fragments under the
 * alloc/free churn of a fault benchmark, which would make the allocator,
 * not the fault path, what is measured.  So, like the kernel's per-CPU
 * page lists, each thread keeps a small cache of free pages per size and
 * trades batches with a global list.  Sanitizer builds skip the cache so
 * ASan and TSan see every page allocated and freed.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SHIM_PAGE_CACHE 0
#else
#define SHIM_PAGE_CACHE 1
#endif
#define SHIM_PCP_HIGH	512
#define SHIM_PCP_BATCH	128
/* Cached sizes: 4 KiB to 64 KiB, every geometry's. */
#define SHIM_PAGE_SHIFT_MIN	12
#define SHIM_PAGE_CLASSES	5

struct shim_free_page {
	struct shim_free_page *next;
};

struct shim_page_list {
	struct shim_free_page *head;
	unsigned int count;
};

static __thread struct shim_page_list shim_pcp[SHIM_PAGE_CLASSES];
static pthread_mutex_t shim_pages_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shim_free_page *shim_pages[SHIM_PAGE_CLASSES];
/*
 * Live shadow pages by size (log2): one increment per page, as one live
 * count was before pages had sizes; bytes and the total are sums.
 */
static long shim_pages_live[64];
static long shim_table_bytes;

static bool shim_page_cached(unsigned int shift)
{
	return SHIM_PAGE_CACHE && shift >= SHIM_PAGE_SHIFT_MIN &&
	       shift < SHIM_PAGE_SHIFT_MIN + SHIM_PAGE_CLASSES;
}

static void *shim_page_get(unsigned int shift)
{
	size_t size = (size_t)1 << shift;
	struct shim_page_list *pcp;
	struct shim_free_page *p;
	unsigned int c;

	if (!shim_page_cached(shift))
		return aligned_alloc(size, size);
	c = shift - SHIM_PAGE_SHIFT_MIN;
	pcp = &shim_pcp[c];
	if (!pcp->head) {
		pthread_mutex_lock(&shim_pages_lock);
		while (shim_pages[c] && pcp->count < SHIM_PCP_BATCH) {
			p = shim_pages[c];
			shim_pages[c] = p->next;
			p->next = pcp->head;
			pcp->head = p;
			pcp->count++;
		}
		pthread_mutex_unlock(&shim_pages_lock);
	}
	if (!pcp->head)
		return aligned_alloc(size, size);
	p = pcp->head;
	pcp->head = p->next;
	pcp->count--;
	return p;
}

static void shim_page_put(void *page, unsigned int shift)
{
	struct shim_free_page *p = page;
	struct shim_page_list *pcp;
	unsigned int c;

	if (!shim_page_cached(shift)) {
		free(page);
		return;
	}
	c = shift - SHIM_PAGE_SHIFT_MIN;
	pcp = &shim_pcp[c];
	p->next = pcp->head;
	pcp->head = p;
	if (++pcp->count < SHIM_PCP_HIGH)
		return;
	pthread_mutex_lock(&shim_pages_lock);
	while (pcp->count > SHIM_PCP_HIGH - SHIM_PCP_BATCH) {
		p = pcp->head;
		pcp->head = p->next;
		p->next = shim_pages[c];
		shim_pages[c] = p;
		pcp->count--;
	}
	pthread_mutex_unlock(&shim_pages_lock);
}

static unsigned int shim_host_page_shift;

void smm_shim_set_host_page_shift(unsigned int shift)
{
	__atomic_store_n(&shim_host_page_shift, shift, __ATOMIC_RELAXED);
}

unsigned int smm_host_page_shift(void)
{
	unsigned int shift = __atomic_load_n(&shim_host_page_shift,
					     __ATOMIC_RELAXED);

	return shift ? shift : (unsigned int)__builtin_ctzl(sysconf(_SC_PAGESIZE));
}

static long shim_pages_sum(bool bytes)
{
	long sum = 0;
	unsigned int shift;

	for (shift = 0; shift < ARRAY_SIZE(shim_pages_live); shift++) {
		long n = __atomic_load_n(&shim_pages_live[shift],
					 __ATOMIC_RELAXED);

		sum += bytes ? n << shift : n;
	}
	return sum;
}

long smm_shim_bytes_live(int kind)
{
	if (kind == SHIM_ALLOC_PAGE)
		return shim_pages_sum(true);
	if (kind == SHIM_ALLOC_TABLE)
		return __atomic_load_n(&shim_table_bytes, __ATOMIC_RELAXED);
	return -1;
}

void *smm_alloc_shadow_page(struct kmem_cache *cache, unsigned int shift,
			    gfp_t gfp)
{
	void *p;

	if (!shim_alloc_begin())
		return NULL;
	p = shim_page_get(shift);
	if (p) {
		/*
		 * A constant size lets the compiler clear a 4 KiB page inline
		 * (rep stosq); glibc's memset() of a variable size picks rep
		 * stosb, which callgrind counts per byte and would make
		 * scripts/icount.sh's figures jump by 3,500 per fault.
		 */
		if (shift == SHIM_PAGE_SHIFT_MIN)
			memset(p, 0, (size_t)1 << SHIM_PAGE_SHIFT_MIN);
		else
			memset(p, 0, (size_t)1 << shift);
		__atomic_fetch_add(&shim_pages_live[shift], 1, __ATOMIC_RELAXED);
	}
	return p;
}

void smm_free_shadow_page(struct kmem_cache *cache, unsigned int shift,
			  void *page)
{
	if (!page)
		return;
	__atomic_fetch_sub(&shim_pages_live[shift], 1, __ATOMIC_RELAXED);
	shim_page_put(page, shift);
}

void *smm_alloc_table(unsigned int size, gfp_t gfp)
{
	void *p;

	if (!shim_alloc_begin())
		return NULL;
	p = calloc(1, size);
	if (p)
		__atomic_fetch_add(&shim_table_bytes, size, __ATOMIC_RELAXED);
	return shim_alloc_end(p, SHIM_ALLOC_TABLE);
}

void smm_free_table(void *table, unsigned int size)
{
	if (!table)
		return;
	__atomic_fetch_sub(&shim_table_bytes, size, __ATOMIC_RELAXED);
	shim_free(table, SHIM_ALLOC_TABLE);
}

/* ---- per-CPU units ---- */

unsigned int shim_nr_cpu_ids = 1;

static void __attribute__((constructor)) shim_cpu_init(void)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);

	shim_nr_cpu_ids = n < 1 ? 1 : n > SHIM_NR_CPUS ? SHIM_NR_CPUS : n;
}

void *shim_alloc_percpu(size_t size)
{
	size_t bytes = (size_t)shim_nr_cpu_ids * SHIM_PCPU_UNIT;
	void *p;

	if (size > SHIM_PCPU_UNIT) {
		fprintf(stderr, "alloc_percpu: %zu bytes > unit\n", size);
		abort();
	}
	if (!shim_alloc_begin())
		return NULL;
	p = aligned_alloc(SHIM_PCPU_UNIT, bytes);
	if (p)
		memset(p, 0, bytes);
	return shim_alloc_end(p, SHIM_ALLOC_PERCPU);
}

void free_percpu(void *p)
{
	shim_free(p, SHIM_ALLOC_PERCPU);
}

/*
 * The CPU this thread runs on, for this_cpu ops.  glibc registers rseq
 * for every thread, and the kernel keeps rseq->cpu_id current at every
 * return to user space: one load from the thread's TLS block, where
 * sched_getcpu() costs a vDSO call (about 3% of an in-process ebizzy
 * record).  As in the kernel, a stale answer only costs a remote
 * increment: the counters are atomics.  -1 where rseq is not registered
 * (glibc.pthread.rseq=0, or valgrind): then sched_getcpu().
 */
static inline char *shim_thread_pointer(void)
{
#if defined(__powerpc64__)
	/* GCC has no __builtin_thread_pointer() here: r13 is the ABI's. */
	char *tp;

	__asm__("mr %0, 13" : "=r"(tp));
	return tp;
#else
	return __builtin_thread_pointer();
#endif
}

static int shim_rseq_cpu(void)
{
	const struct rseq *rs;

	if (!__rseq_size)
		return -1;
	rs = (const struct rseq *)(shim_thread_pointer() + __rseq_offset);
	return (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);
}

unsigned int shim_this_cpu(void)
{
	static __thread unsigned int calls;
	static __thread int cached_cpu;
	int cpu = shim_rseq_cpu();

	/* Without rseq, a CPU asked every 64 calls is as good a guess. */
	if (cpu < 0) {
		if (!(calls++ & 63))
			cached_cpu = sched_getcpu();
		cpu = cached_cpu;
	}

	/* A CPU beyond the configured count (hotplug) shares the last unit. */
	if (cpu < 0)
		return 0;
	return (unsigned int)cpu < shim_nr_cpu_ids ? (unsigned int)cpu
						   : shim_nr_cpu_ids - 1;
}

void smm_host_race_delay(void)
{
	sched_yield();
}

static long shim_signal_countdown = -1;

void smm_shim_signal_after(long n)
{
	__atomic_store_n(&shim_signal_countdown, n, __ATOMIC_RELAXED);
}

bool smm_host_should_stop(void)
{
	long n = __atomic_load_n(&shim_signal_countdown, __ATOMIC_RELAXED);

	if (n < 0)
		return false;
	if (n == 0)
		return true;
	__atomic_fetch_sub(&shim_signal_countdown, 1, __ATOMIC_RELAXED);
	return false;
}

/* ---- waiting for a variable, swap I/O, the background reclaimer ---- */

/* Wait buckets: a power of two, and more than the threads that wait. */
#define SHIM_WAIT_BITS 6
static struct shim_wait_bucket {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Wake-ups so far: moved on under ->lock, read without it. */
	unsigned long gen;
} shim_wait_table[1 << SHIM_WAIT_BITS] = {
	[0 ... (1 << SHIM_WAIT_BITS) - 1] = {
		PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 },
};

static struct shim_wait_bucket *shim_wait_bucket(const void *var)
{
	/* hash_ptr(): the golden-ratio multiply, top bits. */
	uint64_t h = (uint64_t)(uintptr_t)var * 0x61c8864680b583ebULL;

	return &shim_wait_table[h >> (64 - SHIM_WAIT_BITS)];
}

static void shim_deadline(struct timespec *ts, long ns)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_nsec += ns;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

unsigned long shim_wait_var_gen(const void *var)
{
	/*
	 * Pairs with the release increment in wake_up_var(): a new
	 * generation comes with what the waker stored before it.
	 */
	return __atomic_load_n(&shim_wait_bucket(var)->gen, __ATOMIC_ACQUIRE);
}

void shim_wait_var_slice(const void *var, unsigned long gen)
{
	struct shim_wait_bucket *b = shim_wait_bucket(var);
	struct timespec ts;

	shim_deadline(&ts, 1000000L);
	pthread_mutex_lock(&b->lock);
	/* A wake-up since the caller's test: test again at once. */
	if (__atomic_load_n(&b->gen, __ATOMIC_RELAXED) == gen)
		pthread_cond_timedwait(&b->cond, &b->lock, &ts);
	pthread_mutex_unlock(&b->lock);
}

void wake_up_var(void *var)
{
	struct shim_wait_bucket *b = shim_wait_bucket(var);

	pthread_mutex_lock(&b->lock);
	/* Release: pairs with the acquire in shim_wait_var_gen(). */
	__atomic_store_n(&b->gen, b->gen + 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

unsigned long shim_now_ms(void)
{
	return shim_now_ns() / 1000000u;
}

unsigned long smm_host_tid(void)
{
	return (unsigned long)gettid();
}

void smm_host_io_sleep(unsigned long us)
{
	struct timespec ts = { .tv_sec = us / 1000000,
			       .tv_nsec = (long)(us % 1000000) * 1000 };

	if (us)
		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
}

/*
 * One thread, like the module's kthread: sleeps until woken (or 100 ms,
 * so a space left above its watermark is looked at again), runs @fn.
 */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	void (*fn)(void);
	bool running, stop, woken, paused;
} shim_reclaimer = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

void smm_shim_background_reclaim(bool on)
{
	pthread_mutex_lock(&shim_reclaimer.lock);
	shim_reclaimer.paused = !on;
	pthread_mutex_unlock(&shim_reclaimer.lock);
}

static void *shim_reclaimer_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&shim_reclaimer.lock);
	while (!shim_reclaimer.stop) {
		struct timespec ts;

		if (!shim_reclaimer.woken) {
			shim_deadline(&ts, 100000000L);
			pthread_cond_timedwait(&shim_reclaimer.cond,
					       &shim_reclaimer.lock, &ts);
		}
		if (shim_reclaimer.stop)
			break;
		shim_reclaimer.woken = false;
		if (shim_reclaimer.paused)
			continue;
		pthread_mutex_unlock(&shim_reclaimer.lock);
		shim_reclaimer.fn();
		pthread_mutex_lock(&shim_reclaimer.lock);
	}
	pthread_mutex_unlock(&shim_reclaimer.lock);
	return NULL;
}

int smm_host_reclaimer_start(void (*fn)(void))
{
	int err = 0;

	pthread_mutex_lock(&shim_reclaimer.lock);
	if (!shim_reclaimer.running) {
		shim_reclaimer.fn = fn;
		shim_reclaimer.stop = false;
		shim_reclaimer.woken = false;
		err = -pthread_create(&shim_reclaimer.thread, NULL,
				      shim_reclaimer_main, NULL);
		shim_reclaimer.running = !err;
	}
	pthread_mutex_unlock(&shim_reclaimer.lock);
	return err;
}

void smm_host_reclaimer_stop(void)
{
	pthread_mutex_lock(&shim_reclaimer.lock);
	if (!shim_reclaimer.running) {
		pthread_mutex_unlock(&shim_reclaimer.lock);
		return;
	}
	shim_reclaimer.stop = true;
	pthread_cond_signal(&shim_reclaimer.cond);
	pthread_mutex_unlock(&shim_reclaimer.lock);
	pthread_join(shim_reclaimer.thread, NULL);
	shim_reclaimer.running = false;
}

void smm_host_reclaimer_wake(void)
{
	pthread_mutex_lock(&shim_reclaimer.lock);
	shim_reclaimer.woken = true;
	pthread_cond_signal(&shim_reclaimer.cond);
	pthread_mutex_unlock(&shim_reclaimer.lock);
}
