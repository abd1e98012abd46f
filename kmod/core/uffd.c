// SPDX-License-Identifier: GPL-2.0
/*
 * Userfaults (fs/userfaultfd.c, missing mode): a fault on a missing page
 * of a registered range does not allocate one.  It queues an event on
 * the space's channel and sleeps, its lock dropped, until a resolver
 * installs the page (UFFD_COPY, UFFD_ZEROPAGE), wakes it (UFFD_WAKE),
 * unregisters the range or closes the channel; then it faults again
 * from the start.  So a userfault is the other fault that must wait, and
 * each strategy waits as it does for a swap-in: classic drops mmap_lock
 * and retries (handle_userfault()'s VM_FAULT_RETRY), spf and mmseq never
 * try (fault_spf.c aborts on a registered VMA, as the series did), and
 * vmalock follows the space's swap policy: give up the VMA lock at once
 * (6.4), drop it and retry under mmap_lock (6.6, "mm: handle userfaults
 * under VMA lock"), or retry under the VMA lock.
 *
 * A waiting fault's record (struct smm_uffd_wait) lives in its struct
 * smm_fault, on the faulting thread's stack.  It is on the channel's
 * pending list until a reader takes its event, then on the reported list
 * until it is woken: one event per waiting fault, read once, never lost.
 * A waker unlinks it and sets ->woken under the channel's lock; the
 * waiter takes that lock before it returns, so no waker still holds a
 * pointer into its stack.
 */
#include "smm.h"

struct smm_uffd {
	spinlock_t lock;		/* the lists, seq, released */
	struct list_head pending;	/* events not read yet */
	struct list_head reported;	/* read, fault still waiting */
	u64 seq;			/* events queued so far */
	bool released;			/* closed: faults fail with -EPIPE */
	/*
	 * The space, until it or the channel goes (smm_uffd_lock): a
	 * closing channel unregisters its ranges there.
	 */
	struct smm_mm *mm;
	/* The channel's handle, and each waiting fault. */
	atomic_long_t refs;
	/* Readers blocked in read() or poll() (the module's fd). */
	wait_queue_head_t readers;
};

/*
 * Orders a space going away against its channel closing: whichever
 * comes second finds the other's side detached.  Taken before mmap_lock.
 */
static DEFINE_MUTEX(smm_uffd_lock);

static void uffd_put(struct smm_uffd *ctx)
{
	if (atomic_long_dec_and_test(&ctx->refs))
		kfree(ctx);
}

/*
 * Clears every VMA's registration (mmap write lock held).  Cannot fail:
 * neighbours it leaves equal stay unmerged, as when the kernel's
 * vma_merge() in userfaultfd_release() finds nothing to merge; the next
 * protect or unregister over them merges them.
 */
static void uffd_clear_all(struct smm_mm *mm)
{
	struct smm_vma *vma;

	lockdep_assert_held_write(&mm->mmap_lock);
	list_for_each_entry(vma, &mm->vma_list, vm_list) {
		if (!vma->vm_uffd)
			continue;
		smm_vma_start_write(vma);
		WRITE_ONCE(vma->vm_uffd, 0);
	}
}

int smm_uffd_open(struct smm_mm *mm, struct smm_uffd **ctxp)
{
	struct smm_uffd *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);
	int ret = 0;

	if (!ctx)
		return -ENOMEM;
	spin_lock_init(&ctx->lock);
	INIT_LIST_HEAD(&ctx->pending);
	INIT_LIST_HEAD(&ctx->reported);
	init_waitqueue_head(&ctx->readers);
	atomic_long_set(&ctx->refs, 1);
	ctx->mm = mm;

	mutex_lock(&smm_uffd_lock);
	smm_mmap_write_lock(mm);
	if (mm->uffd)
		ret = -EBUSY;
	else
		mm->uffd = ctx;
	smm_mmap_write_unlock(mm);
	mutex_unlock(&smm_uffd_lock);
	if (ret) {
		kfree(ctx);
		return ret;
	}
	*ctxp = ctx;
	return 0;
}

/*
 * Wakes the faults waiting in [start, end) with @err (0: fault again).
 * ctx->lock held.
 */
static unsigned long uffd_wake_list(struct smm_uffd *ctx,
				    struct list_head *list,
				    unsigned long start, unsigned long end,
				    int err)
{
	struct smm_uffd_wait *uwq, *tmp;
	unsigned long n = 0;

	lockdep_assert_held(&ctx->lock);
	list_for_each_entry_safe(uwq, tmp, list, list) {
		if (uwq->msg.addr < start || uwq->msg.addr >= end)
			continue;
		list_del(&uwq->list);
		uwq->err = err;
		/* Pairs with the acquire in smm_uffd_wait()'s condition. */
		smp_store_release(&uwq->woken, true);
		/*
		 * Full barrier between the condition and wake_up_var()'s
		 * look at the wait queue (see its kerneldoc); pairs with
		 * the one in the waiter's prepare_to_wait.
		 */
		smp_mb();
		wake_up_var(uwq);
		n++;
	}
	return n;
}

