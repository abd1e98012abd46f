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
 *   pt->ptl                    PTE entries of one PTE table and its nr_used
 *                              (which FORK reads unlocked: WRITE_ONCE).
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
 *   TLBs (tlb.c)     an access enters a CPU into mm->tlb_cpus, smp_mb(),
 *                    then reads mm->tlb_gen (acquire) and walks; a
 *                    shootdown changes the PTEs, then a full barrier
 *                    (the tlb_gen increment or smp_mb()), then reads
 *                    tlb_cpus: either the CPU is interrupted, or its
 *                    walk sees the change.  The IPI waits for the CPU's
 *                    interrupts-off section, so no access through an
 *                    entry the shootdown removes outlives it.  A CPU
 *                    that leaves drops its entries, then clears its bit
 *                    with release; the shootdown's smp_mb() after its
 *                    round orders a skipped CPU's earlier reads before
 *                    the frees that follow.
 */
#ifndef SMM_H
#define SMM_H

#include "smm_internal.h"
#include "smm_api.h"

struct smm_gather;

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
 * A present PTE is the address of the page's descriptor (struct
 * smm_page, 64-byte aligned) with permission bits in the low bits, so
 * the descriptor is found from a PTE in O(1) and the data through it.
 * PRESENT without READ/WRITE is a PROT_NONE mapping: the page is kept,
 * every access faults.  YOUNG is the accessed bit: set by an access,
 * tested and cleared by reclaim through the rmap.  A swapped-out page's
 * PTE is a swap entry: SWAP and the slot above SMM_PTE_SWAP_SHIFT,
 * PRESENT clear.
 */
#define SMM_PTE_PRESENT		0x1UL
#define SMM_PTE_READ		0x2UL
#define SMM_PTE_WRITE		0x4UL
#define SMM_PTE_YOUNG		0x8UL
#define SMM_PTE_SWAP		0x10UL
#define SMM_PTE_FLAGS		0x3fUL
#define SMM_PTE_PROT		(SMM_PTE_PRESENT | SMM_PTE_READ | SMM_PTE_WRITE)
#define SMM_PTE_SWAP_SHIFT	6
#define SMM_PAGE_ALIGN		64

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
	union {
		struct rcu_head rcu;
		struct smm_pt *next_free;	/* struct smm_gather.tables */
	};
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

/*
 * A page descriptor, allocated and freed with its data (page.c).
 *
 * @refcount: one per PTE mapping it, one for the swap cache, one per
 * temporary pin (reclaim's isolation, a swap-in in flight); the page is
 * freed when it drops to zero.  @mapcount: PTEs mapping it.  @anon_vma and
 * @index place it in the rmap: in every VMA of the anon_vma's tree that
 * covers @index, at vm_start + (index - vm_pgoff) pages.  Set before the
 * PTE is, never changed while mapped.
 */
struct smm_page {
	void *virt;
	atomic_long_t refcount;
	atomic_long_t mapcount;
	struct smm_anon_vma *anon_vma;
	unsigned long index;
	/* mm->lru_lock */
	struct list_head lru;
	bool on_lru;
	/* mm->swap_lock: the slot whose swap cache holds the page, or -1 */
	long swap_slot;
	/* set (release) once the data is there: a swap-in read finished */
	bool uptodate;
	bool charged;			/* counted in mem->nr_pages */
};

/*
 * Interval tree (interval_tree.c): a treap of closed intervals
 * [start, last], augmented with the largest @last below each node.
 */
struct smm_itree_node {
	struct smm_itree_node *left, *right;
	unsigned long start, last, subtree_last;
	unsigned long prio;
};

struct smm_itree {
	struct smm_itree_node *root;
};

/*
 * The reverse map (rmap.c), as in the kernel since 2.6.34/35: a VMA
 * links to anon_vmas through anon_vma_chains (one per (VMA, anon_vma)
 * pair, so fork can share anon_vmas later); each anon_vma keeps its
 * chains in an interval tree by page offset; one rwsem, the root's,
 * guards the trees of every anon_vma under that root.
 */
