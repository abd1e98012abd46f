// SPDX-License-Identifier: GPL-2.0
/*
 * COPY and SEARCH: ebizzy's memcpy() and bsearch() (or linear search) done
 * through the shadow pages, so that a record moves and compares the bytes
 * the real program does and faults where its loads and stores would.
 *
 * Each piece of a page is visited as the MMU would (smm_mmu_access(): a
 * TLB entry, or a present PTE that allows the access); a miss is a fault
 * through smm_access(), with the space's fault path and counters, after
 * which the visit is tried again.  A copy goes through a bounce buffer
 * one piece at a time, so it never holds two translations at once
 * (without a TLB, two PTE locks, which two copies in opposite directions
 * between the same pages would take in opposite orders).
 */
#include "smm.h"

struct piece {
	void *buf;
	unsigned long len;
	bool write;
};

/*
 * smm_mmu_fn of a piece: word by word, as other CPUs may store to the
 * same words through their TLBs meanwhile (memory is racy; a torn word
 * is not).
 */
static void piece_copy(void *data, void *arg)
{
	struct piece *p = arg;
	u64 *mem = data, *buf = p->buf;
	unsigned long i;

	for (i = 0; i < p->len / sizeof(u64); i++) {
		if (p->write)
			WRITE_ONCE(mem[i], buf[i]);
		else
			buf[i] = READ_ONCE(mem[i]);
	}
}

/*
 * [addr, addr + len) inside one page, as the MMU lets it (a TLB entry or
 * a present PTE that allows the access): stores @buf into it (@write) or
 * loads it into @buf.  False if no translation allows it.
 */
static bool smm_piece_present(struct smm_mm *mm, unsigned long addr,
			      void *buf, unsigned long len, bool write)
{
	struct piece p = { buf, len, write };

	return smm_mmu_access(mm, addr, write, piece_copy, &p) !=
	       SMM_MMU_MISS;
}

/*
 * One visit of [addr, addr + len) inside one page, 8-byte aligned, as the
 * loads (or stores) of a memcpy() would make it: a present page is one
 * access that hits; otherwise the first u64 faults (a store of the very
 * value the copy puts there) and the rest follows through the PTE the
 * fault installed.  @faults counts the accesses that faulted.
 */
static int smm_piece_access(struct smm_mm *mm, unsigned long addr,
			    void *buf, unsigned long len, bool write,
			    u64 *faults)
{
	u64 *words = buf;
	unsigned long i;
	bool faulted;
	u64 val;
	int ret;

	if (smm_piece_present(mm, addr, buf, len, write)) {
		smm_count(mm, SHADOWMM_EV_ACCESS);
		smm_count(mm, SHADOWMM_EV_ACCESS_HIT);
		return 0;
	}
	val = words[0];
	ret = smm_access(mm, addr, write, &val, &faulted);
	*faults += faulted;
	if (ret)
		return ret;
	if (!write)
		words[0] = val;
	if (len == sizeof(u64) ||
	    smm_piece_present(mm, addr + sizeof(u64), &words[1],
			      len - sizeof(u64), write))
		return 0;
	/*
	 * A zap or protect got in between the fault and the retry.  Go on
	 * word by word: each smm_access() completes its access or fails, so
	 * this ends however the entry keeps changing.
	 */
	for (i = 1; i < len / sizeof(u64); i++) {
		val = words[i];
		ret = smm_access(mm, addr + i * sizeof(u64), write, &val,
				 &faulted);
		*faults += faulted;
		if (ret)
			return ret;
		if (!write)
			words[i] = val;
	}
	return 0;
}

/* Bytes from @addr to the end of its page. */
static u64 smm_page_left(struct smm_mm *mm, u64 addr)
{
	return smm_page_size(mm) - smm_page_offset(mm, addr);
}

/* 8-byte aligned, non-empty, not wrapping, inside the shadow space. */
static bool smm_u64_range_ok(u64 addr, u64 len)
{
	return len && !((addr | len) & 7) && addr < SMM_TASK_SIZE &&
	       len <= SMM_TASK_SIZE - addr;
}

/*
 * Piece by piece, each inside one page of the source and one of the
 * destination: a load of the source piece into the bounce buffer, then a
 * store of it to the destination.  A pending signal stops it like TOUCH:
 * 0 and a short out_len, or -EINTR if nothing was copied.
 */
