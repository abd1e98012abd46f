/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * shadowmm user ABI: the one header shared by shadowmm.ko, the core and the
 * C++ harness.
 *
 * Every open() of <debugfs>/shadowmm/ctl is one shadow address space.  Each
 * operation is described by one struct shadowmm_cmd of __u64 fields only
 * (the lib/test_hmm.c style), passed either to an ioctl, or as a fixed-size
 * record to write(): several records per write(), processed in order, the
 * return value being the bytes consumed (io_uring submits these writes).
 *
 * Addresses and lengths are multiples of the space's page size (GET_INFO);
 * a range must not wrap and must lie below SHADOWMM_TASK_SIZE.  The page
 * size and the 4-level table geometry are the space's own (enum
 * shadowmm_geometry), by default the host kernel's, whatever that is.
 */
#ifndef _UAPI_SHADOWMM_H
#define _UAPI_SHADOWMM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * The smallest shadow page of any geometry (the 4K one's): what every
 * page size is a multiple of.  A space's own page size is in GET_INFO.
 */
#define SHADOWMM_PAGE_SHIFT_MIN	12
#define SHADOWMM_PAGE_SIZE_MIN	_BITULL(SHADOWMM_PAGE_SHIFT_MIN)
/*
 * Both geometries span 48 bits or more; userspace gets 128 TiB, as on
 * x86-64 and as ppc64's default TASK_SIZE.
 */
#define SHADOWMM_TASK_SIZE	_BITULL(47)
/*
 * Like vm.mmap_min_addr: the first 64 KiB are never mapped (a whole page
 * in every geometry).
 */
#define SHADOWMM_MMAP_MIN_ADDR	_BITULL(16)

/*
 * Page size and page-table geometry of a space (SET_GEOMETRY on an empty
 * space, or <debugfs>/shadowmm/geometry for new ones).  Any geometry works
 * on any host: a shadow page is a block of its own size, not a kernel
 * page.  Every geometry has SHADOWMM_PT_LEVELS levels.
 */
enum shadowmm_geometry {
	/*
	 * The host kernel's own: 64K on a 64 KiB-page kernel (ppc64le),
	 * otherwise 4K.  GET_INFO reports what it resolved to.
	 */
	SHADOWMM_GEOM_HOST = 0,
	/* x86-64: 4 KiB pages, 9/9/9/9 index bits (PGD first). */
	SHADOWMM_GEOM_4K = 1,
	/*
	 * Linux's ppc64 radix with 64 KiB pages: 13/9/9/5 bits, so a 64 KiB
	 * PGD, 4 KiB PUD and PMD tables and 32 PTEs (256 bytes) per table.
	 */
	SHADOWMM_GEOM_64K = 2,
	SHADOWMM_NR_GEOMS
};

#define SHADOWMM_PT_LEVELS	4

/* shadowmm_cmd.prot */
#define SHADOWMM_PROT_NONE	0x0ULL
#define SHADOWMM_PROT_READ	0x1ULL
#define SHADOWMM_PROT_WRITE	0x2ULL	/* implies read, as on x86 */
#define SHADOWMM_PROT_MASK	0x3ULL

/* shadowmm_cmd.flags */
#define SHADOWMM_MAP_FIXED	0x1ULL	/* at addr or fail; never replaces */
#define SHADOWMM_ACCESS_WRITE	0x2ULL	/* FAULT/TOUCH: store value, else load */
#define SHADOWMM_SEARCH_LINEAR	0x4ULL	/* SEARCH: in order, not bisecting */
#define SHADOWMM_UFFD_MISSING	0x8ULL	/* UFFD_REGISTER: missing pages */
#define SHADOWMM_UFFD_FILL	0x10ULL	/* UFFD_COPY: value, not ptr */
#define SHADOWMM_UFFD_DONTWAKE	0x20ULL	/* UFFD_COPY, UFFD_ZEROPAGE */

/*
 * Fault-locking strategies, per address space (SET_MODE) or as the default
 * for new spaces (<debugfs>/shadowmm/mode).
 */
enum shadowmm_mode {
	SHADOWMM_MODE_CLASSIC = 0,	/* mmap_lock read side for every fault */
	SHADOWMM_MODE_SPF = 1,		/* speculative, per-VMA sequence count */
	SHADOWMM_MODE_VMALOCK = 2,	/* per-VMA read lock under RCU (6.4+) */
	SHADOWMM_MODE_MMSEQ = 3,	/* speculative, one per-mm sequence */
	SHADOWMM_NR_MODES
};