static unsigned long uffd_wake(struct smm_uffd *ctx, unsigned long start,
			       unsigned long end, int err)
{
	unsigned long n;

	spin_lock(&ctx->lock);
	n = uffd_wake_list(ctx, &ctx->pending, start, end, err);
	n += uffd_wake_list(ctx, &ctx->reported, start, end, err);
	spin_unlock(&ctx->lock);
	return n;
}

/*
 * A missing page in a registered VMA (handle_userfault()).  The fault's
 * lock, mmap_lock or the VMA's, is held: it keeps the registration, and
 * so mm->uffd, in place while the event is queued.  Returns
 * SMM_FAULT_RETRY for the caller to drop its lock and smm_uffd_wait(),
 * or -EAGAIN (vmalock, fallback policy: fault under mmap_lock instead),
 * or -EPIPE if the channel is closing.
 */
int smm_handle_userfault(struct smm_mm *mm, struct smm_vma *vma,
			 unsigned long addr, bool write,
			 struct smm_fault *vmf)
{
	struct smm_uffd *ctx = READ_ONCE(mm->uffd);
	struct smm_uffd_wait *uwq = &vmf->uwq;

	if ((vmf->flags & SMM_FAULT_VMA_LOCK) &&
	    READ_ONCE(mm->swap_policy) == SHADOWMM_SWAP_FALLBACK) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_UFFD_FALLBACK);
		return -EAGAIN;
	}
	/* Every caller may drop its lock; none may wait holding it. */
	if (WARN_ON_ONCE(!(vmf->flags & SMM_FAULT_ALLOW_RETRY) || !ctx))
		return -EFAULT;
	uwq->msg.addr = addr & ~(smm_page_size(mm) - 1);
	uwq->msg.flags = write ? SHADOWMM_UFFD_PAGEFAULT_WRITE : 0;
	uwq->msg.tid = smm_host_tid();
	uwq->err = 0;
	uwq->woken = false;
	spin_lock(&ctx->lock);
	if (ctx->released) {
		spin_unlock(&ctx->lock);
		return -EPIPE;
	}
	uwq->msg.seq = ++ctx->seq;
	list_add_tail(&uwq->list, &ctx->pending);
	atomic_long_inc(&ctx->refs);
	spin_unlock(&ctx->lock);
	wake_up_all(&ctx->readers);
	vmf->uffd = ctx;
	smm_count(mm, SHADOWMM_EV_UFFD_MISSING);
	return SMM_FAULT_RETRY;
}

/*
 * The wait of a fault that queued an event, its lock dropped.  Sleeps
 * until woken, interruptibly (in the module a waiting thread is in S,
 * as handle_userfault() puts a user fault, so neither the hung-task
 * detector nor a kill finds it stuck).  0: fault again; -EPIPE: the
 * channel closed; -EINTR: a signal, the event withdrawn (the command
 * stops as a signal stops it elsewhere).
 */
int smm_uffd_wait(struct smm_mm *mm, struct smm_fault *vmf)
{
	struct smm_uffd *ctx = vmf->uffd;
	struct smm_uffd_wait *uwq = &vmf->uwq;
	int ret;

	smm_count(mm, SHADOWMM_EV_UFFD_WAIT);
	/* Acquire: pairs with the release in uffd_wake_list(). */
	ret = wait_var_event_interruptible(uwq, smp_load_acquire(&uwq->woken));
	/* Also waits out a waker that still holds our record. */
	spin_lock(&ctx->lock);
	if (!uwq->woken)
		list_del(&uwq->list);
	else
		ret = uwq->err;
	spin_unlock(&ctx->lock);
	smm_count(mm, SHADOWMM_EV_UFFD_WAIT_DONE);
	vmf->uffd = NULL;
	uffd_put(ctx);
	return ret ? (ret == -EPIPE ? ret : -EINTR) : 0;
}

/*
 * Takes up to @n unread events, oldest first, waiting up to @timeout_ms
 * for the first (0: not at all, negative: for ever; interruptibly,
 * -ERESTARTSYS in the module).  -EAGAIN if none came; 0 once the space
 * is gone.
 */
