// SPDX-License-Identifier: GPL-2.0
/*
 * The VMA index: a copy-on-write B+tree keyed by vm_start.
 *
 * Readers (spf, the vmalock lookup) walk it under RCU with no lock.  A
 * published node is never written again: an insert copies the nodes on
 * its path, a range erase those on the paths to the range's two ends (and
 * the neighbours it joins them to); then either publishes the new root
 * with one release store and frees what it replaced through RCU.  A
 * reader therefore sees either the whole old tree or the whole new one.
 * Lookups are O(log n); an insert allocates at most two nodes per level.
 * Erasing is by key range, so unmapping or merging k VMAs costs one
 * publish and O(height) new nodes whatever k is (smm_vt_erase_range()).
 *
 * Writers hold the mmap lock for write.  Nodes come from a pool filled by
 * smm_vt_reserve() before an operation changes anything, so a VMA
 * operation either fails up front with -ENOMEM or completes.
 */
#include "smm.h"

static struct smm_vt_node *vt_root(struct smm_mm *mm)
{
	/*
	 * Lockless readers hold RCU; writers the mmap lock.  Pairs with
	 * rcu_assign_pointer() in vt_publish(): the nodes below, immutable
	 * once published, are reached through this load's address
	 * dependency.
	 */
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

/* Index of the last key < @addr, or -1. */
static int vt_slot_lt(const struct smm_vt_node *n, unsigned long addr)
{
	return addr ? vt_slot_le(n, addr - 1) : -1;
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
	/*
	 * Release: every node written by this operation, and every VMA it
	 * links (fields set before smm_vt_insert()), is visible to a reader
	 * whose rcu_dereference in vt_root() finds the new root.
	 */
	rcu_assign_pointer(mm->vt_root, root);
	while (mm->vt_retired) {
		struct smm_vt_node *n = mm->vt_retired;

		mm->vt_retired = n->next_free;
		call_rcu(&n->rcu, vt_node_free_rcu);
	}
}

/*
 * Worst case of one insert at height @h: a copy and a split per level,
 * and a new root.
 */
static unsigned long vt_insert_nodes(unsigned long h)
{
	return 2 * h + 1;
}

/*
 * Worst case of one smm_vt_erase_range() at height @h.  Above the level
 * where the range's ends part, a level rebuilds one node, which may split
 * or join a short child to a neighbour (a join costs two nodes, plus two
 * per level of height the child lost); below it, two such nodes but no
 * splits; at it, one node and up to two joins and a parent for two short
 * nodes.  A level that passes a child up instead of rebuilding a node
 * costs nothing there and at most two nodes in the join that ends it.
 * So at most six per level, and a new root.
 */
static unsigned long vt_erase_nodes(unsigned long h)
{
	return 6 * h + 2;
}

/*
 * Fills the pool for @inserts inserts followed by @erases range erases,
 * at the height the inserts may grow the tree to.  A range erase needs
 * the same whatever it covers, so the reserve for unmapping or merging any
 * number of VMAs is O(height).
 */
int smm_vt_reserve(struct smm_mm *mm, unsigned long inserts,
		   unsigned long erases)
{
	unsigned long h = mm->vt_height + inserts;
	unsigned long need = inserts * vt_insert_nodes(h) +
			     erases * vt_erase_nodes(h);

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

/* ---- range erase ---- */

/*
 * Retires a subtree the range covers whole: its nodes go to RCU at the
 * publish, the VMAs stay the caller's.  Returns how many it indexed.
 */
static unsigned long vt_retire_subtree(struct smm_mm *mm,
				       struct smm_vt_node *n)
{
	unsigned long nr = n->leaf ? n->nr : 0;
	unsigned int i;

	if (!n->leaf)
		for (i = 0; i < n->nr; i++)
			nr += vt_retire_subtree(mm, n->slot[i]);
	vt_node_retire(mm, n);
	return nr;
}

/*
 * What a subtree became after a range erase: no node, one, or two
 * siblings, all @height high.  Only a single top node may be underfilled
 * or lower than the subtree was; everything below it is valid, and two
 * nodes are both valid.
 */
struct vt_forest {
	struct smm_vt_node *node[2];
	unsigned int nr;
	unsigned int height;
};

/* Whether @f can be linked as it is among children of @height. */
static bool vt_forest_fits(const struct vt_forest *f, unsigned int height)
{
	return f->height == height &&
	       (f->nr == 2 || f->node[0]->nr >= SMM_VT_MIN);
}

/* A new node with entries [from, from + nr) of @a followed by @b. */
static struct smm_vt_node *vt_node_of(struct smm_mm *mm,
				      const struct smm_vt_node *a,
				      const struct smm_vt_node *b,
				      unsigned int from, unsigned int nr)
{
	struct smm_vt_node *n = vt_node_get(mm);

	n->leaf = a->leaf;
	for (; nr; nr--, from++) {
		const struct smm_vt_node *src = from < a->nr ? a : b;
		unsigned int i = from < a->nr ? from : from - a->nr;

		n->key[n->nr] = src->key[i];
		n->slot[n->nr] = src->slot[i];
		n->nr++;
	}
	return n;
}

/*
 * Neighbours of one height, @a before @b, as one node or, if that would
 * overflow, two halves of at least SMM_VT_MIN; returns how many.  Either
 * may be published, so both are replaced by new nodes.
 */
static unsigned int vt_combine(struct smm_mm *mm, struct smm_vt_node *a,
			       struct smm_vt_node *b, struct smm_vt_node **out)
{
	unsigned int total = a->nr + b->nr;
	unsigned int cnt = total > SMM_VT_FANOUT ? 2 : 1;

	out[0] = vt_node_of(mm, a, b, 0, total / cnt);
	if (cnt == 2)
		out[1] = vt_node_of(mm, a, b, total / 2, total - total / 2);
	vt_node_retire(mm, a);
	vt_node_retire(mm, b);
	return cnt;
}

/* @n, split in two if it took one entry too many; returns how many. */
static unsigned int vt_fit(struct smm_mm *mm, struct smm_vt_node *n,
			   struct smm_vt_node **out)
{
	out[0] = n;
	if (n->nr <= SMM_VT_FANOUT)
		return 1;
	out[1] = vt_split(mm, n);
	return 2;
}

/* Puts the @cnt nodes of @sub in place of the child at @pos of @n. */
static void vt_replace(struct smm_vt_node *n, int pos,
		       struct smm_vt_node **sub, unsigned int cnt)
{
	n->slot[pos] = sub[0];
	n->key[pos] = sub[0]->key[0];
	if (cnt == 2)
		vt_put_at(n, pos + 1, sub[1]->key[0], sub[1]);
}

/*
 * Joins neighbouring subtrees, @a (@ha high) before @b (@hb high), whose
 * top nodes may be underfilled: the lower one is combined with the node of
 * its height on the facing spine of the other, and splits run back up.
 * Returns one or two nodes of the greater height.  Costs two nodes, plus
 * two per level of height difference.
 */
static unsigned int vt_join(struct smm_mm *mm, struct smm_vt_node *a,
			    unsigned int ha, struct smm_vt_node *b,
			    unsigned int hb, struct smm_vt_node **out)
{
	struct smm_vt_node *n, *sub[2];
	unsigned int cnt;

	if (ha == hb)
		return vt_combine(mm, a, b, out);
	if (ha > hb) {
		n = vt_copy(mm, a);
		vt_node_retire(mm, a);
		cnt = vt_join(mm, n->slot[n->nr - 1], ha - 1, b, hb, sub);
		vt_replace(n, n->nr - 1, sub, cnt);
	} else {
		n = vt_copy(mm, b);
		vt_node_retire(mm, b);
		cnt = vt_join(mm, a, ha, n->slot[0], hb - 1, sub);
		vt_replace(n, 0, sub, cnt);
	}
	return vt_fit(mm, n, out);
}

/*
 * Makes one forest of what is left of the two children the range's ends
 * fall in, @lo before @hi, for a parent whose children are @height high.
 * Each is at most one node: below the level where the ends part, a range
 * erase only takes a prefix or a suffix, which never overflows a node.
 */
static void vt_forest_join(struct smm_mm *mm, struct vt_forest *lo,
			   struct vt_forest *hi, unsigned int height)
{
	struct smm_vt_node *n;

	if (!hi->nr)
		return;
	if (!lo->nr) {
		*lo = *hi;
		return;
	}
	WARN_ON_ONCE(lo->nr + hi->nr > 2);
	if (vt_forest_fits(lo, height) && vt_forest_fits(hi, height)) {
		lo->node[1] = hi->node[0];
		lo->nr = 2;
		return;
	}
	lo->nr = vt_join(mm, lo->node[0], lo->height, hi->node[0], hi->height,
			 lo->node);
	lo->height = max(lo->height, hi->height);
	if (lo->nr == 2 && lo->height < height) {
		/* Two nodes still lower than their new siblings. */
		n = vt_node_get(mm);
		vt_put_at(n, 0, lo->node[0]->key[0], lo->node[0]);
		vt_put_at(n, 1, lo->node[1]->key[0], lo->node[1]);
		lo->node[0] = n;
		lo->nr = 1;
		lo->height++;
	}
}

static void vt_erase_leaf(struct smm_mm *mm, struct smm_vt_node *leaf,
			  unsigned long start, unsigned long end,
			  struct vt_forest *out, unsigned long *erased)
{
	int first = vt_slot_lt(leaf, start) + 1, last = vt_slot_lt(leaf, end);
	unsigned int tail;
	struct smm_vt_node *n;

	out->node[0] = leaf;
	out->nr = 1;
	out->height = 1;
	if (first > last)
		return;
	*erased += last - first + 1;
	vt_node_retire(mm, leaf);
	tail = leaf->nr - last - 1;
	if (!first && !tail) {
		out->nr = 0;
		return;
	}
	n = vt_node_get(mm);
	n->leaf = true;
	memcpy(n->key, leaf->key, first * sizeof(n->key[0]));
	memcpy(n->slot, leaf->slot, first * sizeof(n->slot[0]));
	memcpy(&n->key[first], &leaf->key[last + 1], tail * sizeof(n->key[0]));
	memcpy(&n->slot[first], &leaf->slot[last + 1],
	       tail * sizeof(n->slot[0]));
	n->nr = first + tail;
	out->node[0] = n;
}

/*
 * Erases the keys in [@start, @end) below @node (@height high) into @out,
 * counting them in *@erased.  Children the range covers whole are retired
 * unread; only the two children the range's ends fall in are descended
 * into, so a level rebuilds at most two nodes.  What is left of those two
 * is joined to a neighbour when it is underfilled or has lost height; with
 * no neighbour it is passed up to be joined there, and the tree may shrink.
 *
 * Retired nodes stay readable until the publish and a grace period after
 * it, so @node is read after it is retired.
 */
static void vt_erase_below(struct smm_mm *mm, struct smm_vt_node *node,
			   unsigned int height, unsigned long start,
			   unsigned long end, struct vt_forest *out,
			   unsigned long *erased)
{
	int first = vt_slot_le(node, start), last = vt_slot_lt(node, end);
	struct vt_forest lo, hi = { .nr = 0 };
	unsigned int pre, post, i;
	struct smm_vt_node *p;

	if (node->leaf) {
		vt_erase_leaf(mm, node, start, end, out, erased);
		return;
	}
	out->node[0] = node;
	out->nr = 1;
	out->height = height;
	if (first < 0)
		first = 0;
	if (last < first)
		return;
	vt_erase_below(mm, node->slot[first], height - 1, start, end, &lo,
		       erased);
	if (last == first && lo.nr == 1 && lo.node[0] == node->slot[first])
		return;		/* no key in range */
	for (i = first + 1; i < last; i++)
		*erased += vt_retire_subtree(mm, node->slot[i]);
	if (last > first)
		vt_erase_below(mm, node->slot[last], height - 1, start, end,
			       &hi, erased);
	vt_node_retire(mm, node);

	vt_forest_join(mm, &lo, &hi, height - 1);
	pre = first;			/* untouched children before and after */
	post = node->nr - last - 1;
	if (lo.nr == 1 && !vt_forest_fits(&lo, height - 1)) {
		if (pre) {
			pre--;
			lo.nr = vt_join(mm, node->slot[pre], height - 1,
					lo.node[0], lo.height, lo.node);
		} else if (post) {
			post--;
			lo.nr = vt_join(mm, lo.node[0], lo.height,
					node->slot[last + 1], height - 1,
					lo.node);
		} else {
			*out = lo;	/* an only child: join it higher up */
			return;
		}
		lo.height = height - 1;
	}
	if (pre + lo.nr + post <= 1) {
		/* One child left, or none: no node for it at this level. */
		if (!lo.nr && (pre || post)) {
			lo.node[0] = node->slot[pre ? 0 : node->nr - 1];
			lo.nr = 1;
			lo.height = height - 1;
		}
		*out = lo;
		return;
	}
	p = vt_node_get(mm);
	memcpy(p->key, node->key, pre * sizeof(p->key[0]));
	memcpy(p->slot, node->slot, pre * sizeof(p->slot[0]));
	p->nr = pre;
	for (i = 0; i < lo.nr; i++)
		vt_put_at(p, p->nr, lo.node[i]->key[0], lo.node[i]);
	memcpy(&p->key[p->nr], &node->key[node->nr - post],
	       post * sizeof(p->key[0]));
	memcpy(&p->slot[p->nr], &node->slot[node->nr - post],
	       post * sizeof(p->slot[0]));
	p->nr += post;
	out->height = height;
	out->nr = vt_fit(mm, p, out->node);
}

/*
 * Erases every entry whose key is in [@start, @end), with one publish:
 * a lockless reader sees all of them or none of them gone.  Subtrees
 * inside the range go to RCU whole; at most vt_erase_nodes() new nodes
 * whatever the range holds.  Returns how many entries went; the VMAs are
 * the caller's.
 */
unsigned long smm_vt_erase_range(struct smm_mm *mm, unsigned long start,
				 unsigned long end)
{
	struct smm_vt_node *root = vt_root(mm), *n = NULL;
	unsigned long erased = 0;
	unsigned int height = 0;
	struct vt_forest res;

	lockdep_assert_held_write(&mm->mmap_lock);
	if (!root || start >= end)
		return 0;
	vt_erase_below(mm, root, mm->vt_height, start, end, &res, &erased);
	if (res.nr == 2) {
		n = vt_node_get(mm);
		vt_put_at(n, 0, res.node[0]->key[0], res.node[0]);
		vt_put_at(n, 1, res.node[1]->key[0], res.node[1]);
		height = res.height + 1;
	} else if (res.nr == 1) {
		n = res.node[0];
		height = res.height;
		/* Collapse roots that no longer branch. */
		while (!n->leaf && n->nr == 1) {
			vt_node_retire(mm, n);
			n = n->slot[0];
			height--;
		}
	}
	mm->vt_height = height;
	/* Publishes every node written above. */
	vt_publish(mm, n);
	return erased;
}

/*
 * End of a write cycle: keep enough nodes for an unmap at this height (a
 * few dozen at most), so that one-VMA calls do not refill the pool from
 * the allocator every time.
 */
void smm_vt_end_write(struct smm_mm *mm)
{
	vt_pool_trim(mm, max(4UL * SMM_PT_LEVELS,
			     vt_erase_nodes(mm->vt_height)));
}

/* Teardown: the VMAs are gone, free the nodes and the pool. */
void smm_vt_destroy(struct smm_mm *mm)
{
	struct smm_vt_node *root = vt_root(mm);

	if (root)
		vt_retire_subtree(mm, root);
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