/*
 * What a vmalock fault does when it must wait for a swap-in
 * (SET_SWAP_POLICY, <debugfs>/shadowmm/swap_policy for new spaces), so one
 * run compares kernel generations.  classic always drops mmap_lock, waits
 * and retries (FAULT_FLAG_ALLOW_RETRY); spf and mmseq always abort.
 */
enum shadowmm_swap_policy {
	/* 6.4: give up the VMA lock at once and fault under mmap_lock. */
	SHADOWMM_SWAP_FALLBACK = 0,
	/*
	 * 6.6 ("Per-VMA lock support for swap and userfaults"): drop the VMA
	 * lock, wait for the read, retry the fault under mmap_lock.
	 */
	SHADOWMM_SWAP_DROP_RETRY = 1,
	/* LSFMM 2026: drop the VMA lock, wait, retry under the VMA lock. */
	SHADOWMM_SWAP_VMA_RETRY = 2,
	SHADOWMM_NR_SWAP_POLICIES
};

/*
 * What a vmalock fault does in a VMA that has no anon_vma yet (its first
 * fault since map, or since a merge or split left it without one)
 * (SET_ANON_POLICY, <debugfs>/shadowmm/anon_policy for new spaces).
 * Workloads that map, touch once and unmap (ebizzy -mTRp's records) take
 * every fault there, so this decides what per-VMA locks buy them.
 */
enum shadowmm_anon_policy {
	/* 6.4 to 6.7: give up the VMA lock and fault under mmap_lock. */
	SHADOWMM_ANON_FALLBACK = 0,
	/*
	 * 6.8+ (vmf_anon_prepare()): make the anon_vma under the VMA lock if
	 * mmap_read_trylock() succeeds; fall back to mmap_lock if not.
	 */
	SHADOWMM_ANON_TRYLOCK = 1,
	SHADOWMM_NR_ANON_POLICIES
};

/*
 * The shadow MMU's TLBs (SET_TLB_POLICY while the space has no VMA,
 * <debugfs>/shadowmm/tlb_policy for new spaces).  With a TLB, each CPU
 * caches translations and an access that hits one touches the page
 * without walking or locking; every change that removes or downgrades a
 * translation shoots it down on each CPU that may cache the space's,
 * by IPI in the module, before the change completes.  The two TLB
 * policies differ in how freed page tables are kept safe for lockless
 * walkers, and so in how a speculative fault walks.
 */
enum shadowmm_tlb_policy {
	/* No TLB: every access walks and takes the PTE lock (no IPIs). */
	SHADOWMM_TLB_NONE = 0,
	/* TLB; tables freed after an RCU grace period (walkers in RCU). */
	SHADOWMM_TLB_RCU = 1,
	/*
	 * TLB; tables freed after an IPI round to the space's CPUs, as x86
	 * does for gup_fast: lockless walkers, spf and mmseq included, run
	 * with interrupts off, so a speculative fault may only trylock the
	 * PTE lock (a writer flushing under it waits for that CPU).
	 */
	SHADOWMM_TLB_IPI = 2,
	SHADOWMM_NR_TLB_POLICIES
};

/*
 * Modelling choices (SET_MODEL, any time; new spaces 0, FORK's child
 * inherits).  Each bit puts back one way shadowmm departed from Linux
 * until the A/B against real kernels measured it, so that a bench can
 * put a number on each (README, "Predicted against real").  Not bugs:
 * nothing breaks, the model is only further from the kernel.
 */
enum shadowmm_model_choice {
	/*
	 * UNMAP holds the write lock through its zap, table frees and
	 * shootdown.  Clear: it detaches the VMAs under the write lock and
	 * downgrades to read for the rest, as munmap() does (6.1's
	 * do_mas_align_munmap(), 6.12's vms_complete_munmap_vmas()), so
	 * faults that take the lock wait out only the tree update.
	 */
	SHADOWMM_MODEL_UNMAP_WRITE = 0,
	/*
	 * A thread that waits for the mmap lock stays in the space's CPU
	 * mask, and shootdowns interrupt its CPU.  Clear: one that would
	 * sleep in Linux (a reader; a writer behind readers) leaves first,
	 * as TLB_LEAVE does, since its CPU, idle or running another mm, is
	 * lazy there: x86 skips it in flushes that free no page table, and
	 * it flushes when it comes back.  A writer behind a writer spins
	 * (the rwsem's optimistic spinning) and stays.
	 */
	SHADOWMM_MODEL_TLB_WAITERS_STAY = 1,
	SHADOWMM_NR_MODEL_CHOICES
};

#define SHADOWMM_MODEL_ALL	((1ULL << SHADOWMM_NR_MODEL_CHOICES) - 1)

