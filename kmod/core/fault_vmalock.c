// SPDX-License-Identifier: GPL-2.0
/*
 * Per-VMA lock faults, as in mainline 6.4+ (lock_vma_under_rcu()).
 *
 * The VMA is found under RCU and read-locked by trylock.  A writer marks
 * each VMA it changes with the current mm_lock_seq (smm_vma_start_write())
 * and they all unlock at once when the mmap write unlock moves mm_lock_seq
 * on; a reader that sees vm_lock_seq == mm_lock_seq backs off without
 * touching the lock.  Holding the read lock keeps the VMA from changing,
 * so the fault may sleep and allocate tables.  A VMA found detached was
 * replaced while we looked: a miss, and the lookup is retried.
 *
 * Counters as in the kernel: success, abort (no VMA or could not lock,
 * fall back to mmap_lock), retry (the fault started under the VMA lock
 * could not finish there: the page allocation failed, so it is redone
 * under mmap_lock), miss (found detached).
 */
#include "smm.h"

/*
 * Read-locks @vma unless a writer has it this cycle.  Caller holds RCU.
 *
 * Ordering: the re-check after the trylock is the one the reader relies
 * on.  Its acquire pairs with the release of mm_lock_seq in
 * smm_mmap_write_unlock(): a reader that sees a write cycle over (the new
 * sequence) also sees everything that cycle did to the VMA (bounds,
 * protection, detached).  The trylock alone is not enough: it is ordered
 * after the up_write() in smm_vma_start_write(), which comes before the
 * cycle's changes.
 */
static bool vma_start_read(struct smm_vma *vma)
{
	struct smm_mm *mm = vma->vm_mm;
	unsigned int seq;

	/*
	 * Write-locked this cycle: the trylock would only bounce the line.
	 * A stale answer either way is corrected by the re-check below.
	 */
	if (READ_ONCE(vma->vm_lock_seq) == READ_ONCE(mm->mm_lock_seq))
		return false;
	smm_race_window(SMM_RW_VMA_BEFORE_LOCK);
	if (!down_read_trylock(&vma->vm_lock))
		return false;
	/*
	 * A writer may have locked and released it before our trylock.  An
	 * equal sequence after 2^32 cycles can only be a false "locked": a
	 * fallback, never a false "unlocked".
	 */
	if (smm_bug(SHADOWMM_BUG_VMA_SEQ_RELAXED))
		seq = READ_ONCE(mm->mm_lock_seq);
	else
		/* Pairs with smp_store_release() in smm_mmap_write_unlock(). */
		seq = smp_load_acquire(&mm->mm_lock_seq);
	if (unlikely(READ_ONCE(vma->vm_lock_seq) == seq)) {
		up_read(&vma->vm_lock);
		return false;
	}
	return true;
}

/*
 * Drops the VMA read lock inside RCU, as mainline's vma_end_read() does:
 * once our count is gone a writer may take the lock, detach the VMA and
 * queue it for freeing while up_read() is still waking it on the rwsem
 * (always possible on PREEMPT_RT).  Holding RCU keeps the VMA, and so its
 * vm_lock, alive until up_read() returns.
 */
static void vma_end_read(struct smm_vma *vma)
{
	if (smm_bug(SHADOWMM_BUG_VMA_UNLOCK_OUTSIDE_RCU)) {
		up_read(&vma->vm_lock);
		return;
	}
	rcu_read_lock();
	up_read(&vma->vm_lock);
	rcu_read_unlock();
}

static struct smm_vma *lock_vma_under_rcu(struct smm_mm *mm,
					  unsigned long addr)
{
	struct smm_vma *vma;

retry:
	rcu_read_lock();
	vma = smm_vt_lookup(mm, addr);
	if (!vma)
		goto inval;
	if (!vma_start_read(vma))
		goto inval;
	smm_race_window(SMM_RW_VMA_LOCKED);
	/*
	 * Stable under the read lock (writers change them only after
	 * smm_vma_start_write(), which waits for us), and ordered after the
	 * last write cycle by the acquire in vma_start_read().
	 */
	if (addr < vma->vm_start || addr >= vma->vm_end) {
		up_read(&vma->vm_lock);
		goto inval;
	}
	if (vma->detached) {
		up_read(&vma->vm_lock);
		rcu_read_unlock();
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_MISS);
		goto retry;
	}
	rcu_read_unlock();
	return vma;

inval:
	rcu_read_unlock();
	return NULL;
}

/*
 * Per policy (enum shadowmm_swap_policy), a fault that must wait for a
 * swap-in or a userfault: fallback gives up at once (smm_fault_locked(),
 * smm_handle_userfault()), drop-retry and vma-retry drop the VMA lock
 * and wait, then retry under mmap_lock (TRIED: a swap-in will not drop
 * it again) or under the VMA lock once more.  A wait that fails (the
 * userfault channel closed, a fatal signal) fails the fault.
 */
int smm_fault_vmalock(struct smm_mm *mm, unsigned long addr, bool write,
		      u64 *val, struct smm_fault *vmf)
{
	struct smm_vma *vma;
	int ret;

	vmf->flags = SMM_FAULT_VMA_LOCK | SMM_FAULT_ALLOW_RETRY;
retry:
	vma = lock_vma_under_rcu(mm, addr);
	if (!vma) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_ABORT);
		return -EAGAIN;
	}
	/* Access errors are reported by the classic path, as on x86. */
	if (!smm_prot_allows(vma->vm_prot, write)) {
		vma_end_read(vma);
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_ABORT);
		return -EAGAIN;
	}
	ret = smm_fault_locked(mm, vma, addr, write, val, vmf);
	vma_end_read(vma);
	if (ret == SMM_FAULT_RETRY) {
		bool uffd = vmf->uffd;

		ret = smm_fault_wait(mm, vmf);
		if (ret)
			return ret;
		vmf->flags |= SMM_FAULT_TRIED;
		if (READ_ONCE(mm->swap_policy) == SHADOWMM_SWAP_VMA_RETRY) {
			smm_count(mm, uffd ? SHADOWMM_EV_VMA_LOCK_UFFD_VMA_RETRY :
					     SHADOWMM_EV_VMA_LOCK_SWAP_VMA_RETRY);
			goto retry;
		}
		smm_count(mm, uffd ? SHADOWMM_EV_VMA_LOCK_UFFD_DROP_RETRY :
				     SHADOWMM_EV_VMA_LOCK_SWAP_DROP_RETRY);
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_RETRY);
		return -EAGAIN;
	}
	if (ret == -ENOMEM) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_RETRY);
		return -EAGAIN;
	}
	if (!ret)
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_SUCCESS);
	return ret;
}
