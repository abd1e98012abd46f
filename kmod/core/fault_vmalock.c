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

static bool vma_start_read(struct smm_vma *vma)
{
	struct smm_mm *mm = vma->vm_mm;

	/* Write-locked this cycle: the trylock would only bounce the line. */
	if (READ_ONCE(vma->vm_lock_seq) == smp_load_acquire(&mm->mm_lock_seq))
		return false;
	if (!down_read_trylock(&vma->vm_lock))
		return false;
	/* A writer may have locked and released it before our trylock. */
	if (unlikely(READ_ONCE(vma->vm_lock_seq) ==
		     READ_ONCE(mm->mm_lock_seq))) {
		up_read(&vma->vm_lock);
		return false;
	}
	return true;
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
	smm_race_window(SMM_RW_VMA_BEFORE_LOCK);
	if (!vma_start_read(vma))
		goto inval;
	smm_race_window(SMM_RW_VMA_LOCKED);
	/* Bounds may have changed between the lookup and the lock. */
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

int smm_fault_vmalock(struct smm_mm *mm, unsigned long addr, bool write,
		      u64 *val)
{
	struct smm_vma *vma = lock_vma_under_rcu(mm, addr);
	int ret;

	if (!vma) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_ABORT);
		return -EAGAIN;
	}
	/* Access errors are reported by the classic path, as on x86. */
	if (!smm_prot_allows(vma->vm_prot, write)) {
		up_read(&vma->vm_lock);
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_ABORT);
		return -EAGAIN;
	}
	ret = smm_fault_locked(mm, vma, addr, write, val);
	up_read(&vma->vm_lock);
	if (ret == -ENOMEM) {
		smm_count(mm, SHADOWMM_EV_VMA_LOCK_RETRY);
		return -EAGAIN;
	}
	smm_count(mm, SHADOWMM_EV_VMA_LOCK_SUCCESS);
	return ret;
}