/*
 * Known bugs, on purpose: bits of <debugfs>/shadowmm/bugs (smm_set_bugs()
 * in-process).  Each puts back a historical ordering or locking mistake so
 * that a test can prove its detector still fires.  Module-wide, off by
 * default; never set by a benchmark.
 */
enum shadowmm_bug {
	/*
	 * vma_start_read() re-checks mm_lock_seq after the trylock with a
	 * relaxed load, as before mainline's "mm: fix memory ordering for
	 * mm_lock_seq modifications": a reader may see a finished write
	 * cycle's sequence without its VMA changes.  Caught by TSan.
	 */
	SHADOWMM_BUG_VMA_SEQ_RELAXED = 0,
	/*
	 * up_read() of the VMA lock after rcu_read_unlock(): the writer can
	 * take the lock, free the VMA and finish a grace period while the
	 * reader's up_read() still touches the rwsem.  Caught by ASan.
	 */
	SHADOWMM_BUG_VMA_UNLOCK_OUTSIDE_RCU = 1,
	/*
	 * FORK copies the page tables without write-locking the parent's
	 * VMAs, as 6.4 did (kernel bugzilla 217624, fixed by "fork: lock VMAs
	 * of the parent process when forking"): a parent thread's vmalock or
	 * spf fault changes a PTE in the middle of the copy, and the child's
	 * memory is no snapshot of the parent's.  Caught by the fork stress.
	 */
	SHADOWMM_BUG_FORK_NO_VMA_LOCK = 2,
	/*
	 * A VMA split or merge locks the VMA's own anon_vma instead of its
	 * root's, as before 2.6.35's "take the anon_vma root lock in
	 * vma_adjust": after FORK a child's VMA has an anon_vma of its own
	 * under its parent's root, and its split rewrites the root's
	 * interval tree while reclaim walks it under the root's lock.
	 * Caught by TSan.
	 */
	SHADOWMM_BUG_ANON_VMA_OWN_LOCK = 3,
	/*
	 * With tlb_policy ipi, the speculative fault takes the PTE lock
	 * with spin_lock() instead of a trylock while its interrupts are
	 * off.  A writer that holds the lock and shoots down the space's
	 * TLBs waits for that CPU to take the IPI, and it spins on the lock
	 * forever: the deadlock of the SPF series' RFC v5 (Dufour, June
	 * 2017, on POWER, do_munmap() against a speculative fault).
	 * Caught by the kernel's lockup and RCU stall detectors in the VM,
	 * and by a watchdog that sees no progress in-process.
	 */
	SHADOWMM_BUG_SPF_IRQOFF_SPIN_PTL = 4,
	SHADOWMM_NR_BUGS
};

#define SHADOWMM_BUGS_MASK	((1ULL << SHADOWMM_NR_BUGS) - 1)