long smm_uffd_read(struct smm_uffd *ctx, struct shadowmm_uffd_msg *msgs,
		   unsigned long n, long timeout_ms)
{
	struct smm_uffd_wait *uwq, *tmp;
	bool waited = false;
	long got = 0, ret;

	for (;;) {
		spin_lock(&ctx->lock);
		list_for_each_entry_safe(uwq, tmp, &ctx->pending, list) {
			if (got == n)
				break;
			msgs[got++] = uwq->msg;
			list_move_tail(&uwq->list, &ctx->reported);
		}
		spin_unlock(&ctx->lock);
		if (got || !n || !READ_ONCE(ctx->mm))
			return got;
		if (!timeout_ms || waited)
			return -EAGAIN;
		if (timeout_ms < 0) {
			ret = wait_event_interruptible(ctx->readers,
						       smm_uffd_readable(ctx));
			if (ret)
				return ret;
			continue;
		}
		ret = wait_event_interruptible_timeout(ctx->readers,
						       smm_uffd_readable(ctx),
						       msecs_to_jiffies(timeout_ms));
		if (ret < 0)
			return ret;
		/* Once: another reader may take what woke us. */
		waited = true;
	}
}

/* An event to read, or the space gone (read() returns 0): poll's POLLIN. */
bool smm_uffd_readable(struct smm_uffd *ctx)
{
	bool ret;

	spin_lock(&ctx->lock);
	ret = !list_empty(&ctx->pending);
	spin_unlock(&ctx->lock);
	return ret || !READ_ONCE(ctx->mm);
}

struct wait_queue_head *smm_uffd_readers(struct smm_uffd *ctx)
{
	return &ctx->readers;
}

/*
 * The channel closed (userfaultfd_release()): every range unregistered,
 * every waiting fault failed with -EPIPE, the space's pointer cleared.
 */
void smm_uffd_release(struct smm_uffd *ctx)
{
	struct smm_mm *mm;

	mutex_lock(&smm_uffd_lock);
	spin_lock(&ctx->lock);
	ctx->released = true;
	spin_unlock(&ctx->lock);
	mm = ctx->mm;
	if (mm) {
		smm_mmap_write_lock(mm);
		uffd_clear_all(mm);
		WRITE_ONCE(mm->uffd, NULL);
		smm_mmap_write_unlock(mm);
		WRITE_ONCE(ctx->mm, NULL);
	}
	mutex_unlock(&smm_uffd_lock);
	uffd_wake(ctx, 0, ULONG_MAX, -EPIPE);
	uffd_put(ctx);
}

/*
 * The space is being destroyed: no command runs on it any more, so no
 * fault waits; readers see end of file from now on.
 */
void smm_uffd_mm_gone(struct smm_mm *mm)
{
	struct smm_uffd *ctx;

	mutex_lock(&smm_uffd_lock);
	ctx = mm->uffd;
	if (ctx) {
		mm->uffd = NULL;
		WRITE_ONCE(ctx->mm, NULL);
		/* Under the lock: once it is dropped, a close may free ctx. */
		wake_up_all(&ctx->readers);
	}
	mutex_unlock(&smm_uffd_lock);
}

/*
 * Installs one page of contents @src (NULL: every word @fill) at @addr,
 * which must be missing in a registered VMA.  mmap_lock read held.
 */
static int uffd_install(struct smm_mm *mm, unsigned long addr,
			const void *src, u64 fill)
{
	unsigned long size = smm_page_size(mm), *ptep, i;
	struct smm_anon_vma *av_new = NULL;
	struct smm_avc *avc_new = NULL;
	struct smm_vma *vma;
	struct smm_page *page;
	struct smm_pt *pt;
	int ret;

	vma = smm_vt_lookup(mm, addr);
	if (!vma || addr >= vma->vm_end || !smm_vma_uffd_missing(vma))
		return -ENOENT;
	page = smm_page_alloc(mm->mem, GFP_KERNEL);
	if (!page)
		return -ENOMEM;
	if (src) {
		memcpy(page->virt, src, size);
	} else if (fill) {
		for (i = 0; i < size / sizeof(u64); i++)
			((u64 *)page->virt)[i] = fill;
	}
	ret = -ENOMEM;
	if (!smm_vma_anon(vma)) {
		ret = smm_anon_vma_prepare_alloc(mm, &av_new, &avc_new);
		if (ret)
			goto out;
		smm_anon_vma_prepare(vma, &av_new, &avc_new);
	}
	pt = smm_pt_walk_alloc(mm, addr);
	if (!pt)
		goto out;
	ptep = smm_pte_slot(mm, pt, addr);
	spin_lock(&pt->ptl);
	ret = -EEXIST;
	if (!*ptep) {
		smm_page_add_anon_rmap(page, smm_vma_anon(vma),
				       smm_vma_index(vma, addr));
		WRITE_ONCE(pt->nr_used, pt->nr_used + 1);
		smm_set_pte(ptep, (unsigned long)page |
			    smm_prot_to_pte(vma->vm_prot));
		smm_lru_add(mm->mem, page);
		page = NULL;
		ret = 0;
	}
	spin_unlock(&pt->ptl);
out:
	if (page)
		smm_put_page(mm->mem, page);
	smm_anon_vma_prepare_release(mm, av_new, avc_new);
	return ret;
}