struct smm_anon_vma {
	struct smm_anon_vma *root;
	struct rw_semaphore rwsem;	/* used in the root only */
	/* chains, pins, and (root) one per anon_vma under it */
	atomic_long_t refcount;
	struct smm_itree tree;		/* of smm_avc.rb, root's rwsem */
	struct smm_mem *mem;		/* for counting */
	unsigned long check_stamp;	/* smm_mm_validate()'s, mmap_lock */
	struct rcu_head rcu;
};

struct smm_avc {
	struct smm_vma *vma;
	struct smm_anon_vma *anon_vma;
	struct list_head same_vma;	/* vma->anon_vma_chain */
	struct smm_itree_node rb;	/* [vm_pgoff, last page offset] */
};

struct smm_vma {
	/* Read locklessly by spf and vmalock: READ_ONCE/WRITE_ONCE. */
	unsigned long vm_start;
	unsigned long vm_end;
	unsigned long vm_prot;		/* SHADOWMM_PROT_* */
	/* Page offset of vm_start: addr >> page_shift when mapped. */
	unsigned long vm_pgoff;
	/*
	 * NULL until the first fault (anon_vma_prepare()); then set once,
	 * with release, under page_table_lock: lockless faults read it
	 * with acquire.
	 */
	struct smm_anon_vma *anon_vma;
	struct list_head anon_vma_chain;	/* smm_avc.same_vma */
	/*
	 * SHADOWMM_UFFD_MISSING while registered (uffd.c): changed in a
	 * write cycle like vm_prot, so spf validates it with the rest.
	 */
	unsigned long vm_uffd;
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

/*
 * The memory of a fork family (mem.c): what its spaces' pages are
 * charged to, the clock reclaim turns over them and the swap store their
 * swap entries point into.  A space made by SET or create has its own; a
 * FORK child shares its parent's, as a forked process stays in its
 * parent's memory cgroup: a page COW-shared by parent and child is on
 * one LRU, charged once, and a swap entry copied by fork names a slot of
 * one store.  Freed with the last space of the family.
 *
 * Counters of what the family shares (pages, swap slots, anon_vmas, and
 * the reclaim and swap events) are counted here, not in a space: the
 * space that frees a page need not be the one that allocated it.
 */
struct smm_mem {
	unsigned int users;		/* spaces, smm_mm_list_lock */
	/* The family's page size: one geometry while shared. */
	unsigned int page_shift;
	struct kmem_cache *page_cache;

	atomic_long_t nr_pages;		/* charged against max_pages */
	unsigned long max_pages;	/* 0: no budget; READ_ONCE */
	/* Watermarks of background reclaim (0: derived, see smm_wmark_*). */
	unsigned long wmark_high;
	unsigned long wmark_low;

	/* Reclaim: a clock over the family's resident pages (reclaim.c). */
	spinlock_t lru_lock;
	struct list_head lru;
	unsigned long nr_lru;
	struct mutex reclaim_lock;	/* one reclaimer per family */
	bool reclaim_wanted;		/* background reclaimer woken */

	/* The shadow swap store (swap.c). */
	spinlock_t swap_lock;
	struct smm_swap_slot *slots;	/* swap_slots of them */
	unsigned long swap_slots;
	unsigned long swap_used;
	long swap_free;			/* free list head, -1: none */
	unsigned long swap_latency_us;	/* READ_ONCE */