enum shadowmm_op {
	SHADOWMM_OP_NONE = 0,
	SHADOWMM_OP_MAP = 1,	/* in: addr (hint), len, prot, flags; out: out_addr */
	SHADOWMM_OP_UNMAP = 2,	/* in: addr, len */
	SHADOWMM_OP_PROTECT = 3,	/* in: addr, len, prot */
	SHADOWMM_OP_ZAP = 4,	/* in: addr, len (MADV_DONTNEED) */
	SHADOWMM_OP_FAULT = 5,	/* in: addr, flags, value; out: out_value, out_faults */
	/*
	 * TOUCH in: addr, len, stride, flags, value; out: out_faults, out_len
	 * (bytes covered; short, with 0 returned, if a signal stopped it)
	 */
	SHADOWMM_OP_TOUCH = 6,
	SHADOWMM_OP_GET_STATS = 7,	/* in: ptr, len (buffer); out: out_len */
	SHADOWMM_OP_SET_MODE = 8,	/* in: value (enum shadowmm_mode) */
	/*
	 * COPY in: addr (source), value (destination address), len; out:
	 * out_faults, out_len (bytes copied; short, with 0 returned, if a
	 * signal stopped it).  Addresses and len are multiples of 8 (not of
	 * the page), the ranges must not overlap.  Loads from the source and
	 * stores to the destination, faulting as those accesses would; stops
	 * at the first that fails.  ebizzy's memcpy().
	 */
	SHADOWMM_OP_COPY = 9,
	/*
	 * SEARCH in: addr, len, stride (record size, a multiple of 8), value
	 * (key), flags (SHADOWMM_SEARCH_LINEAR); out: out_addr (the record
	 * found), out_value (its index), out_faults.  Each record begins with
	 * the u64 compared with the key; a binary search (bsearch()'s
	 * bisection) needs them in ascending order.  -ENOENT if none matches.
	 * ebizzy's bsearch() and, linear, its linear_search().
	 */
	SHADOWMM_OP_SEARCH = 10,
	/*
	 * GET_INFO in: ptr, len (buffer for struct shadowmm_info); out:
	 * out_len.  Like GET_STATS, the one other op a read-only fd may use.
	 */
	SHADOWMM_OP_GET_INFO = 11,
	/*
	 * SET_GEOMETRY in: value (enum shadowmm_geometry).  Only while the
	 * space has no VMA (-EBUSY otherwise): pages and tables of one size
	 * never meet the other's.
	 */
	SHADOWMM_OP_SET_GEOMETRY = 12,
	/*
	 * RECLAIM in: addr, len (a range; both 0: the whole space), value
	 * (pages to reclaim; 0: every page it can); out: out_value (pages
	 * reclaimed), out_len (pages scanned).  Needs swap slots
	 * (SET_MEMORY); -ENOSPC if none is free before the first page.
	 */
	SHADOWMM_OP_RECLAIM = 13,
	/* SET_SWAP_POLICY in: value (enum shadowmm_swap_policy). */
	SHADOWMM_OP_SET_SWAP_POLICY = 14,
	/*
	 * SET_MEMORY in: ptr, len (struct shadowmm_memory, whole).  The
	 * resident budget, its watermarks and the swap store; -EINVAL if
	 * they do not nest, -EBUSY if fewer slots than are in use.
	 */
	SHADOWMM_OP_SET_MEMORY = 15,
	/* SET_ANON_POLICY in: value (enum shadowmm_anon_policy). */
	SHADOWMM_OP_SET_ANON_POLICY = 16,
	/*
	 * FORK (ioctl only) out: out_value, a new file descriptor (O_CLOEXEC,
	 * read-write) of a child space: a copy of this one, as fork() makes,
	 * its private pages shared copy-on-write, its mode and policies this
	 * one's.  The two share one memory (budget, reclaim, swap store;
	 * SET_MEMORY on either sets it) and, while both live, one geometry
	 * (SET_GEOMETRY: -EBUSY).  -EAGAIN if a SET_GEOMETRY raced with it.
	 */
	SHADOWMM_OP_FORK = 17,
	/*
	 * Userfaults (userfaultfd(2) in missing mode).  UFFD_OPEN (ioctl
	 * only) out: out_value, a new file descriptor (O_CLOEXEC): the
	 * space's event channel, one per space (-EBUSY if it has one).
	 * read() on it returns whole struct shadowmm_uffd_msg records,
	 * blocking unless O_NONBLOCK (-EAGAIN then), -EINVAL for a buffer
	 * shorter than one record, 0 once the space is gone; poll() says
	 * POLLIN while an event is unread.  Closing it unregisters every
	 * range and fails each waiting fault with -EPIPE (what SIGBUS is to
	 * a process).  Each waiting fault has exactly one event, read once.
	 */
	SHADOWMM_OP_UFFD_OPEN = 18,
	/*
	 * UFFD_REGISTER in: addr, len, flags (SHADOWMM_UFFD_MISSING).  A
	 * fault on a missing page of the range queues an event and sleeps
	 * until the page is there (COPY, ZEROPAGE), a WAKE or UNREGISTER of
	 * its address, or the channel closes; then it faults again.  It
	 * sleeps interruptibly: a signal ends its command with -EINTR.
	 * -ENOTCONN without a channel, -ENOMEM for a hole in the range,
	 * -EBUSY if part of it is registered already.
	 */
	SHADOWMM_OP_UFFD_REGISTER = 19,
	/* UFFD_UNREGISTER in: addr, len (holes and unregistered parts too) */
	SHADOWMM_OP_UFFD_UNREGISTER = 20,
	/*
	 * UFFD_COPY in: addr, len, ptr (len bytes of contents) or, with
	 * SHADOWMM_UFFD_FILL, value (every 8-byte word); flags
	 * SHADOWMM_UFFD_DONTWAKE.  out: out_len (bytes installed).  Pages
	 * in order, stopping at the first failure: -ENOENT outside a
	 * registered range, -EEXIST onto a present (or swapped) page.
	 * Wakes the range's waiting faults unless DONTWAKE.
	 */
	SHADOWMM_OP_UFFD_COPY = 21,
	/* UFFD_ZEROPAGE: as UFFD_COPY with zeroed pages; flags DONTWAKE */
	SHADOWMM_OP_UFFD_ZEROPAGE = 22,
	/* UFFD_WAKE in: addr, len: wakes the range's waiting faults */
	SHADOWMM_OP_UFFD_WAKE = 23,
	/*
	 * SET_TLB_POLICY in: value (enum shadowmm_tlb_policy).  Only while
	 * the space has no VMA (-EBUSY otherwise): no TLB entry, IRQ-off
	 * walker or table freed under one policy meets the other's.
	 * -EOPNOTSUPP for ipi where interrupts-off sections may not take
	 * the locks a fault takes (PREEMPT_RT).
	 */
	SHADOWMM_OP_SET_TLB_POLICY = 24,
	/*
	 * TLB_LEAVE (no argument): the calling CPU stops running the space,
	 * as a CPU does that switches to another mm: it drops its TLB
	 * entries of the space and leaves the space's CPU mask, so
	 * shootdowns stop interrupting it until its next access enters it
	 * again.  For a thread about to block (x86's switch_mm_irqs_off()
	 * clears the old mm's bit of mm_cpumask the same way).  Nothing to
	 * do without a TLB (tlb_policy none).
	 */
	SHADOWMM_OP_TLB_LEAVE = 25,
	/*
	 * SET_MODEL in: value, a mask of 1 << enum shadowmm_model_choice
	 * (-EINVAL for other bits).
	 */
	SHADOWMM_OP_SET_MODEL = 26,
	SHADOWMM_NR_OPS
};

