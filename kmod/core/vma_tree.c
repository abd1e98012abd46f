// SPDX-License-Identifier: GPL-2.0
/*
 * The VMA index: a copy-on-write B+tree keyed by vm_start.
 *
 * Readers (spf, the vmalock lookup) walk it under RCU with no lock.  A
 * published node is never written again: an insert or erase copies the
 * nodes on its path (and a sibling when rebalancing), then publishes the
 * new root with one release store and frees the old path through RCU.  A
 * reader therefore sees either the whole old tree or the whole new one.
 * Lookups are O(log n); an update allocates at most two nodes per level.
 *
 * Writers hold the mmap lock for write.  Nodes come from a pool filled by
 * smm_vt_reserve() before an operation changes anything, so a VMA
 * operation either fails up front with -ENOMEM or completes.
 */
#include "smm.h"

static struct smm_vt_node *vt_root(struct smm_mm *mm)
{
	/* Lockless readers hold RCU; writers the mmap lock. */
	return rcu_dereference_raw(mm->vt_root);
}

/* Index of the last key <= @addr, or -1. */
static int vt_slot_le(const struct smm_vt_node *n, unsigned long addr)
{
	int lo = 0, hi = n->nr - 1, ans = -1;

	while (lo <= hi) {
		int mid = (lo + hi) / 2;

		if (n->key[mid] <= addr) {
			ans = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	return ans;
}

/*
 * The VMA with the greatest vm_start <= @addr, or NULL.  It may not
 * contain @addr; lockless callers re-check bounds after validating.
 */
struct smm_vma *smm_vt_lookup(struct smm_mm *mm, unsigned long addr)
{
	struct smm_vt_node *n = vt_root(mm);

	while (n) {
		int i = vt_slot_le(n, addr);

		if (i < 0)
			return NULL;
		if (n->leaf)
			return n->slot[i];
		n = n->slot[i];
	}
	return NULL;
}

/* ---- node pool ---- */

static struct smm_vt_node *vt_node_get(struct smm_mm *mm)
{
	struct smm_vt_node *n = mm->vt_pool;

	/* smm_vt_reserve() sized the pool for the worst case. */
	if (WARN_ON(!n))
		return NULL;
	mm->vt_pool = n->next_free;
	mm->vt_pool_nr--;
	n->nr = 0;
	n->leaf = false;
	return n;
}

/* Back to the pool: only for nodes this operation made, never published. */
static void vt_node_put(struct smm_mm *mm, struct smm_vt_node *n)
{
	n->next_free = mm->vt_pool;
	mm->vt_pool = n;
	mm->vt_pool_nr++;
}

static void vt_node_free_rcu(struct rcu_head *head)
{
	kmem_cache_free(smm_vt_cachep,
			container_of(head, struct smm_vt_node, rcu));
}

/*
 * A node of the published tree, replaced by this operation.  Readers may
 * reach it until the new root is published, so the grace period must not
 * start before that: it is queued here and handed to RCU by vt_publish().
 */
static void vt_node_retire(struct smm_mm *mm, struct smm_vt_node *n)
{
	n->next_free = mm->vt_retired;
	mm->vt_retired = n;
}

static void vt_publish(struct smm_mm *mm, struct smm_vt_node *root)
{
	rcu_assign_pointer(mm->vt_root, root);
	while (mm->vt_retired) {
		struct smm_vt_node *n = mm->vt_retired;

		mm->vt_retired = n->next_free;
		call_rcu(&n->rcu, vt_node_free_rcu);
	}
}

/*
 * Worst-case node counts: an insert copies one node per level and may
 * split each (2 per level) plus grow a root; an erase copies one node and
 * one sibling per level.  The height may grow by one per insert.
 */
int smm_vt_reserve(struct smm_mm *mm, unsigned long inserts,
		   unsigned long erases)
{
	unsigned long h = mm->vt_height + inserts + 1;
	unsigned long need = inserts * (2 * h + 1) + erases * 2 * h;

	lockdep_assert_held_write(&mm->mmap_lock);
	while (mm->vt_pool_nr < need) {
		struct smm_vt_node *n = kmem_cache_alloc(smm_vt_cachep,
							 GFP_KERNEL);

		if (!n)
			return -ENOMEM;
		vt_node_put(mm, n);
	}
	return 0;
}

/* Keeps a few nodes between operations; frees the rest. */
static void vt_pool_trim(struct smm_mm *mm, unsigned long keep)
{
	while (mm->vt_pool_nr > keep) {
		struct smm_vt_node *n = mm->vt_pool;

		mm->vt_pool = n->next_free;
		mm->vt_pool_nr--;
		kmem_cache_free(smm_vt_cachep, n);
	}
}

static struct smm_vt_node *vt_copy(struct smm_mm *mm,
				   const struct smm_vt_node *src)
{
	struct smm_vt_node *n = vt_node_get(mm);

	n->nr = src->nr;
	n->leaf = src->leaf;
	memcpy(n->key, src->key, src->nr * sizeof(n->key[0]));
	memcpy(n->slot, src->slot, src->nr * sizeof(n->slot[0]));
	return n;
}

static void vt_put_at(struct smm_vt_node *n, int pos, unsigned long key,
		      void *slot)
{
	memmove(&n->key[pos + 1], &n->key[pos],
		(n->nr - pos) * sizeof(n->key[0]));
	memmove(&n->slot[pos + 1], &n->slot[pos],
		(n->nr - pos) * sizeof(n->slot[0]));
	n->key[pos] = key;
	n->slot[pos] = slot;
	n->nr++;
}

static void vt_remove_at(struct smm_vt_node *n, int pos)
{
	memmove(&n->key[pos], &n->key[pos + 1],
		(n->nr - pos - 1) * sizeof(n->key[0]));
	memmove(&n->slot[pos], &n->slot[pos + 1],
		(n->nr - pos - 1) * sizeof(n->slot[0]));
	n->nr--;
}

/* Moves the upper half of an overflowing @n into a new right sibling. */
static struct smm_vt_node *vt_split(struct smm_mm *mm, struct smm_vt_node *n)
{
	struct smm_vt_node *right = vt_node_get(mm);
	unsigned int keep = n->nr / 2;

	right->leaf = n->leaf;
	right->nr = n->nr - keep;
	memcpy(right->key, &n->key[keep], right->nr * sizeof(n->key[0]));
	memcpy(right->slot, &n->slot[keep], right->nr * sizeof(n->slot[0]));
	n->nr = keep;
	return right;
}

/*
 * Inserts under the published @node; returns its replacement in *left and
 * a split-off sibling (or NULL) in *right.  Retires @node.
 */
static void vt_insert_node(struct smm_mm *mm, struct smm_vt_node *node,
			   unsigned long key, void *val,
			   struct smm_vt_node **left, struct smm_vt_node **right)
{
	struct smm_vt_node *copy = vt_copy(mm, node);
	int i = vt_slot_le(node, key);

	if (node->leaf) {
		vt_put_at(copy, i + 1, key, val);
	} else {
		struct smm_vt_node *l, *r;

		/* A key below every other goes into the first child. */
		if (i < 0)
			i = 0;
		vt_insert_node(mm, node->slot[i], key, val, &l, &r);
		copy->slot[i] = l;
		copy->key[i] = l->key[0];
		if (r)
			vt_put_at(copy, i + 1, r->key[0], r);
	}
	*right = copy->nr > SMM_VT_FANOUT ? vt_split(mm, copy) : NULL;
	*left = copy;
	vt_node_retire(mm, node);
}

void smm_vt_insert(struct smm_mm *mm, struct smm_vma *vma)
{
	struct smm_vt_node *root = vt_root(mm), *l, *r;

	lockdep_assert_held_write(&mm->mmap_lock);
	if (!root) {
		l = vt_node_get(mm);
		l->leaf = true;
		vt_put_at(l, 0, vma->vm_start, vma);
		mm->vt_height = 1;
	} else {
		vt_insert_node(mm, root, vma->vm_start, vma, &l, &r);
		if (r) {
			struct smm_vt_node *top = vt_node_get(mm);

			vt_put_at(top, 0, l->key[0], l);
			vt_put_at(top, 1, r->key[0], r);
			l = top;
			mm->vt_height++;
		}
	}
	/* Publishes every node written above. */
	vt_publish(mm, l);
}

/*
 * Brings the unpublished child @c of @copy (at @i) back to at least
 * SMM_VT_MIN entries by borrowing from or merging with a sibling.
 */
static void vt_rebalance(struct smm_mm *mm, struct smm_vt_node *copy, int i)
{
	struct smm_vt_node *c = copy->slot[i];
	int j = i > 0 ? i - 1 : i + 1;	/* sibling */
	struct smm_vt_node *s, *lo, *hi;
	int lo_idx;

	if (j >= (int)copy->nr)
		return;		/* an only child: the root collapses later */
	s = copy->slot[j];
	if (c->nr + s->nr <= SMM_VT_FANOUT) {
		/* Merge into a fresh node; @c is ours, @s is published. */
		struct smm_vt_node *m = vt_node_get(mm);

		lo = j < i ? s : c;
		hi = j < i ? c : s;
		m->leaf = c->leaf;
		m->nr = lo->nr + hi->nr;
		memcpy(m->key, lo->key, lo->nr * sizeof(m->key[0]));
		memcpy(m->slot, lo->slot, lo->nr * sizeof(m->slot[0]));
		memcpy(&m->key[lo->nr], hi->key, hi->nr * sizeof(m->key[0]));
		memcpy(&m->slot[lo->nr], hi->slot,
		       hi->nr * sizeof(m->slot[0]));
		lo_idx = min(i, j);
		copy->slot[lo_idx] = m;
		copy->key[lo_idx] = m->key[0];
		vt_remove_at(copy, lo_idx + 1);
		vt_node_put(mm, c);
		vt_node_retire(mm, s);
		return;
	}
	/* Borrow one entry: copy the sibling, change @c in place. */
	s = vt_copy(mm, s);
	if (j < i) {
		vt_put_at(c, 0, s->key[s->nr - 1], s->slot[s->nr - 1]);
		s->nr--;
	} else {
		vt_put_at(c, c->nr, s->key[0], s->slot[0]);
		vt_remove_at(s, 0);
	}
	vt_node_retire(mm, copy->slot[j]);
	copy->slot[j] = s;
	copy->key[j] = s->key[0];
	copy->key[i] = c->key[0];
}

/* Erase below the published @node; returns its unpublished copy. */
static struct smm_vt_node *vt_erase_node(struct smm_mm *mm,
					 struct smm_vt_node *node,
					 unsigned long key, void *val)
{
	struct smm_vt_node *copy = vt_copy(mm, node);
	int i = vt_slot_le(node, key);

	if (WARN_ON(i < 0)) {
		/* Not indexed: keep the tree as it was. */
	} else if (node->leaf) {
		if (!WARN_ON(node->key[i] != key || node->slot[i] != val))
			vt_remove_at(copy, i);
	} else {
		struct smm_vt_node *c = vt_erase_node(mm, node->slot[i], key,
						      val);

		copy->slot[i] = c;
		if (c->nr)
			copy->key[i] = c->key[0];
		if (c->nr < SMM_VT_MIN)
			vt_rebalance(mm, copy, i);
	}
	vt_node_retire(mm, node);
	return copy;
}

void smm_vt_erase(struct smm_mm *mm, struct smm_vma *vma)
{
	struct smm_vt_node *root = vt_root(mm), *n;

	lockdep_assert_held_write(&mm->mmap_lock);
	if (WARN_ON(!root))
		return;
	n = vt_erase_node(mm, root, vma->vm_start, vma);
	/* Collapse roots that no longer branch. */
	while (!n->leaf && n->nr == 1) {
		struct smm_vt_node *child = n->slot[0];

		vt_node_put(mm, n);
		n = child;
		mm->vt_height--;
	}
	if (n->leaf && !n->nr) {
		vt_node_put(mm, n);
		n = NULL;
		mm->vt_height = 0;
	}
	vt_publish(mm, n);
}

/* End of a write cycle: keep a few nodes for the next one. */
void smm_vt_end_write(struct smm_mm *mm)
{
	vt_pool_trim(mm, 4 * SMM_PT_LEVELS);
}

static void vt_free_subtree(struct smm_mm *mm, struct smm_vt_node *n)
{
	unsigned int i;

	if (!n->leaf)
		for (i = 0; i < n->nr; i++)
			vt_free_subtree(mm, n->slot[i]);
	vt_node_retire(mm, n);
}

/* Teardown: the VMAs are gone, free the nodes and the pool. */
void smm_vt_destroy(struct smm_mm *mm)
{
	struct smm_vt_node *root = vt_root(mm);

	if (root)
		vt_free_subtree(mm, root);
	vt_publish(mm, NULL);
	mm->vt_height = 0;
	vt_pool_trim(mm, 0);
}

/*
 * Checks ordering, fill, uniform leaf depth and that each internal key is
 * its child's smallest; in-order leaves must be mm->vma_list.
 */
static int vt_check(struct smm_vt_node *n, unsigned int depth,
		    unsigned int height, bool is_root, struct smm_vma **next,
		    struct smm_mm *mm, char *why, unsigned long len)
{
	bool is_leaf_depth = depth == height;
	unsigned int i;

	if (!n->nr || n->nr > SMM_VT_FANOUT ||
	    (!is_root && n->nr < SMM_VT_MIN)) {
		snprintf(why, len, "vt: node with %u entries at depth %u",
			 n->nr, depth);
		return -EUCLEAN;
	}
	for (i = 1; i < n->nr; i++) {
		if (n->key[i - 1] >= n->key[i]) {
			snprintf(why, len, "vt: keys out of order at depth %u",
				 depth);
			return -EUCLEAN;
		}
	}
	if (n->leaf != is_leaf_depth) {
		snprintf(why, len, "vt: leaf at depth %u of %u", depth,
			 height);
		return -EUCLEAN;
	}
	for (i = 0; i < n->nr; i++) {
		if (n->leaf) {
			struct smm_vma *vma = n->slot[i];

			if (!*next || vma != *next ||
			    vma->vm_start != n->key[i]) {
				snprintf(why, len,
					 "vt: leaf entry %#lx differs from VMA list",
					 n->key[i]);
				return -EUCLEAN;
			}
			*next = list_is_last(&vma->vm_list, &mm->vma_list) ?
				NULL : list_next_entry(vma, vm_list);
		} else {
			struct smm_vt_node *c = n->slot[i];
			int ret;

			if (c->key[0] != n->key[i]) {
				snprintf(why, len,
					 "vt: internal key %#lx is not child min %#lx",
					 n->key[i], c->key[0]);
				return -EUCLEAN;
			}
			ret = vt_check(c, depth + 1, height, false, next, mm,
				       why, len);
			if (ret)
				return ret;
		}
	}
	return 0;
}

int smm_vt_validate(struct smm_mm *mm, char *why, unsigned long len)
{
	struct smm_vt_node *root = vt_root(mm);
	struct smm_vma *next;
	int ret;

	lockdep_assert_held(&mm->mmap_lock);
	next = list_empty(&mm->vma_list) ? NULL :
		list_first_entry(&mm->vma_list, struct smm_vma, vm_list);
	if (!root) {
		if (next || mm->vt_height) {
			snprintf(why, len, "vt: empty tree, VMAs listed");
			return -EUCLEAN;
		}
		return 0;
	}
	ret = vt_check(root, 1, mm->vt_height, true, &next, mm, why, len);
	if (!ret && next) {
		snprintf(why, len, "vt: VMA %#lx listed, not indexed",
			 next->vm_start);
		ret = -EUCLEAN;
	}
	return ret;
}
