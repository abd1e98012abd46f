// SPDX-License-Identifier: GPL-2.0
/*
 * An interval tree for the reverse map: which anon_vma_chains cover a page
 * offset.  A treap (a binary search tree by (start, node address) that is
 * also a heap by a priority hashed from the node's address), augmented
 * with the largest interval end in each subtree, so a stabbing query
 * skips every subtree that ends before the offset and costs O(log n + k)
 * expected.  The kernel uses an augmented rbtree; a treap needs no colour
 * fix-ups and no parent pointers, and the address hash makes its shape
 * independent of the order VMAs are split in.  Callers serialise all
 * access (the anon_vma root's rwsem).
 */
#include "smm.h"

static unsigned long itree_prio(const struct smm_itree_node *n)
{
	/* Fibonacci hashing of the address: spreads 64-byte-aligned nodes. */
	return ((unsigned long)n >> 4) * 0x9e3779b97f4a7c15ULL;
}

static unsigned long subtree_last(const struct smm_itree_node *n)
{
	return n ? n->subtree_last : 0;
}

static void itree_update(struct smm_itree_node *n)
{
	n->subtree_last = max(n->last, max(subtree_last(n->left),
					   subtree_last(n->right)));
}

static bool itree_less(const struct smm_itree_node *a,
		       const struct smm_itree_node *b)
{
	return a->start < b->start ||
	       (a->start == b->start && (unsigned long)a < (unsigned long)b);
}

static struct smm_itree_node *rotate_right(struct smm_itree_node *n)
{
	struct smm_itree_node *l = n->left;

	n->left = l->right;
	l->right = n;
	itree_update(n);
	itree_update(l);
	return l;
}

static struct smm_itree_node *rotate_left(struct smm_itree_node *n)
{
	struct smm_itree_node *r = n->right;

	n->right = r->left;
	r->left = n;
	itree_update(n);
	itree_update(r);
	return r;
}

static struct smm_itree_node *itree_insert(struct smm_itree_node *t,
					   struct smm_itree_node *n)
{
	if (!t)
		return n;
	if (itree_less(n, t)) {
		t->left = itree_insert(t->left, n);
		if (t->left->prio > t->prio)
			return rotate_right(t);
	} else {
		t->right = itree_insert(t->right, n);
		if (t->right->prio > t->prio)
			return rotate_left(t);
	}
	itree_update(t);
	return t;
}

/* Merges two treaps whose keys are all ordered @a before @b. */
static struct smm_itree_node *itree_join(struct smm_itree_node *a,
					 struct smm_itree_node *b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	if (a->prio > b->prio) {
		a->right = itree_join(a->right, b);
		itree_update(a);
		return a;
	}
	b->left = itree_join(a, b->left);
	itree_update(b);
	return b;
}

static struct smm_itree_node *itree_remove(struct smm_itree_node *t,
					   struct smm_itree_node *n)
{
	if (WARN_ON(!t))
		return NULL;
	if (t == n)
		return itree_join(t->left, t->right);
	if (itree_less(n, t))
		t->left = itree_remove(t->left, n);
	else
		t->right = itree_remove(t->right, n);
	itree_update(t);
	return t;
}

/* @n->start and @n->last set by the caller; [start, last] is closed. */
void smm_itree_insert(struct smm_itree *tree, struct smm_itree_node *n)
{
	n->left = NULL;
	n->right = NULL;
	n->prio = itree_prio(n);
	n->subtree_last = n->last;
	tree->root = itree_insert(tree->root, n);
}

void smm_itree_remove(struct smm_itree *tree, struct smm_itree_node *n)
{
	tree->root = itree_remove(tree->root, n);
}

static unsigned long itree_visit(struct smm_itree_node *t,
				 unsigned long start, unsigned long last,
				 smm_itree_fn fn, void *arg)
{
	unsigned long n = 0;

	/* Nothing below ends at or after @start. */
	if (!t || t->subtree_last < start)
		return 0;
	n += itree_visit(t->left, start, last, fn, arg);
	if (t->start > last)
		return n;
	if (t->last >= start) {
		if (fn)
			fn(t, arg);
		n++;
	}
	return n + itree_visit(t->right, start, last, fn, arg);
}

/*
 * Calls @fn (if not NULL) for every interval that intersects [start,
 * last], in order of start; returns how many there were.
 */
unsigned long smm_itree_for_each(struct smm_itree *tree, unsigned long start,
				 unsigned long last, smm_itree_fn fn,
				 void *arg)
{
	return itree_visit(tree->root, start, last, fn, arg);
}

/* Checks order, heap and augmentation; returns the node count or -1. */
static long itree_check(const struct smm_itree_node *t,
			const struct smm_itree_node *lo,
			const struct smm_itree_node *hi)
{
	long l, r;

	if (!t)
		return 0;
	if ((lo && !itree_less(lo, t)) || (hi && !itree_less(t, hi)) ||
	    t->start > t->last ||
	    (t->left && t->left->prio > t->prio) ||
	    (t->right && t->right->prio > t->prio) ||
	    t->subtree_last != max(t->last, max(subtree_last(t->left),
						subtree_last(t->right))))
		return -1;
	l = itree_check(t->left, lo, t);
	r = itree_check(t->right, t, hi);
	return l < 0 || r < 0 ? -1 : l + r + 1;
}

long smm_itree_validate(const struct smm_itree *tree)
{
	return itree_check(tree->root, NULL, NULL);
}
