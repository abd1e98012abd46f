// SPDX-License-Identifier: GPL-2.0
/*
 * <debugfs>/shadowmm/ctl: every open() is one shadow address space, shared
 * by whatever shares the open file (threads, forked children, an io_uring)
 * as threads share an mm, and torn down when the last reference goes.
 * FORK makes another such file, the child space.
 *
 * Synchronous commands come by ioctl, one struct shadowmm_cmd each (the
 * lib/test_hmm.c style); batches by write() of whole records, which is
 * what io_uring submits.  Both end in smm_exec(), which validates every
 * range before anything changes, so bad input is an errno and no more.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/atomic.h>
#include <linux/bug.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shadowmm_module.h"

static atomic_long_t validate_runs = ATOMIC_LONG_INIT(0);
static atomic_long_t validate_failed = ATOMIC_LONG_INIT(0);

void shadowmm_ctl_validate_stats(unsigned long *runs, unsigned long *failed)
{
	*runs = atomic_long_read(&validate_runs);
	*failed = atomic_long_read(&validate_failed);
}

static int shadowmm_ctl_open(struct inode *inode, struct file *file)
{
	unsigned int mode, geometry, policy, anon_policy, tlb_policy;
	struct shadowmm_memory mem;
	struct smm_limits limits;
	struct smm_mm *mm;
	int ret;

	nonseekable_open(inode, file);
	shadowmm_space_params(&limits, &mode, &geometry);
	ret = smm_mm_create(&limits, mode, geometry, &mm);
	if (ret)
		return ret;
	/* The swap defaults, as if the opener had sent them first. */
	shadowmm_swap_params(&mem, &policy, &anon_policy, &tlb_policy);
	ret = smm_set_memory(mm, &mem);
	if (!ret)
		ret = smm_set_swap_policy(mm, policy);
	if (!ret)
		ret = smm_set_anon_policy(mm, anon_policy);
	if (!ret)
		ret = smm_set_tlb_policy(mm, tlb_policy);
	if (ret) {
		smm_mm_destroy(mm);
		return ret;
	}
	file->private_data = mm;
	return 0;
}

/* An inconsistent space is a bug in the core, never the user's doing. */
static void shadowmm_ctl_validate(struct smm_mm *mm)
{
	char why[160];
	int ret;

	ret = smm_mm_validate(mm, why, sizeof(why));
	atomic_long_inc(&validate_runs);
	if (ret) {
		atomic_long_inc(&validate_failed);
		WARN_ONCE(1, "shadowmm: space inconsistent at release: %s\n",
			  why);
	}
}

/* The last reference is gone: no command can be running on @mm. */
static int shadowmm_ctl_release(struct inode *inode, struct file *file)
{
	struct smm_mm *mm = file->private_data;

	if (shadowmm_validate_on_release())
		shadowmm_ctl_validate(mm);
	smm_mm_destroy(mm);
	return 0;
}

/* Outputs not written by an operation read back as 0, whatever was sent. */
static void shadowmm_cmd_clear_out(struct shadowmm_cmd *cmd)
{
	cmd->out_addr = 0;
	cmd->out_value = 0;
	cmd->out_faults = 0;
	cmd->out_len = 0;
}

/*
 * Copies at most cmd->len bytes of the space's counters to cmd->ptr, so an
 * older caller with a shorter struct still works; out_len says how much
 * the module has.  len 0 only asks that size.
 */
static int shadowmm_get_stats(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	struct shadowmm_stats *st;
	size_t len = min_t(u64, cmd->len, sizeof(*st));
	int ret = 0;

	st = kmalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	smm_mm_stats(mm, st);
	if (len && copy_to_user(u64_to_user_ptr(cmd->ptr), st, len))
		ret = -EFAULT;
	else
		cmd->out_len = sizeof(*st);
	kfree(st);
	return ret;
}

/* GET_INFO: as GET_STATS, at most cmd->len bytes; out_len is ours. */
static int shadowmm_get_info(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	struct shadowmm_info info;
	size_t len = min_t(u64, cmd->len, sizeof(info));

	smm_mm_info(mm, &info);
	if (len && copy_to_user(u64_to_user_ptr(cmd->ptr), &info, len))
		return -EFAULT;
	cmd->out_len = sizeof(info);
	return 0;
}

/*
 * SET_MEMORY: struct shadowmm_memory from cmd->ptr, all of it.  A longer
 * one (a newer caller's) is taken if what we do not know is zero, as
 * copy_struct_from_user() does for openat2().
 */
static int shadowmm_set_memory(struct smm_mm *mm,
			       const struct shadowmm_cmd *cmd)
{
	struct shadowmm_memory mem;
	int ret;

	if (cmd->flags || cmd->len < sizeof(mem))
		return -EINVAL;
	if (cmd->len > PAGE_SIZE)
		return -E2BIG;
	ret = copy_struct_from_user(&mem, sizeof(mem),
				    u64_to_user_ptr(cmd->ptr), cmd->len);
	if (ret)
		return ret;
	return smm_set_memory(mm, &mem);
}

/* The commands ioctl and write() share; those that copy, then the core's. */
static int shadowmm_exec(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	if (cmd->op == SHADOWMM_OP_SET_MEMORY)
		return shadowmm_set_memory(mm, cmd);
	if (cmd->op == SHADOWMM_OP_UFFD_COPY &&
	    !(cmd->flags & SHADOWMM_UFFD_FILL))
		return shadowmm_uffd_copy_user(mm, cmd);
	return smm_exec(mm, cmd);
}

/*
 * FORK: the child is a file like an open() of ctl, but made here (an
 * anonymous inode with the same operations), so a harness forks a space
 * without forking a process.  The descriptor is installed only once the
 * caller has its number: a failed copy-out leaves no descriptor behind,
 * and the child goes with the file.
 */