/*
 * One command.  Fields named out_* are written back by the ioctl; a write()
 * record is input only (so MAP in a record must be SHADOWMM_MAP_FIXED), and
 * its op field names the operation.  For an ioctl, op is 0 or the ioctl's.
 */
struct shadowmm_cmd {
	__u64 op;
	__u64 addr;
	__u64 len;
	__u64 prot;
	__u64 flags;
	__u64 stride;		/* TOUCH: bytes between accesses, >= 1 */
	__u64 value;		/* SET_MODE, SET_GEOMETRY; FAULT/TOUCH write */
	__u64 ptr;		/* GET_STATS, GET_INFO: user buffer */
	__u64 out_addr;
	__u64 out_value;
	__u64 out_faults;	/* accesses that entered the fault handler */
	__u64 out_len;
};

#define SHADOWMM_IOC_MAGIC	'S'
#define SHADOWMM_IOC(op)	_IOWR(SHADOWMM_IOC_MAGIC, op, struct shadowmm_cmd)
#define SHADOWMM_IOC_MAP	SHADOWMM_IOC(SHADOWMM_OP_MAP)
#define SHADOWMM_IOC_UNMAP	SHADOWMM_IOC(SHADOWMM_OP_UNMAP)
#define SHADOWMM_IOC_PROTECT	SHADOWMM_IOC(SHADOWMM_OP_PROTECT)
#define SHADOWMM_IOC_ZAP	SHADOWMM_IOC(SHADOWMM_OP_ZAP)
#define SHADOWMM_IOC_FAULT	SHADOWMM_IOC(SHADOWMM_OP_FAULT)
#define SHADOWMM_IOC_TOUCH	SHADOWMM_IOC(SHADOWMM_OP_TOUCH)
#define SHADOWMM_IOC_GET_STATS	SHADOWMM_IOC(SHADOWMM_OP_GET_STATS)
#define SHADOWMM_IOC_SET_MODE	SHADOWMM_IOC(SHADOWMM_OP_SET_MODE)
#define SHADOWMM_IOC_COPY	SHADOWMM_IOC(SHADOWMM_OP_COPY)
#define SHADOWMM_IOC_SEARCH	SHADOWMM_IOC(SHADOWMM_OP_SEARCH)
#define SHADOWMM_IOC_GET_INFO	SHADOWMM_IOC(SHADOWMM_OP_GET_INFO)
#define SHADOWMM_IOC_SET_GEOMETRY SHADOWMM_IOC(SHADOWMM_OP_SET_GEOMETRY)
#define SHADOWMM_IOC_RECLAIM	SHADOWMM_IOC(SHADOWMM_OP_RECLAIM)
#define SHADOWMM_IOC_SET_SWAP_POLICY SHADOWMM_IOC(SHADOWMM_OP_SET_SWAP_POLICY)
#define SHADOWMM_IOC_SET_MEMORY	SHADOWMM_IOC(SHADOWMM_OP_SET_MEMORY)
#define SHADOWMM_IOC_SET_ANON_POLICY SHADOWMM_IOC(SHADOWMM_OP_SET_ANON_POLICY)
#define SHADOWMM_IOC_FORK	SHADOWMM_IOC(SHADOWMM_OP_FORK)
#define SHADOWMM_IOC_UFFD_OPEN	SHADOWMM_IOC(SHADOWMM_OP_UFFD_OPEN)
#define SHADOWMM_IOC_UFFD_REGISTER SHADOWMM_IOC(SHADOWMM_OP_UFFD_REGISTER)
#define SHADOWMM_IOC_UFFD_UNREGISTER SHADOWMM_IOC(SHADOWMM_OP_UFFD_UNREGISTER)
#define SHADOWMM_IOC_UFFD_COPY	SHADOWMM_IOC(SHADOWMM_OP_UFFD_COPY)
#define SHADOWMM_IOC_UFFD_ZEROPAGE SHADOWMM_IOC(SHADOWMM_OP_UFFD_ZEROPAGE)
#define SHADOWMM_IOC_UFFD_WAKE	SHADOWMM_IOC(SHADOWMM_OP_UFFD_WAKE)
#define SHADOWMM_IOC_SET_TLB_POLICY SHADOWMM_IOC(SHADOWMM_OP_SET_TLB_POLICY)
#define SHADOWMM_IOC_TLB_LEAVE	SHADOWMM_IOC(SHADOWMM_OP_TLB_LEAVE)
#define SHADOWMM_IOC_SET_MODEL	SHADOWMM_IOC(SHADOWMM_OP_SET_MODEL)

