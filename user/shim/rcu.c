// SPDX-License-Identifier: GPL-2.0
/*
 * RCU for the userspace host: liburcu's memb flavour for readers and grace
 * periods, and a call_rcu() worker of our own.
 *
 * Why not liburcu's call_rcu: its struct rcu_head has another layout than
 * the one the core is written against, and TSan needs to be told that a
 * callback runs after every reader that could see the object: readers
 * __tsan_release() a sync address at unlock, the worker __tsan_acquire()s
 * it after synchronize_rcu(), before running callbacks.  liburcu's own
 * reader state is touched only inside the (uninstrumented) library.
 *
 * Threads register with liburcu on their first rcu_read_lock() and
 * unregister at exit, as kernel tasks need no registration either.
 */
#include <stdlib.h>

#include "smm_internal.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define shim_tsan_release(a)	__tsan_release(a)
#define shim_tsan_acquire(a)	__tsan_acquire(a)
#else
#define shim_tsan_release(a)	do { } while (0)
#define shim_tsan_acquire(a)	do { } while (0)
#endif

/*
 * liburcu-memb's ABI, declared here so its macros stay out of the core;
 * the read side is inlined in rcu_reader.c.
 */
void shim_urcu_read_lock(void);
void shim_urcu_read_unlock(void);
void urcu_memb_synchronize_rcu(void);
void urcu_memb_register_thread(void);
void urcu_memb_unregister_thread(void);

static char shim_rcu_sync;	/* TSan's happens-before token */
static pthread_key_t shim_rcu_key;
static pthread_once_t shim_rcu_once = PTHREAD_ONCE_INIT;
static __thread bool shim_rcu_registered;

static void shim_rcu_thread_exit(void *unused)
{
	urcu_memb_unregister_thread();
}

static void shim_rcu_key_init(void)
{
	pthread_key_create(&shim_rcu_key, shim_rcu_thread_exit);
}

void rcu_read_lock(void)
{
	if (unlikely(!shim_rcu_registered)) {
		pthread_once(&shim_rcu_once, shim_rcu_key_init);
		urcu_memb_register_thread();
		/* Any non-NULL value makes the destructor run at exit. */
		pthread_setspecific(shim_rcu_key, &shim_rcu_sync);
		shim_rcu_registered = true;
	}
	shim_urcu_read_lock();
}

void rcu_read_unlock(void)
{
	shim_tsan_release(&shim_rcu_sync);
	shim_urcu_read_unlock();
}

void synchronize_rcu(void)
{
	urcu_memb_synchronize_rcu();
	shim_tsan_acquire(&shim_rcu_sync);
}

static pthread_mutex_t cb_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_queued_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cb_done_cond = PTHREAD_COND_INITIALIZER;
static struct rcu_head *cb_list;
static struct rcu_head **cb_tail = &cb_list;
static unsigned long cb_nr_queued, cb_nr_done;
static bool cb_worker_started;

/* Batches callbacks: one grace period for everything queued meanwhile. */
static void *shim_rcu_worker(void *unused)
{
	struct rcu_head *batch, *next;
	unsigned long n;

	pthread_mutex_lock(&cb_lock);
	for (;;) {
		while (!cb_list)
			pthread_cond_wait(&cb_queued_cond, &cb_lock);
		batch = cb_list;
		cb_list = NULL;
		cb_tail = &cb_list;
		pthread_mutex_unlock(&cb_lock);

		synchronize_rcu();
		for (n = 0; batch; batch = next, n++) {
			next = batch->next;
			batch->func(batch);
		}

		pthread_mutex_lock(&cb_lock);
		cb_nr_done += n;
		pthread_cond_broadcast(&cb_done_cond);
	}
	return NULL;
}

void call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *head))
{
	pthread_t worker;

	head->func = func;
	head->next = NULL;
	pthread_mutex_lock(&cb_lock);
	if (!cb_worker_started) {
		if (pthread_create(&worker, NULL, shim_rcu_worker, NULL)) {
			fprintf(stderr, "call_rcu: cannot start the worker\n");
			abort();
		}
		pthread_detach(worker);
		cb_worker_started = true;
	}
	*cb_tail = head;
	cb_tail = &head->next;
	cb_nr_queued++;
	pthread_cond_signal(&cb_queued_cond);
	pthread_mutex_unlock(&cb_lock);
}

void rcu_barrier(void)
{
	unsigned long target;

	pthread_mutex_lock(&cb_lock);
	target = cb_nr_queued;
	while (cb_nr_done < target)
		pthread_cond_wait(&cb_done_cond, &cb_lock);
	pthread_mutex_unlock(&cb_lock);
}
