// SPDX-License-Identifier: GPL-2.0
/*
 * The command dispatcher behind every host entry point (ioctl, write()
 * records, the in-process backend): ranges are validated once, here, then
 * the operation runs.  Bad input is a negative errno and changes nothing.
 */
#include "smm.h"

static bool range_ok(struct smm_mm *mm, u64 addr, u64 len)
{
	return smm_range_ok(mm, addr, len);
}

static int exec_map(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	unsigned long out;
	int ret;

	if (cmd->prot & ~SHADOWMM_PROT_MASK || cmd->flags & ~SHADOWMM_MAP_FIXED)
		return -EINVAL;
	if (cmd->flags & SHADOWMM_MAP_FIXED) {
		if (!range_ok(mm, cmd->addr, cmd->len) ||
		    cmd->addr < SMM_MMAP_MIN_ADDR)
			return -EINVAL;
	} else {
		/* The address is a hint; it still has to be a page's. */
		if (!cmd->len || smm_page_offset(mm, cmd->addr | cmd->len) ||
		    cmd->len > SMM_TASK_SIZE - SMM_MMAP_MIN_ADDR)
			return -EINVAL;
	}
	ret = smm_map(mm, cmd->addr, cmd->len, cmd->prot, cmd->flags, &out);
	if (!ret)
		cmd->out_addr = out;
	return ret;
}

/*
 * Accesses [addr, addr + len) every @stride bytes.  Stops at the first
 * error; out_faults says how many accesses faulted up to there and out_len
 * how many bytes of the range the completed accesses cover.  A pending
 * signal stops it like a short read(): 0 and a short out_len if some
 * accesses were done, -EINTR if none was.
 */
static int exec_touch(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	bool write = cmd->flags & SHADOWMM_ACCESS_WRITE;
	u64 addr, end = cmd->addr + cmd->len, n = 0;
	int ret = 0;

	if (!cmd->len || !cmd->stride || cmd->addr >= SMM_TASK_SIZE ||
	    cmd->len > SMM_TASK_SIZE - cmd->addr)
		return -EINVAL;
	for (addr = cmd->addr; addr < end; addr += cmd->stride) {
		u64 val = cmd->value;
		bool faulted;

		if (unlikely(smm_host_should_stop())) {
			if (addr == cmd->addr)
				ret = -EINTR;
			break;
		}
		ret = smm_access(mm, addr, write, &val, &faulted);
		n += faulted;
		if (ret)
			break;
		cond_resched();
		/* A stride beyond the range: one access, and no wrap. */
		if (cmd->stride >= end - addr) {
			addr = end;
			break;
		}
	}
	cmd->out_faults = n;
	cmd->out_len = min(addr, end) - cmd->addr;
	return ret;
}

