// SPDX-License-Identifier: GPL-2.0
/*
 * liburcu-memb's read-side fast path, inlined from its static (LGPL) API.
 * Through the shared library every rcu_read_lock() and unlock was a PLT
 * call plus a __tls_get_addr() for the reader's counter: about 10% of
 * the instructions of an in-process vmalock fault, which takes RCU three
 * times, where the kernel's read lock costs next to nothing.  Inlined here
 * the counter is an initial-exec TLS access.
 *
 * A file of its own because liburcu's headers map the rcu_* names that
 * the shim defines for the core (rcu.c).
 */
#define _LGPL_SOURCE
#include <urcu/urcu-memb.h>

void shim_urcu_read_lock(void);
void shim_urcu_read_unlock(void);

void shim_urcu_read_lock(void)
{
	urcu_memb_read_lock();
}

void shim_urcu_read_unlock(void)
{
	urcu_memb_read_unlock();
}