	struct smm_events __percpu *events;
	struct list_head mem_list;	/* smm_mem_list */
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
	struct smm_limits limits;	/* max_vmas; max_pages is mem's */
	unsigned int swap_policy;	/* enum shadowmm_swap_policy */
	unsigned int anon_policy;	/* enum shadowmm_anon_policy */
	/*
	 * The userfault channel (uffd.c), NULL if none: set and cleared
	 * under the mmap write lock, and never cleared while a VMA is
	 * registered, so a fault in a registered VMA finds it.
	 */
	struct smm_uffd *uffd;
	/*
	 * The shadow MMU (tlb.c): the policy (set with no VMA only), the
	 * id that tags the space's TLB entries (never reused), the
	 * generation a full flush moves, and the CPUs that may cache
	 * translations (smm_host_nr_cpus() bits, set by the CPU itself).
	 */
	unsigned int tlb_policy;	/* enum shadowmm_tlb_policy */
	unsigned long model;		/* SET_MODEL's mask */
	bool tlb_check;			/* smm_set_tlb_check() */
	u64 tlb_asid;
	atomic_long_t tlb_gen;
	unsigned long *tlb_cpus;
	/* Pages, their LRU and swap: shared with every fork relative. */
	struct smm_mem *mem;

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

/*
 * A command's range: aligned to the space's page, non-empty, not
 * wrapping, inside the shadow space.
 */
static inline bool smm_range_ok(const struct smm_mm *mm, u64 addr, u64 len)
{
	return len && !smm_page_offset(mm, addr | len) &&
	       addr < SMM_TASK_SIZE && len <= SMM_TASK_SIZE - addr;
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

static inline void smm_mem_count(struct smm_mem *mem,
				 enum shadowmm_counter ev)
{
	this_cpu_inc(mem->events->v[ev]);
}

unsigned long smm_events_sum(struct smm_events __percpu *events,
			     enum shadowmm_counter ev);

/* Adds the gauges' free counters (@frees) or every other one to @c. */
void smm_events_add(struct smm_events __percpu *events, __u64 *c, bool frees);
bool smm_is_gauge_free(unsigned int ev);

/* mem.c */
extern struct mutex smm_mm_list_lock;
struct smm_mem *smm_mem_create(const struct smm_mm *mm,
			       unsigned long max_pages);
void smm_mem_share(struct smm_mem *mem);
bool smm_mem_put(struct smm_mem *mem);
void smm_mem_free(struct smm_mem *mem);
bool smm_mem_shared(struct smm_mem *mem);
void smm_mem_set_geometry(struct smm_mem *mem, const struct smm_geom *geom);
void smm_mems_stats_add(__u64 *c, bool frees);
void smm_background_reclaim(void);

/* mm.c: the caches, and the write cycle every VMA change runs in */
extern struct kmem_cache *smm_vma_cachep;
extern struct kmem_cache *smm_pt_cachep;
extern struct kmem_cache *smm_vt_cachep;
void smm_mmap_write_lock(struct smm_mm *mm);
void smm_mmap_write_lock_nested(struct smm_mm *mm);
int smm_mm_create_child(struct smm_mm *parent, struct smm_mm **childp);
void smm_mmap_write_unlock(struct smm_mm *mm);
void smm_mmap_read_lock(struct smm_mm *mm);
void smm_mmap_write_downgrade(struct smm_mm *mm, struct list_head *detached);
void smm_vma_start_write(struct smm_vma *vma);
struct smm_vma *smm_vma_alloc(struct smm_mm *mm);
void smm_vma_free(struct smm_vma *vma);
void smm_race_window(enum smm_race_window w);
int smm_name_index(const char *const *names, unsigned int n, const char *name);

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
void smm_vma_link(struct smm_mm *mm, struct smm_vma *vma,
		  struct smm_vma *prev);

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
void smm_zap_range(struct smm_gather *g, unsigned long start,
		   unsigned long end);
void smm_change_prot_range(struct smm_mm *mm, unsigned long start,
			   unsigned long end, unsigned long prot);
void smm_free_pgtables(struct smm_gather *g, unsigned long start,
		       unsigned long end, unsigned long floor,
		       unsigned long ceiling);
void smm_pt_free_now(struct smm_mm *mm, struct smm_pt *pt);
unsigned long smm_prot_to_pte(unsigned long prot);
int smm_pt_validate(struct smm_mm *mm, char *why, unsigned long len);
void smm_free_all_pgtables(struct smm_gather *g);
void smm_pt_sync_populators(struct smm_mm *mm);

/*
 * Sets a PTE that maps a page: release, so a lockless walker
 * (smm_host_load_pte(), the MMU's walk in tlb.c) sees the page's
 * descriptor and contents initialised, as the kernel's smp_wmb() in
 * __folio_mark_uptodate() does before set_pte_at().  PTE lock held.
 */
static inline void smm_set_pte(unsigned long *ptep, unsigned long pte)
{
	/* Pairs with smm_host_load_pte() in the MMU's walk (tlb.c). */
	smp_store_release(ptep, pte);
}

static inline bool smm_pte_allows(unsigned long pte, bool write)
{
	return pte & (write ? SMM_PTE_WRITE : SMM_PTE_READ | SMM_PTE_WRITE);
}

static inline bool smm_pte_present(unsigned long pte)
{
	return pte & SMM_PTE_PRESENT;
}

static inline bool smm_pte_is_swap(unsigned long pte)
{
	return pte & SMM_PTE_SWAP;
}

static inline struct smm_page *smm_pte_to_page(unsigned long pte)
{
	return (struct smm_page *)(pte & ~SMM_PTE_FLAGS);
}

/*
 * A fault's look at @vma's anon_vma, which a concurrent first fault may
 * be setting (smm_anon_vma_prepare(), under page_table_lock).  Acquire:
 * pairs with the release there, so a non-NULL anon_vma is seen whole.
 */
static inline struct smm_anon_vma *smm_vma_anon(struct smm_vma *vma)
{
	/* Pairs with smp_store_release() in smm_anon_vma_prepare(). */
	return smp_load_acquire(&vma->anon_vma);
}

/* Page offset of @addr in @vma's anon_vma: where the rmap looks. */
static inline unsigned long smm_vma_index(const struct smm_vma *vma,
					  unsigned long addr)
{
	return vma->vm_pgoff +
	       ((addr - vma->vm_start) >> vma->vm_mm->geom.page_shift);
}

static inline unsigned long *smm_pte_slot(const struct smm_mm *mm,
					  struct smm_pt *pt,
					  unsigned long addr)
{
	return (unsigned long *)pt->table +
		smm_pt_index(mm, addr, SMM_PT_LEVELS - 1);
}

/*
 * tlb.c: a CPU's shadow TLB, set-associative like a first-level dTLB
 * (x86: 64 entries, 4 ways; here 256), and the mmu_gather of an
 * operation that removes or downgrades translations.
 */
#define SMM_TLB_SETS		64
#define SMM_TLB_WAYS		4
/* A range flush up to this many pages, the whole space beyond (x86's). */
#define SMM_TLB_FLUSH_CEILING	33
/*
 * Pages a gather holds before it must flush (under the PTE lock, as the
 * kernel's force_flush) and free them.  The kernel's first batch is 8
 * on the stack and it grows by pages of ~500; 64 keeps this one on the
 * stack and still makes a munmap of more than 64 pages flush mid-way.
 */
#define SMM_GATHER_BATCH	64

struct smm_tlb_entry {
	u64 asid;			/* the space's; 0: empty */
	unsigned long gen;		/* mm->tlb_gen at the fill */
	unsigned long vpn;		/* address >> page_shift */
	unsigned long pte;		/* as the walk found it */
};

struct smm_tlb {
	struct smm_tlb_entry set[SMM_TLB_SETS][SMM_TLB_WAYS];
	unsigned char victim[SMM_TLB_SETS];	/* round robin per set */
};

struct smm_gather {
	struct smm_mm *mm;
	unsigned long start, end;	/* to flush; start == end: none */
	unsigned int nr_pages;
	struct smm_page *pages[SMM_GATHER_BATCH];
	struct smm_pt *tables;		/* tlb_policy ipi: freed at finish */
};

int smm_tlb_mm_init(struct smm_mm *mm, unsigned int policy);
void smm_tlb_mm_free(struct smm_mm *mm);
/* What smm_mmu_access() found: nothing, a TLB entry, a PTE. */
enum { SMM_MMU_MISS, SMM_MMU_TLB, SMM_MMU_WALK };
typedef void (*smm_mmu_fn)(void *data, void *arg);
int smm_mmu_access(struct smm_mm *mm, unsigned long addr, bool write,
		   smm_mmu_fn fn, void *arg);
unsigned long smm_mmu_irq_enter(struct smm_mm *mm);
void smm_tlb_flush_range(struct smm_mm *mm, unsigned long start,
			 unsigned long end);
void smm_tlb_flush_mm(struct smm_mm *mm);
void smm_gather_init(struct smm_gather *g, struct smm_mm *mm);
void smm_gather_range(struct smm_gather *g, unsigned long addr,
		      unsigned long end);
bool smm_gather_page(struct smm_gather *g, struct smm_page *page);
void smm_gather_flush(struct smm_gather *g);
void smm_gather_free_pages(struct smm_gather *g);
void smm_gather_table(struct smm_gather *g, struct smm_pt *pt);
void smm_gather_finish(struct smm_gather *g);

static inline bool smm_tlb_irqoff_walk(const struct smm_mm *mm)
{
	return READ_ONCE(mm->tlb_policy) == SHADOWMM_TLB_IPI;
}

/* Whether modelling choice @c (enum shadowmm_model_choice) is set. */
static inline bool smm_model(const struct smm_mm *mm, unsigned int c)
{
	return READ_ONCE(mm->model) & BIT(c);
}

/* page.c */
extern struct kmem_cache *smm_page_cachep;
struct smm_page *smm_page_alloc(struct smm_mem *mem, gfp_t gfp);
void smm_put_page(struct smm_mem *mem, struct smm_page *page);
void smm_lru_add(struct smm_mem *mem, struct smm_page *page);
void smm_page_add_anon_rmap(struct smm_page *page, struct smm_anon_vma *av,
			    unsigned long index);

static inline unsigned long smm_mem_page_size(const struct smm_mem *mem)
{
	return BIT(READ_ONCE(mem->page_shift));
}

/* interval_tree.c */
typedef void (*smm_itree_fn)(struct smm_itree_node *node, void *arg);
void smm_itree_insert(struct smm_itree *tree, struct smm_itree_node *n);
void smm_itree_remove(struct smm_itree *tree, struct smm_itree_node *n);
unsigned long smm_itree_for_each(struct smm_itree *tree, unsigned long start,
				 unsigned long last, smm_itree_fn fn,
				 void *arg);
long smm_itree_validate(const struct smm_itree *tree);

/* rmap.c */
extern struct kmem_cache *smm_anon_vma_cachep;
extern struct kmem_cache *smm_avc_cachep;
typedef unsigned long (*smm_rmap_one_fn)(struct smm_page *page,
					 struct smm_vma *vma,
					 unsigned long addr, void *arg);
void smm_put_anon_vma(struct smm_anon_vma *av);
struct smm_anon_vma *smm_anon_vma_alloc(struct smm_mm *mm);
void smm_anon_vma_fork_link(struct smm_vma *vma, struct smm_anon_vma *av,
			    struct list_head *spare);
struct smm_avc *smm_avc_alloc(void);
void smm_avc_free(struct smm_avc *avc);
int smm_anon_vma_prepare_alloc(struct smm_mm *mm, struct smm_anon_vma **av,
			       struct smm_avc **avc);
void smm_anon_vma_prepare(struct smm_vma *vma, struct smm_anon_vma **av_new,
			  struct smm_avc **avc_new);
void smm_anon_vma_prepare_release(struct smm_mm *mm, struct smm_anon_vma *av,
				  struct smm_avc *avc);
unsigned long smm_vma_nr_chains(struct smm_vma *vma);
void smm_anon_lock_write(struct smm_anon_vma *av);
void smm_anon_unlock_write(struct smm_anon_vma *av);
void smm_vma_chains_remove(struct smm_vma *vma);
void smm_vma_chains_insert(struct smm_vma *vma);
void smm_anon_vma_clone(struct smm_vma *new, struct smm_vma *old,
			struct list_head *spare);
void smm_unlink_anon_vmas(struct smm_vma *vma);
bool smm_anon_mergeable(const struct smm_vma *a, const struct smm_vma *b,
			const struct smm_anon_vma *run_anon);
void smm_anon_vma_merge(struct smm_vma *vma, struct smm_vma *victim);
unsigned long smm_rmap_walk(struct smm_page *page, smm_rmap_one_fn fn,
			    void *arg);
typedef unsigned long (*smm_pte_fn)(struct smm_mm *mm, struct smm_page *page,
				   unsigned long *ptep, void *arg);
unsigned long smm_page_pte_call(struct smm_page *page, struct smm_vma *vma,
				unsigned long addr, smm_pte_fn fn, void *arg);
int smm_rmap_validate_vma(struct smm_mm *mm, struct smm_vma *vma,
			  unsigned long stamp, unsigned long *chains,
			  unsigned long *nodes, char *why, unsigned long len);
int smm_rmap_validate_page(struct smm_mm *mm, struct smm_vma *vma,
			   unsigned long addr, struct smm_page *page,
			   char *why, unsigned long len);

/* swap.c */
struct smm_swap_slot;
unsigned long smm_wmark_high(struct smm_mem *mem);
unsigned long smm_wmark_low(struct smm_mem *mem);
void smm_swap_entry_free(struct smm_mem *mem, unsigned long slot);
int smm_swap_out_begin(struct smm_mem *mem, struct smm_page *page);
unsigned long smm_swap_entry(struct smm_page *page);
void smm_swap_entry_dup(struct smm_mem *mem, struct smm_page *page);
void smm_swap_slot_dup(struct smm_mem *mem, unsigned long slot);
bool smm_swap_out_end(struct smm_mem *mem, struct smm_page *page);
struct smm_page *smm_swapin_get(struct smm_mem *mem, unsigned long pte,
				bool may_alloc, bool *must_read, int *err);
void smm_swap_read(struct smm_mem *mem, struct smm_page *page);
void smm_swapin_wait(struct smm_page *page);
void smm_swapin_map(struct smm_vma *vma, unsigned long *ptep,
		    unsigned long addr, unsigned long entry,
		    struct smm_page *page, unsigned long prot);
void smm_swapin_put(struct smm_mem *mem, struct smm_page *page);
u64 smm_swap_peek(struct smm_mem *mem, unsigned long pte, unsigned long off);
void smm_swap_destroy(struct smm_mem *mem);
void smm_swap_check_begin(struct smm_mem *mem);
bool smm_swap_check_pte(struct smm_mem *mem, unsigned long slot);
int smm_swap_validate(struct smm_mem *mem, unsigned long *cached, char *why,
		      unsigned long len);

/* reclaim.c */
long smm_reclaim(struct smm_mem *mem, struct smm_mm *mm, unsigned long nr,
		 unsigned long start, unsigned long end,
		 unsigned long *scanned);
void smm_reclaim_direct(struct smm_mem *mem);
int smm_exec_reclaim(struct smm_mm *mm, struct shadowmm_cmd *cmd);
void smm_wake_reclaimer(struct smm_mem *mem);
void smm_balance_space(struct smm_mem *mem, enum shadowmm_counter ev);
unsigned long smm_space_reclaimable(struct smm_mem *mem);
long smm_shrink_space(struct smm_mem *mem, unsigned long nr);

/* fault.c */

/*
 * A fault's context, as the kernel's vm_fault flags: which lock it holds
 * and whether it may drop it to wait.  A fault that returns
 * SMM_FAULT_RETRY has released nothing yet: its caller drops the lock,
 * calls smm_fault_wait() and faults again with SMM_FAULT_TRIED.
 */
#define SMM_FAULT_VMA_LOCK	0x1	/* the VMA read lock, not mmap_lock */
#define SMM_FAULT_ALLOW_RETRY	0x2	/* FAULT_FLAG_ALLOW_RETRY */
#define SMM_FAULT_TRIED		0x4	/* FAULT_FLAG_TRIED: wait, do not drop */
#define SMM_FAULT_RETRY		1	/* VM_FAULT_RETRY */

/*
 * A fault waiting for a userfault's resolution: queued on its channel
 * (pending until read, then reported) until a resolver wakes it.
 */
struct smm_uffd_wait {
	struct list_head list;		/* uffd->lock */
	struct shadowmm_uffd_msg msg;
	int err;			/* 0: retry the fault; else fail it */
	bool woken;			/* release: off the lists for good */
};

struct smm_fault {
	unsigned int flags;
	struct smm_page *wait_page;	/* to read or wait for, referenced */
	bool must_read;
	bool major;			/* this fault read from swap */
	/* SMM_FAULT_RETRY for a userfault: the channel, referenced */
	struct smm_uffd *uffd;
	struct smm_uffd_wait uwq;
};

int smm_access(struct smm_mm *mm, unsigned long addr, bool write, u64 *val,
	       bool *faulted);
void smm_fault_install(struct smm_mm *mm, struct smm_pt *pt,
		       unsigned long addr, unsigned long prot, bool write,
		       u64 *val, struct smm_page **pagep,
		       struct smm_anon_vma *av, unsigned long index);
int smm_fault_locked(struct smm_mm *mm, struct smm_vma *vma,
		     unsigned long addr, bool write, u64 *val,
		     struct smm_fault *vmf);
int smm_fault_wait(struct smm_mm *mm, struct smm_fault *vmf);
int smm_fault_classic(struct smm_mm *mm, unsigned long addr, bool write,
		      u64 *val, struct smm_fault *vmf);

/* uffd.c */
static inline bool smm_vma_uffd_missing(const struct smm_vma *vma)
{
	return READ_ONCE(vma->vm_uffd) & SHADOWMM_UFFD_MISSING;
}

int smm_handle_userfault(struct smm_mm *mm, struct smm_vma *vma,
			 unsigned long addr, bool write,
			 struct smm_fault *vmf);
int smm_uffd_wait(struct smm_mm *mm, struct smm_fault *vmf);
void smm_uffd_mm_gone(struct smm_mm *mm);
int smm_exec_uffd(struct smm_mm *mm, struct shadowmm_cmd *cmd);

/* vma.c, for uffd.c: (un)registers every VMA in [start, end) */
int smm_vma_set_uffd(struct smm_mm *mm, unsigned long start,
		     unsigned long end, unsigned long flags);

/* cow.c */
bool smm_pte_is_cow(unsigned long pte, bool write, unsigned long prot);
bool smm_cow_needs_page(unsigned long pte);
int smm_cow_page(struct smm_mm *mm, struct smm_pt *pt, unsigned long addr,
		 unsigned long *ptep, unsigned long pte, unsigned long prot,
		 struct smm_page **newp, struct smm_anon_vma *av,
		 unsigned long index);

/* copy_search.c: COPY and SEARCH, validated there (8-byte granules) */
int smm_exec_copy(struct smm_mm *mm, struct shadowmm_cmd *cmd);
int smm_exec_search(struct smm_mm *mm, struct shadowmm_cmd *cmd);

/* fault_spf.c, fault_vmalock.c: -EAGAIN means "fall back to classic" */
int smm_fault_spf(struct smm_mm *mm, unsigned long addr, bool write,
		  u64 *val, bool mmseq);
int smm_fault_vmalock(struct smm_mm *mm, unsigned long addr, bool write,
		      u64 *val, struct smm_fault *vmf);

#endif /* SMM_H */