/*
 * One userfault event, as read() from the UFFD_OPEN descriptor returns
 * it (the kernel's struct uffd_msg, pagefault part).
 */
struct shadowmm_uffd_msg {
	__u64 addr;		/* the faulting address, page-aligned */
	__u64 flags;		/* SHADOWMM_UFFD_PAGEFAULT_WRITE */
	__u64 tid;		/* the faulting thread (module: its pid) */
	__u64 seq;		/* events of this channel, from 1 */
};

#define SHADOWMM_UFFD_PAGEFAULT_WRITE	0x1ULL

/*
 * Counters, named after the kernel's vm events where one exists.  The list
 * is an X-macro so the module's seq_file, the core and the harness's JSON
 * print the same names in the same order; new counters go at the end.
 */
#define SHADOWMM_COUNTERS(X)						\
	X(ACCESS, "access")		/* FAULT/TOUCH page visits */	\
	X(ACCESS_HIT, "access_hit")	/* PTE present: no fault */	\
	X(FAULT, "fault")		/* entered the fault handler */	\
	X(FAULT_CLASSIC, "fault_classic")	/* done under mmap_lock */ \
	X(FAULT_SIGSEGV, "fault_sigsegv")	/* no VMA or bad access */ \
	X(FAULT_OOM, "fault_oom")	/* budget or allocation failed */ \
	X(FALLBACK, "fallback")		/* spf/mmseq/vmalock -> classic */ \
	X(SPF_ATTEMPT, "spf_attempt")					\
	X(SPF_SUCCESS, "spf_success")					\
	X(SPF_ABORT_NO_VMA, "spf_abort_no_vma")				\
	X(SPF_ABORT_SEQ, "spf_abort_seq")	/* odd or moved, pre-walk */ \
	X(SPF_ABORT_ACCESS, "spf_abort_access")				\
	X(SPF_ABORT_NO_TABLE, "spf_abort_no_table")			\
	X(SPF_ABORT_PTL_BUSY, "spf_abort_ptl_busy")			\
	X(SPF_ABORT_SEQ_PTL, "spf_abort_seq_ptl")	/* under PTE lock */ \
	X(SPF_ABORT_NOMEM, "spf_abort_nomem")				\
	X(MMSEQ_ATTEMPT, "mmseq_attempt")				\
	X(MMSEQ_SUCCESS, "mmseq_success")				\
	X(MMSEQ_ABORT_NO_VMA, "mmseq_abort_no_vma")			\
	X(MMSEQ_ABORT_SEQ, "mmseq_abort_seq")				\
	X(MMSEQ_ABORT_ACCESS, "mmseq_abort_access")			\
	X(MMSEQ_ABORT_NO_TABLE, "mmseq_abort_no_table")			\
	X(MMSEQ_ABORT_PTL_BUSY, "mmseq_abort_ptl_busy")			\
	X(MMSEQ_ABORT_SEQ_PTL, "mmseq_abort_seq_ptl")			\
	X(MMSEQ_ABORT_NOMEM, "mmseq_abort_nomem")			\
	X(VMA_LOCK_SUCCESS, "vma_lock_success")				\
	X(VMA_LOCK_ABORT, "vma_lock_abort")				\
	X(VMA_LOCK_RETRY, "vma_lock_retry")				\
	X(VMA_LOCK_MISS, "vma_lock_miss")				\
	X(PAGE_ALLOC, "page_alloc")					\
	X(PAGE_FREE, "page_free")					\
	X(PT_ALLOC, "pt_alloc")						\
	X(PT_FREE, "pt_free")						\
	X(VMA_ALLOC, "vma_alloc")					\
	X(VMA_FREE, "vma_free")						\
	X(OP_MAP, "op_map")						\
	X(OP_UNMAP, "op_unmap")						\
	X(OP_PROTECT, "op_protect")					\
	X(OP_ZAP, "op_zap")						\
	X(MM_CREATE, "mm_create")					\
	X(MM_DESTROY, "mm_destroy")					\
	X(OP_COPY, "op_copy")						\
	X(OP_SEARCH, "op_search")					\
	X(COPY_BYTES, "copy_bytes")	/* bytes COPY moved */		\
	X(SEARCH_COMPARE, "search_compare")	/* records compared */ \
	X(PGSCAN, "pgscan")		/* pages the reclaimer looked at */ \
	X(PGSTEAL, "pgsteal")		/* pages it took away */	\
	X(PGACTIVATE, "pgactivate")	/* referenced: second chance */	\
	X(PSWPOUT, "pswpout")		/* pages written to swap */	\
	X(PSWPIN, "pswpin")		/* pages read from swap */	\
	X(PGMAJFAULT, "pgmajfault")	/* faults that waited for a read */ \
	X(SWAP_CACHE_HIT, "swap_cache_hit")	/* swap-in without I/O */ \
	X(SWAP_SLOT_ALLOC, "swap_slot_alloc")				\
	X(SWAP_SLOT_FREE, "swap_slot_free")				\
	X(SWAP_FULL, "swap_full")	/* reclaim found no free slot */ \
	X(RECLAIM_DIRECT, "reclaim_direct")	/* by a faulting thread */ \
	X(RECLAIM_BACKGROUND, "reclaim_background")	/* kswapd's runs */ \
	X(RECLAIM_SHRINKER, "reclaim_shrinker")	/* host memory pressure */ \
	X(FAULT_RETRY, "fault_retry")	/* classic: mmap_lock dropped */ \
	X(SPF_ABORT_SWAP, "spf_abort_swap")				\
	X(MMSEQ_ABORT_SWAP, "mmseq_abort_swap")				\
	X(SPF_ABORT_NO_ANON, "spf_abort_no_anon")	/* no anon_vma yet */ \
	X(MMSEQ_ABORT_NO_ANON, "mmseq_abort_no_anon")			\
	X(VMA_LOCK_NO_ANON, "vma_lock_no_anon")				\
	X(VMA_LOCK_SWAP_FALLBACK, "vma_lock_swap_fallback")		\
	X(VMA_LOCK_SWAP_DROP_RETRY, "vma_lock_swap_drop_retry")	\
	X(VMA_LOCK_SWAP_VMA_RETRY, "vma_lock_swap_vma_retry")		\
	X(ANON_VMA_ALLOC, "anon_vma_alloc")				\
	X(ANON_VMA_FREE, "anon_vma_free")				\
	/* anon_vmas a vmalock fault made (mmap_read_trylock(), 6.8+) */ \
	X(VMA_LOCK_ANON_PREPARE, "vma_lock_anon_prepare")		\
	X(FORK, "fork")			/* children forked from here */	\
	X(FORK_PAGES, "fork_pages")	/* pages FORK shared */		\
	X(FORK_SWAP, "fork_swap")	/* swap entries FORK copied */	\
	X(COW_FAULT, "cow_fault")	/* writes to a shared page */	\
	X(COW_REUSE, "cow_reuse")	/* ... ours alone: made writable */ \
	X(COW_COPY, "cow_copy")		/* ... copied */		\
	/* speculative COW that found the page shared, with no new one */ \
	X(SPF_ABORT_COW, "spf_abort_cow")				\
	X(MMSEQ_ABORT_COW, "mmseq_abort_cow")				\
	X(UFFD_MISSING, "uffd_missing")	/* faults that queued an event */ \
	X(UFFD_WAIT, "uffd_wait")	/* ... and slept for it */	\
	X(UFFD_WAIT_DONE, "uffd_wait_done")	/* ... and woke */	\
	X(UFFD_COPY, "uffd_copy")	/* pages UFFD_COPY installed */	\
	X(UFFD_ZEROPAGE, "uffd_zeropage")				\
	X(UFFD_WAKE, "uffd_wake")	/* waiting faults woken */	\
	X(SPF_ABORT_UFFD, "spf_abort_uffd")	/* registered range */	\
	X(MMSEQ_ABORT_UFFD, "mmseq_abort_uffd")				\
	X(VMA_LOCK_UFFD_FALLBACK, "vma_lock_uffd_fallback")		\
	X(VMA_LOCK_UFFD_DROP_RETRY, "vma_lock_uffd_drop_retry")	\
	X(VMA_LOCK_UFFD_VMA_RETRY, "vma_lock_uffd_vma_retry")		\
	X(FAULT_RETRY_UFFD, "fault_retry_uffd")	/* classic: dropped */ \
	/* a userfault's channel closed, or a fatal signal, while it waited */ \
	X(FAULT_SIGBUS, "fault_sigbus")					\
	/* of access_hit, those the shadow TLB answered (tlb.c) */	\
	X(TLB_HIT, "tlb_hit")						\
	X(TLB_FILL, "tlb_fill")		/* walks that filled an entry */ \
	X(TLB_FLUSH_RANGE, "tlb_flush_range")	/* page by page */	\
	X(TLB_FLUSH_FULL, "tlb_flush_full")	/* the space's, whole */ \
	X(TLB_SHOOTDOWN, "tlb_shootdown")	/* flushes that sent IPIs */ \
	X(TLB_IPI, "tlb_ipi")		/* other CPUs interrupted */	\
	/* IPI rounds that made freed page tables safe (tlb_policy ipi) */ \
	X(TLB_TABLE_SYNC, "tlb_table_sync")				\
	/* hits whose entry the live PTE no longer backs (checking on) */ \
	X(TLB_STALE, "tlb_stale")					\
	/* TLB_LEAVEs that took a CPU out of the space's mask */	\
	X(TLB_LEAVE, "tlb_leave")