/*
 * UFFD_COPY and UFFD_ZEROPAGE: page after page, stopping at the first
 * that fails; out_len says how much was installed.  @src: the contents,
 * already in the host's memory (NULL: FILL or zeroes).  The range's
 * waiting faults are woken unless DONTWAKE, whatever was installed, as
 * the kernel's mfill does.
 */
int smm_uffd_copy(struct smm_mm *mm, struct shadowmm_cmd *cmd,
		  const void *src)
{
	unsigned long size = smm_page_size(mm), off;
	bool zero = cmd->op == SHADOWMM_OP_UFFD_ZEROPAGE;
	int ret = 0;

	/* The hosts' entry for contents they copied in: check it all. */
	if (!smm_range_ok(mm, cmd->addr, cmd->len) ||
	    (src && cmd->flags & ~SHADOWMM_UFFD_DONTWAKE))
		return -EINVAL;
	cmd->out_len = 0;
	down_read(&mm->mmap_lock);
	for (off = 0; off < cmd->len; off += size) {
		ret = uffd_install(mm, cmd->addr + off,
				   src ? (const char *)src + off : NULL,
				   zero ? 0 : cmd->value);
		if (ret)
			break;
		smm_count(mm, zero ? SHADOWMM_EV_UFFD_ZEROPAGE :
				     SHADOWMM_EV_UFFD_COPY);
	}
	up_read(&mm->mmap_lock);
	cmd->out_len = off;
	if (!(cmd->flags & SHADOWMM_UFFD_DONTWAKE) && off)
		smm_uffd_wake_range(mm, cmd->addr, off);
	return ret;
}

/* UFFD_WAKE; and after COPY, ZEROPAGE. */
void smm_uffd_wake_range(struct smm_mm *mm, unsigned long start,
			 unsigned long len)
{
	struct smm_uffd *ctx;
	unsigned long n = 0;

	/* The channel cannot go while we hold the lock it is cleared under. */
	down_read(&mm->mmap_lock);
	ctx = mm->uffd;
	if (ctx)
		n = uffd_wake(ctx, start, start + len, 0);
	up_read(&mm->mmap_lock);
	smm_count_add(mm, SHADOWMM_EV_UFFD_WAKE, n);
}

static int uffd_register(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	unsigned long end = cmd->addr + cmd->len;
	struct smm_uffd *ctx;
	int ret;

	smm_mmap_write_lock(mm);
	ctx = mm->uffd;
	if (!ctx) {
		ret = -ENOTCONN;
	} else if (cmd->op == SHADOWMM_OP_UFFD_REGISTER) {
		ret = smm_vma_set_uffd(mm, cmd->addr, end,
				       SHADOWMM_UFFD_MISSING);
	} else {
		ret = smm_vma_set_uffd(mm, cmd->addr, end, 0);
		/* Its faults proceed as ordinary ones now. */
		if (!ret)
			smm_count_add(mm, SHADOWMM_EV_UFFD_WAKE,
				      uffd_wake(ctx, cmd->addr, end, 0));
	}
	smm_mmap_write_unlock(mm);
	return ret;
}

/*
 * The userfault ops smm_exec() dispatches, ranges validated there.
 * UFFD_COPY from a buffer needs the host to copy it in: not here.
 */
int smm_exec_uffd(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	switch (cmd->op) {
	case SHADOWMM_OP_UFFD_REGISTER:
		if (cmd->flags != SHADOWMM_UFFD_MISSING)
			return -EINVAL;
		return uffd_register(mm, cmd);
	case SHADOWMM_OP_UFFD_UNREGISTER:
		if (cmd->flags)
			return -EINVAL;
		return uffd_register(mm, cmd);
	case SHADOWMM_OP_UFFD_COPY:
		if (cmd->flags & ~(SHADOWMM_UFFD_FILL | SHADOWMM_UFFD_DONTWAKE) ||
		    !(cmd->flags & SHADOWMM_UFFD_FILL))
			return -EINVAL;
		return smm_uffd_copy(mm, cmd, NULL);
	case SHADOWMM_OP_UFFD_ZEROPAGE:
		if (cmd->flags & ~SHADOWMM_UFFD_DONTWAKE)
			return -EINVAL;
		return smm_uffd_copy(mm, cmd, NULL);
	case SHADOWMM_OP_UFFD_WAKE:
		if (cmd->flags)
			return -EINVAL;
		smm_uffd_wake_range(mm, cmd->addr, cmd->len);
		return 0;
	default:
		return -EINVAL;
	}
}