int smm_exec_copy(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	u64 src = cmd->addr, dst = cmd->value, len = cmd->len;
	u64 done = 0, faults = 0;
	void *bounce;
	int ret = 0;

	if (cmd->flags || !smm_u64_range_ok(src, len) ||
	    !smm_u64_range_ok(dst, len))
		return -EINVAL;
	/* memcpy() of overlapping ranges is undefined: refuse it. */
	if (src < dst + len && dst < src + len)
		return -EINVAL;
	bounce = kmalloc(min_t(u64, len, smm_page_size(mm)), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	while (done < len) {
		u64 n = min(len - done, min(smm_page_left(mm, src + done),
					    smm_page_left(mm, dst + done)));

		if (unlikely(smm_host_should_stop())) {
			if (!done)
				ret = -EINTR;
			break;
		}
		ret = smm_piece_access(mm, src + done, bounce, n, false,
				       &faults);
		if (!ret)
			ret = smm_piece_access(mm, dst + done, bounce, n, true,
					       &faults);
		if (ret)
			break;
		done += n;
		cond_resched();
	}
	kfree(bounce);
	smm_count(mm, SHADOWMM_EV_OP_COPY);
	smm_count_add(mm, SHADOWMM_EV_COPY_BYTES, done);
	cmd->out_faults = faults;
	cmd->out_len = done;
	return ret;
}

/* bsearch()'s bisection: one load of a key word per probe. */
static int smm_search_binary(struct smm_mm *mm, struct shadowmm_cmd *cmd,
			     u64 nr, u64 *index, u64 *faults)
{
	u64 lo = 0, hi = nr, probes = 0;
	int ret = -ENOENT;

	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2, val = 0;

		if (unlikely(smm_host_should_stop())) {
			ret = -EINTR;
			break;
		}
		ret = smm_piece_access(mm, cmd->addr + mid * cmd->stride,
				       &val, sizeof(val), false, faults);
		if (ret)
			break;
		probes++;
		ret = -ENOENT;
		if (cmd->value < val) {
			hi = mid;
		} else if (cmd->value > val) {
			lo = mid + 1;
		} else {
			*index = mid;
			ret = 0;
			break;
		}
	}
	smm_count_add(mm, SHADOWMM_EV_SEARCH_COMPARE, probes);
	return ret;
}

/*
 * ebizzy's linear_search(): record after record.  A page's key words are
 * loaded in one visit and compared in the bounce buffer, so a page costs
 * one access however many records start in it.
 */
static int smm_search_linear(struct smm_mm *mm, struct shadowmm_cmd *cmd,
			     u64 nr, u64 *index, u64 *faults)
{
	u64 i = 0, probes = 0;
	char *bounce;
	int ret = -ENOENT;

	bounce = kmalloc(smm_page_size(mm), GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	while (i < nr) {
		u64 start = cmd->addr + i * cmd->stride;
		/* Records i..j-1 start in this page; each key word too. */
		u64 j = min(nr, i + (smm_page_left(mm, start) +
				     cmd->stride - 1) / cmd->stride);
		u64 k;

		if (unlikely(smm_host_should_stop())) {
			ret = -EINTR;
			break;
		}
		ret = smm_piece_access(mm, start, bounce,
				       (j - 1 - i) * cmd->stride + sizeof(u64),
				       false, faults);
		if (ret)
			break;
		ret = -ENOENT;
		for (k = i; k < j; k++) {
			probes++;
			if (*(u64 *)(bounce + (k - i) * cmd->stride) ==
			    cmd->value) {
				*index = k;
				ret = 0;
				break;
			}
		}
		if (!ret)
			break;
		i = j;
		cond_resched();
	}
	kfree(bounce);
	smm_count_add(mm, SHADOWMM_EV_SEARCH_COMPARE, probes);
	return ret;
}

/*
 * No partial result: a pending signal stops it with -EINTR and running it
 * again is harmless, as nothing changed.
 */
int smm_exec_search(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	u64 index = 0, faults = 0;
	int ret;

	if (cmd->flags & ~SHADOWMM_SEARCH_LINEAR || !cmd->stride ||
	    cmd->stride & 7 || !smm_u64_range_ok(cmd->addr, cmd->len) ||
	    cmd->len % cmd->stride)
		return -EINVAL;
	if (cmd->flags & SHADOWMM_SEARCH_LINEAR)
		ret = smm_search_linear(mm, cmd, cmd->len / cmd->stride,
					&index, &faults);
	else
		ret = smm_search_binary(mm, cmd, cmd->len / cmd->stride,
					&index, &faults);
	smm_count(mm, SHADOWMM_EV_OP_SEARCH);
	cmd->out_faults = faults;
	if (!ret) {
		cmd->out_value = index;
		cmd->out_addr = cmd->addr + index * cmd->stride;
	}
	return ret;
}