#define SHADOWMM_COUNTER_ENUM(name, str) SHADOWMM_EV_##name,
enum shadowmm_counter {
	SHADOWMM_COUNTERS(SHADOWMM_COUNTER_ENUM)
	SHADOWMM_NR_COUNTERS
};

#undef SHADOWMM_COUNTER_ENUM

/*
 * GET_STATS fills this (up to the caller's len).  Gauges are derived from
 * the alloc/free pairs at the time of the call.  Pages (pages_live, the
 * page_* counters, the max_pages budget) are of shadowmm_info.page_size
 * bytes each, and a FORK family's: what its spaces share (pages, swap
 * slots, anon_vmas, reclaim and swap events) is counted once, for all of
 * them; the rest is the space's own.
 */
struct shadowmm_stats {
	__u64 mode;
	__u64 pages_live;
	__u64 tables_live;
	__u64 vmas_live;
	__u64 mms_live;		/* global stats only; 1 for a space */
	__u64 nr_counters;	/* SHADOWMM_NR_COUNTERS of the module */
	__u64 counter[SHADOWMM_NR_COUNTERS];
};

/*
 * GET_INFO fills this, up to the caller's len; out_len is the size the
 * module has, and new fields only ever go at the end.
 */
struct shadowmm_info {
	__u64 geometry;		/* enum shadowmm_geometry, never HOST */
	__u64 page_shift;
	__u64 page_size;	/* addresses and lengths are multiples */
	__u64 pt_levels;	/* SHADOWMM_PT_LEVELS */
	__u64 pt_bits[SHADOWMM_PT_LEVELS];	/* index bits, PGD first */
	__u64 task_size;	/* SHADOWMM_TASK_SIZE */
	__u64 mmap_min_addr;	/* SHADOWMM_MMAP_MIN_ADDR */
	__u64 host_page_size;	/* the kernel's PAGE_SIZE */
	/* struct shadowmm_memory as it is now */
	__u64 max_pages;
	__u64 wmark_high;
	__u64 wmark_low;
	__u64 swap_slots;
	__u64 swap_latency_us;
	__u64 swap_policy;	/* enum shadowmm_swap_policy */
	__u64 anon_policy;	/* enum shadowmm_anon_policy */
	__u64 tlb_policy;	/* enum shadowmm_tlb_policy */
	__u64 model;		/* SET_MODEL's mask */
};

/*
 * SET_MEMORY: a space's resident budget and its swap store, in pages of
 * the space's size.  Resident pages never exceed max_pages: a fault that
 * would reclaims first (direct reclaim), or fails with -ENOMEM if nothing
 * can be swapped out.  Background reclaim starts when resident pages
 * reach wmark_high and stops at wmark_low.  wmark_low <= wmark_high <=
 * max_pages; 0 for both: derived from max_pages (1/16 and 1/8 below it).
 * max_pages 0: no budget (and no reclaim but RECLAIM's).  A swap-in
 * sleeps swap_latency_us per page, as does each page written out.
 */
struct shadowmm_memory {
	__u64 max_pages;
	__u64 wmark_high;
	__u64 wmark_low;
	__u64 swap_slots;	/* 0: no swap */
	__u64 swap_latency_us;
};

#endif /* _UAPI_SHADOWMM_H */