int smm_exec(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	u64 access_flags = cmd->flags & ~SHADOWMM_ACCESS_WRITE;
	bool faulted;
	int ret;

	switch (cmd->op) {
	case SHADOWMM_OP_MAP:
		return exec_map(mm, cmd);
	case SHADOWMM_OP_UNMAP:
		if (!range_ok(mm, cmd->addr, cmd->len) || cmd->flags)
			return -EINVAL;
		return smm_unmap(mm, cmd->addr, cmd->len);
	case SHADOWMM_OP_PROTECT:
		if (!range_ok(mm, cmd->addr, cmd->len) || cmd->flags ||
		    cmd->prot & ~SHADOWMM_PROT_MASK)
			return -EINVAL;
		return smm_protect(mm, cmd->addr, cmd->len, cmd->prot);
	case SHADOWMM_OP_ZAP:
		if (!range_ok(mm, cmd->addr, cmd->len) || cmd->flags)
			return -EINVAL;
		return smm_zap(mm, cmd->addr, cmd->len);
	case SHADOWMM_OP_FAULT:
		if (access_flags || cmd->addr >= SMM_TASK_SIZE)
			return -EINVAL;
		cmd->out_value = cmd->value;
		ret = smm_access(mm, cmd->addr,
				 cmd->flags & SHADOWMM_ACCESS_WRITE,
				 &cmd->out_value, &faulted);
		cmd->out_faults = faulted;
		return ret;
	case SHADOWMM_OP_TOUCH:
		if (access_flags)
			return -EINVAL;
		return exec_touch(mm, cmd);
	case SHADOWMM_OP_SET_MODE:
		/* smm_set_mode() takes an unsigned int: check all 64 bits. */
		if (cmd->value >= SHADOWMM_NR_MODES || cmd->flags)
			return -EINVAL;
		return smm_set_mode(mm, cmd->value);
	case SHADOWMM_OP_SET_GEOMETRY:
		if (cmd->value >= SHADOWMM_NR_GEOMS || cmd->flags)
			return -EINVAL;
		return smm_set_geometry(mm, cmd->value);
	case SHADOWMM_OP_RECLAIM:
		if (cmd->flags || ((cmd->addr || cmd->len) &&
				   !range_ok(mm, cmd->addr, cmd->len)))
			return -EINVAL;
		return smm_exec_reclaim(mm, cmd);
	case SHADOWMM_OP_SET_SWAP_POLICY:
		if (cmd->value >= SHADOWMM_NR_SWAP_POLICIES || cmd->flags)
			return -EINVAL;
		return smm_set_swap_policy(mm, cmd->value);
	case SHADOWMM_OP_SET_ANON_POLICY:
		if (cmd->value >= SHADOWMM_NR_ANON_POLICIES || cmd->flags)
			return -EINVAL;
		return smm_set_anon_policy(mm, cmd->value);
	case SHADOWMM_OP_SET_TLB_POLICY:
		if (cmd->value >= SHADOWMM_NR_TLB_POLICIES || cmd->flags)
			return -EINVAL;
		return smm_set_tlb_policy(mm, cmd->value);
	case SHADOWMM_OP_SET_MODEL:
		if (cmd->flags || cmd->addr || cmd->len)
			return -EINVAL;
		return smm_set_model(mm, cmd->value);
	case SHADOWMM_OP_TLB_LEAVE:
		if (cmd->flags || cmd->addr || cmd->len || cmd->value)
			return -EINVAL;
		smm_tlb_leave(mm);
		return 0;
	case SHADOWMM_OP_COPY:
		return smm_exec_copy(mm, cmd);
	case SHADOWMM_OP_SEARCH:
		return smm_exec_search(mm, cmd);
	case SHADOWMM_OP_UFFD_REGISTER:
	case SHADOWMM_OP_UFFD_UNREGISTER:
	case SHADOWMM_OP_UFFD_COPY:
	case SHADOWMM_OP_UFFD_ZEROPAGE:
	case SHADOWMM_OP_UFFD_WAKE:
		if (!range_ok(mm, cmd->addr, cmd->len))
			return -EINVAL;
		return smm_exec_uffd(mm, cmd);
	default:
		/*
		 * GET_STATS, GET_INFO, SET_MEMORY need the host to copy,
		 * FORK and UFFD_OPEN the host to make a handle; unknown ops.
		 */
		return -EINVAL;
	}
}

/* Each validation's mark on the anon_vmas it has checked. */
static unsigned long smm_check_stamp;

int smm_mm_validate(struct smm_mm *mm, char *why, unsigned long why_len)
{
	unsigned long n = 0, chains = 0, nodes = 0, stamp;
	struct smm_vma *vma, *prev = NULL;
	int ret = 0;

	/*
	 * Quiesce every fault: classic ones hold the mmap lock, vmalock ones
	 * a VMA lock (start_write waits for them), and speculative ones run
	 * wholly inside RCU and cannot validate against odd sequences, so
	 * after a grace period none is in flight, nor holds a page.
	 */
	smm_mmap_write_lock(mm);
	list_for_each_entry(vma, &mm->vma_list, vm_list)
		smm_vma_start_write(vma);
	synchronize_rcu();
	/* And reclaim, which needs no mmap lock. */
	mutex_lock(&mm->mem->reclaim_lock);
	stamp = ++smm_check_stamp;
	list_for_each_entry(vma, &mm->vma_list, vm_list) {
		n++;
		if (vma->vm_start >= vma->vm_end ||
		    smm_page_offset(mm, vma->vm_start | vma->vm_end) ||
		    vma->vm_end > SMM_TASK_SIZE ||
		    (prev && prev->vm_end > vma->vm_start) || vma->detached) {
			snprintf(why, why_len, "vma: bad VMA [%#lx, %#lx)",
				 vma->vm_start, vma->vm_end);
			ret = -EUCLEAN;
			goto out;
		}
		ret = smm_rmap_validate_vma(mm, vma, stamp, &chains, &nodes,
					    why, why_len);
		if (ret)
			goto out;
		prev = vma;
	}
	/*
	 * Nothing in the trees but the live VMAs' chains; after FORK the
	 * trees hold the relatives' too.
	 */
	if (chains != nodes && !smm_mem_shared(mm->mem)) {
		snprintf(why, why_len, "rmap: %lu chains, %lu tree nodes",
			 chains, nodes);
		ret = -EUCLEAN;
		goto out;
	}
	if (n != mm->nr_vmas) {
		snprintf(why, why_len, "vma: %lu listed, nr_vmas %lu", n,
			 mm->nr_vmas);
		ret = -EUCLEAN;
		goto out;
	}
	ret = smm_vt_validate(mm, why, why_len);
	if (!ret)
		ret = smm_pt_validate(mm, why, why_len);
out:
	mutex_unlock(&mm->mem->reclaim_lock);
	smm_mmap_write_unlock(mm);
	return ret;
}
