/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internal types of the shadow mm core: the mm, its VMAs, the VMA index and
 * the page tables, and the functions the core's files share.
 *
 * Locking, in one place (the rest of the core refers here):
 *
 *   mm->mmap_lock (rwsem)      writers of the VMA set: map, unmap, protect;
 *                              read side: classic faults, zap, walks.
 *   vma->vm_lock (rwsem)       per-VMA read lock of vmalock faults; writers
 *                              take it briefly in smm_vma_start_write() and
 *                              the VMA stays write-locked until the mmap
 *                              write unlock bumps mm->mm_lock_seq.
 *   vma->vm_sequence           odd from smm_vma_start_write() to the mmap
 *                              write unlock (forever once detached); what
 *                              spf validates.  mm->mm_seq: the same for
 *                              the whole mm (mmseq).
 *   mm->page_table_lock        populating or clearing upper-level entries
 *                              and their nr_used.
 *   pt->ptl                    PTE entries of one PTE table and its nr_used.
 *   RCU                        VMA index nodes, VMAs and page tables are
 *                              freed after a grace period, so lockless
 *                              walkers (spf, vmalock lookup, present-page
 *                              accesses) never touch freed memory.
 *
 * Order: mmap_lock -> vm_lock -> page_table_lock -> ptl.
 *
 * Ordering (what lockless readers rely on; each barrier's comment names
 * its pair, and none of it may lean on x86's TSO):
 *
 *   VMA index        rcu_assign_pointer(vt_root) in vt_publish()
 *                    -> rcu_dereference in smm_vt_lookup(): a reader sees
 *                    a new tree's nodes and the VMAs linked into it whole.
 *   VMA write cycle  smm_vma_start_write(): odd vm_sequence, smp_wmb()
 *                    -> smp_rmb() of read_seqcount_retry() in spf;
 *                    up_write() of vm_lock -> the trylock in
 *                    vma_start_read().  smm_mmap_write_unlock(): even
 *                    sequences (smp_wmb() first) -> the same retries;
 *                    smp_store_release(mm_lock_seq) -> smp_load_acquire()
 *                    after the trylock in vma_start_read().
 *   spf/mmseq        raw_read_seqcount() (acquire) before the VMA's
 *                    fields; read_seqcount_retry() after them and again
 *                    under the PTE lock, whose acquire orders it after
 *                    every zap or protect that held the lock before.
 *   page tables      rcu_assign_pointer() of a new table under
 *                    page_table_lock -> rcu_dereference in the walkers.
 *                    A writer takes and drops page_table_lock after
 *                    opening its section, before walking to zap or
 *                    protect (pt_sync_populators()), so a table populated
 *                    concurrently is either seen by the writer or seen
 *                    by the speculative fault together with the odd count.
 *                    Freed tables go through call_rcu() after unlinking.
 *   vmalock unlock   up_read() inside RCU (vma_end_read()): the VMA and
 *                    its rwsem outlive the unlock's wake-up.
 *   PTEs and pages   set and cleared under the PTE lock only; lockless
 *                    READ_ONCE peeks are hints re-checked under it.
 *   counters         gauges sum frees, smp_rmb(), then allocs.
 */
#ifndef SMM_H
#define SMM_H

#include "smm_internal.h"
#include "smm_api.h"

#define SMM_TASK_SIZE		((unsigned long)SHADOWMM_TASK_SIZE)
#define SMM_MMAP_MIN_ADDR	((unsigned long)SHADOWMM_MMAP_MIN_ADDR)

/* Page tables: 4 levels (0: PGD ... 3: PTE) in every geometry. */
#define SMM_PT_LEVELS		SHADOWMM_PT_LEVELS

/*
 * A space's page size and table geometry (geometry.c), computed once so
 * that the hot paths pay a load from the mm where they used a constant,
 * and never a division.  Written only by smm_set_geometry(), on a space
 * with no VMA and no table below its PGD; a lockless walker may read it
 * meanwhile (it finds nothing to walk), hence READ_ONCE in the helpers.
 */
struct smm_geom {
	unsigned long page_size;
	unsigned int page_shift;
	unsigned int id;			/* enum shadowmm_geometry, not HOST */
	unsigned int shift[SMM_PT_LEVELS];	/* log2 of one entry's span */
	unsigned long mask[SMM_PT_LEVELS];	/* entries - 1 */
	/* Shadow pages smaller than the host's come from here (else NULL). */
	struct kmem_cache *page_cache;
};

/*
 * A PTE is the kernel address of a shadow page with permission bits in
 * the low bits, so every shadow page is at least 4 KiB-aligned.  PRESENT
 * without READ/WRITE is a PROT_NONE mapping: the page is kept, every
 * access faults.
 */
#define SMM_PTE_PRESENT		0x1UL
#define SMM_PTE_READ		0x2UL
#define SMM_PTE_WRITE		0x4UL
#define SMM_PTE_FLAGS		0xfffUL

/* VMA index fan-out; tests shrink it so splits and merges come early. */
#ifndef SMM_VT_FANOUT
#define SMM_VT_FANOUT		16
#endif
#define SMM_VT_MIN		(SMM_VT_FANOUT / 2)

/*
 * Descriptor of one page table at any level.  The entries live in @table,
 * @size bytes (entries x 8, from kmalloc: a 32-entry PTE table is 256
 * bytes, not a page); upper levels hold struct smm_pt pointers, the PTE
 * level holds PTEs.  Freed through RCU, when the space may be gone: hence
 * the size here.
 */
struct smm_pt {
	void *table;
	spinlock_t ptl;			/* PTE level only */
	unsigned int nr_used;		/* non-empty entries */
	unsigned int size;
	struct rcu_head rcu;
};

/*
 * A node of the VMA index: a copy-on-write B+tree.  A published node is
 * never modified: writers copy the path they change and swap the root, so
 * an RCU reader sees one consistent tree.  key[i] is the vm_start of a
 * leaf's VMA, or the smallest key below an internal node's child i.
 * One spare slot lets an insert overflow a copy before it is split.
 */
struct smm_vt_node {
	unsigned int nr;
	bool leaf;
	unsigned long key[SMM_VT_FANOUT + 1];
	void *slot[SMM_VT_FANOUT + 1];
	union {
		struct rcu_head rcu;
		struct smm_vt_node *next_free;	/* in mm->vt_pool */
	};
};

struct smm_vma {
	/* Read locklessly by spf and vmalock: READ_ONCE/WRITE_ONCE. */
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_prot;		/* SHADOWMM_PROT_* */
	bool detached;
	seqcount_t vm_sequence;
	unsigned int vm_lock_seq;	/* mm_lock_seq of its last write */
	struct rw_semaphore vm_lock;

	struct smm_mm *vm_mm;
	struct list_head vm_list;	/* mm->vma_list, address order */
	struct list_head vm_wlist;	/* mm->write_vmas this write cycle */
	struct rcu_head rcu;
};

/* Per-CPU event counters; summed on read. */
struct smm_events {
	unsigned long v[SHADOWMM_NR_COUNTERS];
};

struct smm_mm {
	struct rw_semaphore mmap_lock;
	seqcount_t mm_seq;		/* mmseq: odd while write-locked */
	unsigned int mm_lock_seq;	/* vmalock: write cycle, wraps */
	unsigned int mode;		/* enum shadowmm_mode, READ_ONCE */

	struct smm_vt_node __rcu *vt_root;
	unsigned int vt_height;		/* 0: empty tree */
	struct smm_vt_node *vt_pool;	/* preallocated nodes, mmap_lock */
	unsigned long vt_pool_nr;
	struct smm_vt_node *vt_retired;	/* replaced, not yet unpublished */

	struct list_head vma_list;	/* mmap_lock */
	struct list_head write_vmas;	/* VMAs write-started, mmap_lock */
	unsigned long nr_vmas;
	unsigned long free_area_hint;

	struct smm_geom geom;
	spinlock_t page_table_lock;	/* upper-level entries, nr_used */
	/* Replaced by smm_set_geometry() only: rcu_dereference_raw(). */
	struct smm_pt __rcu *pgd;
	atomic_long_t nr_pages;		/* charged against limits.max_pages */
	struct smm_limits limits;

	struct smm_events __percpu *events;
	struct list_head mm_list;	/* smm_mm_list */
};

static inline unsigned long smm_page_size(const struct smm_mm *mm)
{
	return READ_ONCE(mm->geom.page_size);
}

static inline unsigned long smm_page_offset(const struct smm_mm *mm,
					    unsigned long addr)
{
	return addr & (smm_page_size(mm) - 1);
}

/*
 * exec.c checks alignment before the mmap lock; VMA operations check it
 * again under the lock, where no SET_GEOMETRY can change the page size.
 */
static inline bool smm_range_aligned(const struct smm_mm *mm,
				     unsigned long addr, unsigned long len)
{
	return !smm_page_offset(mm, addr | len);
}

/* Span of one entry at @level (0: PGD entry ... 3: PTE). */
static inline unsigned int smm_pt_shift(const struct smm_mm *mm, int level)
{
	return READ_ONCE(mm->geom.shift[level]);
}

static inline unsigned long smm_pt_span(const struct smm_mm *mm, int level)
{
	return BIT(smm_pt_shift(mm, level));
}

static inline unsigned long smm_pt_entries(const struct smm_mm *mm,
					   int level)
{
	return READ_ONCE(mm->geom.mask[level]) + 1;
}

static inline unsigned long smm_pt_index(const struct smm_mm *mm,
					 unsigned long addr, int level)
{
	return (addr >> smm_pt_shift(mm, level)) &
	       READ_ONCE(mm->geom.mask[level]);
}

static inline struct smm_pt *smm_mm_pgd(struct smm_mm *mm)
{
	return rcu_dereference_raw(mm->pgd);
}

static inline void smm_count(struct smm_mm *mm, enum shadowmm_counter ev)
{
	this_cpu_inc(mm->events->v[ev]);
}

static inline void smm_count_add(struct smm_mm *mm, enum shadowmm_counter ev,
				 unsigned long n)
{
	this_cpu_add(mm->events->v[ev], n);
}

unsigned long smm_events_sum(struct smm_mm *mm, enum shadowmm_counter ev);

/* mm.c: the caches, and the write cycle every VMA change runs in */
extern struct kmem_cache *smm_vma_cachep;
extern struct kmem_cache *smm_pt_cachep;
extern struct kmem_cache *smm_vt_cachep;
void smm_mmap_write_lock(struct smm_mm *mm);
void smm_mmap_write_unlock(struct smm_mm *mm);
void smm_vma_start_write(struct smm_vma *vma);
struct smm_vma *smm_vma_alloc(struct smm_mm *mm);
void smm_vma_free(struct smm_vma *vma);
void smm_race_window(enum smm_race_window w);

extern unsigned long smm_bugs;

/* A known bug put back on purpose (enum shadowmm_bug); off by default. */
static inline bool smm_bug(enum shadowmm_bug b)
{
	return unlikely(READ_ONCE(smm_bugs) & BIT(b));
}

/* geometry.c */
int smm_geom_init(void);
void smm_geom_exit(void);
int smm_geom_fill(struct smm_geom *geom, unsigned int geometry);

/* vma_tree.c */
struct smm_vma *smm_vt_lookup(struct smm_mm *mm, unsigned long addr);
int smm_vt_reserve(struct smm_mm *mm, unsigned long inserts,
		   unsigned long erases);
void smm_vt_insert(struct smm_mm *mm, struct smm_vma *vma);
unsigned long smm_vt_erase_range(struct smm_mm *mm, unsigned long start,
				 unsigned long end);
void smm_vt_end_write(struct smm_mm *mm);
void smm_vt_destroy(struct smm_mm *mm);
int smm_vt_validate(struct smm_mm *mm, char *why, unsigned long len);

/* vma.c */
struct smm_vma *smm_find_vma(struct smm_mm *mm, unsigned long addr);
int smm_map(struct smm_mm *mm, unsigned long addr, unsigned long len,
	    unsigned long prot, unsigned long flags, unsigned long *out);
int smm_unmap(struct smm_mm *mm, unsigned long start, unsigned long len);
int smm_protect(struct smm_mm *mm, unsigned long start, unsigned long len,
		unsigned long prot);
int smm_zap(struct smm_mm *mm, unsigned long start, unsigned long len);
void smm_unmap_all(struct smm_mm *mm);

static inline bool smm_prot_allows(unsigned long prot, bool write)
{
	return write ? prot & SHADOWMM_PROT_WRITE : prot != SHADOWMM_PROT_NONE;
}

/* pgtable.c */
struct smm_pt *smm_pt_alloc(struct smm_mm *mm, unsigned int size);
void smm_pt_free(struct smm_mm *mm, struct smm_pt *pt);
int smm_pgd_alloc(struct smm_mm *mm);
void smm_pgd_free(struct smm_mm *mm);
struct smm_pt *smm_pt_walk(struct smm_mm *mm, unsigned long addr);
struct smm_pt *smm_pt_walk_alloc(struct smm_mm *mm, unsigned long addr);
void smm_zap_range(struct smm_mm *mm, unsigned long start, unsigned long end);
void smm_change_prot_range(struct smm_mm *mm, unsigned long start,
			   unsigned long end, unsigned long prot);
void smm_free_pgtables(struct smm_mm *mm, unsigned long start,
		       unsigned long end, unsigned long floor,
		       unsigned long ceiling);
unsigned long smm_prot_to_pte(unsigned long prot);
void *smm_page_alloc_charged(struct smm_mm *mm, gfp_t gfp);
void smm_page_free_charged(struct smm_mm *mm, void *page);
int smm_pt_validate(struct smm_mm *mm, char *why, unsigned long len);
void smm_free_all_pgtables(struct smm_mm *mm);

static inline bool smm_pte_allows(unsigned long pte, bool write)
{
	return pte & (write ? SMM_PTE_WRITE : SMM_PTE_READ | SMM_PTE_WRITE);
}

static inline void *smm_pte_page(unsigned long pte)
{
	return (void *)(pte & ~SMM_PTE_FLAGS);
}

static inline unsigned long *smm_pte_slot(const struct smm_mm *mm,
					  struct smm_pt *pt,
					  unsigned long addr)
{
	return (unsigned long *)pt->table +
		smm_pt_index(mm, addr, SMM_PT_LEVELS - 1);
}

/* fault.c */
int smm_access(struct smm_mm *mm, unsigned long addr, bool write, u64 *val,
	       bool *faulted);
void smm_fault_install(struct smm_mm *mm, struct smm_pt *pt,
		       unsigned long addr, unsigned long prot, bool write,
		       u64 *val, void **pagep);
int smm_fault_locked(struct smm_mm *mm, struct smm_vma *vma,
		     unsigned long addr, bool write, u64 *val);

/* copy_search.c: COPY and SEARCH, validated there (8-byte granules) */
int smm_exec_copy(struct smm_mm *mm, struct shadowmm_cmd *cmd);
int smm_exec_search(struct smm_mm *mm, struct shadowmm_cmd *cmd);

/* fault_spf.c, fault_vmalock.c: -EAGAIN means "fall back to classic" */
int smm_fault_spf(struct smm_mm *mm, unsigned long addr, bool write,
		  u64 *val, bool mmseq);
int smm_fault_vmalock(struct smm_mm *mm, unsigned long addr, bool write,
		      u64 *val);

#endif /* SMM_H */
