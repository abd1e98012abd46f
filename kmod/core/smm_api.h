/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Entry points of the shadow mm core, as its hosts see them: the kernel
 * module's debugfs glue, the in-process backend of the harness and the
 * userspace tests.  Everything here is host-neutral: the mm is opaque and
 * commands use the uapi struct, so a C++ caller can include this header
 * inside extern "C" without the host's lock types.
 *
 * Return values are 0 or a negative errno, as in the kernel.
 */
#ifndef SMM_API_H
#define SMM_API_H

#include "../uapi/shadowmm.h"

struct smm_mm;

struct smm_limits {
	unsigned long max_pages;	/* resident data pages; 0: no limit */
	unsigned long max_vmas;		/* like vm.max_map_count; 0: no limit */
};

/* Module-wide state: counters of dead spaces, live-space list. */
int smm_core_init(void);
void smm_core_exit(void);

/* @geometry: enum shadowmm_geometry, SHADOWMM_GEOM_HOST as a rule. */
int smm_mm_create(const struct smm_limits *limits, unsigned int mode,
		  unsigned int geometry, struct smm_mm **mmp);
void smm_mm_destroy(struct smm_mm *mm);
/*
 * FORK: *@childp, a copy of @parent sharing its pages copy-on-write and
 * its memory (see SHADOWMM_OP_FORK).  -ENOMEM leaves @parent as it was.
 */
int smm_fork(struct smm_mm *parent, struct smm_mm **childp);

/*
 * Validates and runs one command (every op but GET_STATS and GET_INFO,
 * which need the host to copy out).  out_* fields are written.  This is the one dispatcher
 * behind ioctl(), write() records and the in-process backend.
 */
int smm_exec(struct smm_mm *mm, struct shadowmm_cmd *cmd);

/*
 * Userfaults (uffd.c): the space's event channel, which the module makes
 * a file descriptor (UFFD_OPEN) and in-process callers hold directly.
 * smm_uffd_release() is its close.  smm_uffd_copy() is UFFD_COPY and
 * UFFD_ZEROPAGE with the contents (@src, len bytes) already in the
 * host's memory; smm_exec() takes the rest, and COPY with FILL.
 */
struct smm_uffd;
struct wait_queue_head;
int smm_uffd_open(struct smm_mm *mm, struct smm_uffd **ctxp);
void smm_uffd_release(struct smm_uffd *ctx);
long smm_uffd_read(struct smm_uffd *ctx, struct shadowmm_uffd_msg *msgs,
		   unsigned long n, long timeout_ms);
bool smm_uffd_readable(struct smm_uffd *ctx);
struct wait_queue_head *smm_uffd_readers(struct smm_uffd *ctx);
int smm_uffd_copy(struct smm_mm *mm, struct shadowmm_cmd *cmd,
		  const void *src);
void smm_uffd_wake_range(struct smm_mm *mm, unsigned long start,
			 unsigned long len);

int smm_set_mode(struct smm_mm *mm, unsigned int mode);
unsigned int smm_get_mode(struct smm_mm *mm);

/*
 * -EBUSY unless the space has no VMA; -EINVAL for an unknown geometry.
 * smm_get_geometry() says what HOST resolved to.
 */
int smm_set_geometry(struct smm_mm *mm, unsigned int geometry);
unsigned int smm_get_geometry(struct smm_mm *mm);
/*
 * SET_MEMORY (the host copies the struct in): the resident budget, its
 * watermarks and the swap store.  -EINVAL unless wmark_low <= wmark_high
 * <= max_pages (both 0: derived), -EBUSY if fewer slots than in use,
 * -ENOMEM if the slot table cannot be allocated.
 */
int smm_set_memory(struct smm_mm *mm, const struct shadowmm_memory *mem);
/* SET_SWAP_POLICY; -EINVAL for an unknown policy. */
int smm_set_swap_policy(struct smm_mm *mm, unsigned int policy);
/* Name of swap policy @p ("fallback", "drop-retry", "vma-retry"), or NULL. */
const char *smm_swap_policy_name(unsigned int p);
int smm_swap_policy_parse(const char *name);
/* SET_ANON_POLICY; -EINVAL for an unknown policy. */
int smm_set_anon_policy(struct smm_mm *mm, unsigned int policy);
/* Name of anon policy @p ("fallback", "trylock"), or NULL. */
const char *smm_anon_policy_name(unsigned int p);
int smm_anon_policy_parse(const char *name);
/*
 * SET_TLB_POLICY (tlb.c): -EINVAL for an unknown policy, -EBUSY while
 * the space has a VMA, -EOPNOTSUPP for ipi where the host cannot run a
 * fault with interrupts off.
 */