static int shadowmm_fork(struct smm_mm *mm, struct shadowmm_cmd *cmd,
			 void __user *uarg)
{
	struct smm_mm *child;
	struct file *file;
	int fd, ret;

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	ret = smm_fork(mm, &child);
	if (ret)
		goto put_fd;
	file = anon_inode_getfile("[shadowmm]", &shadowmm_ctl_fops, child,
				  O_RDWR);
	if (IS_ERR(file)) {
		smm_mm_destroy(child);
		ret = PTR_ERR(file);
		goto put_fd;
	}
	cmd->out_value = fd;
	if (copy_to_user(uarg, cmd, sizeof(*cmd))) {
		fput(file);
		ret = -EFAULT;
		goto put_fd;
	}
	fd_install(fd, file);
	return 0;

put_fd:
	put_unused_fd(fd);
	return ret;
}

static long shadowmm_ctl_ioctl(struct file *file, unsigned int ioc,
			       unsigned long arg)
{
	struct smm_mm *mm = file->private_data;
	void __user *uarg = (void __user *)arg;
	unsigned int op = _IOC_NR(ioc);
	struct shadowmm_cmd cmd;
	int ret;

	/* The number names the operation; type, direction and size are ours. */
	if (op == SHADOWMM_OP_NONE || op >= SHADOWMM_NR_OPS ||
	    ioc != SHADOWMM_IOC(op))
		return -ENOTTY;
	if (copy_from_user(&cmd, uarg, sizeof(cmd)))
		return -EFAULT;
	if (cmd.op != SHADOWMM_OP_NONE && cmd.op != op)
		return -EINVAL;
	cmd.op = op;
	shadowmm_cmd_clear_out(&cmd);
	if (op == SHADOWMM_OP_GET_STATS || op == SHADOWMM_OP_GET_INFO) {
		if (cmd.flags)
			return -EINVAL;
		if (op == SHADOWMM_OP_GET_STATS)
			ret = shadowmm_get_stats(mm, &cmd);
		else
			ret = shadowmm_get_info(mm, &cmd);
	} else {
		/* Every other command changes the space, as write() does. */
		if (!(file->f_mode & FMODE_WRITE))
			return -EBADF;
		if (op == SHADOWMM_OP_FORK)
			return shadowmm_fork(mm, &cmd, uarg);
		if (op == SHADOWMM_OP_UFFD_OPEN)
			return shadowmm_uffd_open(mm, &cmd, uarg);
		ret = shadowmm_exec(mm, &cmd);
	}
	/* Written back on errors too: a TOUCH says how far it got. */
	if (copy_to_user(uarg, &cmd, sizeof(cmd)) && !ret)
		ret = -EFAULT;
	return ret;
}

/*
 * A record is input only: nothing could carry an address or stats back,
 * nor how far a TOUCH or COPY got, so one that a signal stopped short is
 * not done (-EINTR): the batch stops before it and resubmitting redoes it.
 */
static int shadowmm_record_exec(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	int ret;

	if (cmd->op == SHADOWMM_OP_GET_STATS ||
	    cmd->op == SHADOWMM_OP_GET_INFO)
		return -EINVAL;
	if (cmd->op == SHADOWMM_OP_MAP && !(cmd->flags & SHADOWMM_MAP_FIXED))
		return -EINVAL;
	shadowmm_cmd_clear_out(cmd);
	ret = shadowmm_exec(mm, cmd);
	if (!ret && (cmd->op == SHADOWMM_OP_TOUCH ||
		     cmd->op == SHADOWMM_OP_COPY) && cmd->out_len < cmd->len)
		ret = -EINTR;
	return ret;
}

/*
 * Runs whole records in order and stops at the first that fails: the
 * return value is the bytes of the records that succeeded, or the error of
 * the first record if none did, like a short write.  A pending signal
 * stops a long batch the same way (-EINTR if no record ran).  A count that
 * is not whole records is -EINVAL, except when vfs_write() trimmed a
 * larger write to MAX_RW_COUNT: then the whole records in it run and the
 * short count tells the caller where to go on.
 */
static ssize_t shadowmm_ctl_write(struct file *file, const char __user *buf,
				  size_t count, loff_t *ppos)
{
	struct smm_mm *mm = file->private_data;
	struct shadowmm_cmd cmd;
	size_t done = 0;
	int ret = 0;

	if (count % sizeof(cmd) && count != MAX_RW_COUNT)
		return -EINVAL;
	count -= count % sizeof(cmd);
	if (!count)
		return -EINVAL;
	while (done < count) {
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		if (copy_from_user(&cmd, buf + done, sizeof(cmd))) {
			ret = -EFAULT;
			break;
		}
		ret = shadowmm_record_exec(mm, &cmd);
		if (ret)
			break;
		done += sizeof(cmd);
		cond_resched();
	}
	return done ? done : ret;
}

const struct file_operations shadowmm_ctl_fops = {
	/* Pins the module while a space is open, so rmmod is refused. */
	.owner = THIS_MODULE,
	.open = shadowmm_ctl_open,
	.release = shadowmm_ctl_release,
	.unlocked_ioctl = shadowmm_ctl_ioctl,
	/* Only __u64 fields: the same layout for 32-bit callers. */
	.compat_ioctl = compat_ptr_ioctl,
	.write = shadowmm_ctl_write,
	/*
	 * No .llseek: with nonseekable_open() lseek() fails with -ESPIPE, on
	 * 6.1 through no_llseek() and on 6.12, which removed no_llseek(),
	 * through the cleared FMODE_LSEEK.
	 */
};