int smm_set_tlb_policy(struct smm_mm *mm, unsigned int policy);
unsigned int smm_get_tlb_policy(struct smm_mm *mm);
/* Name of TLB policy @p ("none", "rcu", "ipi"), or NULL. */
const char *smm_tlb_policy_name(unsigned int p);
int smm_tlb_policy_parse(const char *name);
/*
 * Tests: every TLB hit is checked against the live PTE, and one that it
 * no longer backs is counted (tlb_stale).  Only a test in which nothing
 * changes the space concurrently may expect none: a shootdown in flight
 * is a legitimate window.
 */
void smm_set_tlb_check(struct smm_mm *mm, bool on);
/* TLB_LEAVE (tlb.c): this CPU stops running @mm, as switch_mm() away. */
void smm_tlb_leave(struct smm_mm *mm);

/* SET_MODEL (mm.c): -EINVAL for a bit no shadowmm_model_choice names. */
int smm_set_model(struct smm_mm *mm, __u64 mask);

/*
 * The kernel's memory pressure (the module's shrinker): resident pages
 * that could be swapped out, and a scan that reclaims up to @nr of them
 * across spaces, returning how many it freed, or -1 if it must not wait
 * for the spaces' list now (the shrinker's SHRINK_STOP).
 */
unsigned long smm_shrink_count(void);
long smm_shrink_scan(unsigned long nr);

/* What GET_INFO returns: page size, table geometry, address limits. */
void smm_mm_info(struct smm_mm *mm, struct shadowmm_info *info);

void smm_mm_stats(struct smm_mm *mm, struct shadowmm_stats *st);
void smm_global_stats(struct shadowmm_stats *st);

/* Name of counter @i (SHADOWMM_COUNTERS) and of mode @m, or NULL. */
const char *smm_counter_name(unsigned int i);
const char *smm_mode_name(unsigned int m);
/* Parses a mode name ("classic", "spf", "vmalock", "mmseq"); -EINVAL. */
int smm_mode_parse(const char *name);
/* Name of geometry @g ("host", "4k", "64k"), or NULL; parse: -EINVAL. */
const char *smm_geometry_name(unsigned int g);
int smm_geometry_parse(const char *name);

/*
 * Race-window injection: a bit per window (enum smm_race_window) makes the
 * fault paths yield or delay there, so aborts and retries really happen
 * in tests.  Off (0) by default.
 */
enum smm_race_window {
	SMM_RW_SPF_AFTER_SNAPSHOT,	/* between seq snapshot and the walk */
	SMM_RW_SPF_BEFORE_TRYLOCK,	/* walk done, PTE lock not yet taken */
	SMM_RW_SPF_UNDER_PTL,		/* PTE lock held, seq not re-checked */
	SMM_RW_VMA_BEFORE_LOCK,		/* VMA found, read lock not yet tried */
	SMM_RW_VMA_LOCKED,		/* VMA read-locked, bounds not checked */
	SMM_RW_WRITER_SECTION,		/* writer inside a VMA write section */
	SMM_RW_FORK_COPY,		/* FORK between two PTE tables */
	SMM_NR_RACE_WINDOWS
};

void smm_set_race_injection(unsigned long mask);
unsigned long smm_get_race_injection(void);

/*
 * The known-bugs mask (enum shadowmm_bug bits): -EINVAL for unknown bits.
 * Module-wide, like race injection.
 */
int smm_set_bugs(unsigned long mask);
unsigned long smm_get_bugs(void);
/* Name of knob @b ("vma_seq_relaxed", ...), or NULL. */
const char *smm_bug_name(unsigned int b);

/*
 * Consistency check of one space (the DEBUG_VM validate_mm() of shadowmm):
 * VMA index ordered and equal to the VMA list, no overlap, every present
 * PTE inside a VMA whose protection allows its bits, live counts equal to
 * what a walk finds.  Takes the mmap lock for write.  Returns 0, or
 * -EUCLEAN with a description of the first problem in @why.
 */
int smm_mm_validate(struct smm_mm *mm, char *why, unsigned long why_len);

/* What a model test compares after each step. */
struct smm_vma_info {
	unsigned long start;
	unsigned long end;
	unsigned long prot;
};

/*
 * Lockless find_vma() under RCU, as a speculative fault does it: 1 and
 * the VMA's fields if one contains @addr, else 0.  No lock is taken, so
 * the answer may be stale by the time it returns.
 */
int smm_mm_lookup(struct smm_mm *mm, unsigned long addr,
		  struct smm_vma_info *out);
/* Copies up to @max VMAs in address order; returns how many exist. */
long smm_mm_vmas(struct smm_mm *mm, struct smm_vma_info *out, long max);
/*
 * Reads the u64 at @addr through the page tables without faulting:
 * 1 and *val if a page is present, 0 if not.
 */
int smm_mm_peek(struct smm_mm *mm, unsigned long addr, __u64 *val);

#endif /* SMM_API_H */
