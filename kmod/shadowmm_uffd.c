// SPDX-License-Identifier: GPL-2.0
/*
 * A space's userfault channel as a file (UFFD_OPEN), as userfaultfd(2)
 * makes one: read() returns whole struct shadowmm_uffd_msg records,
 * poll() says when one is there, close() unregisters the space's ranges
 * and fails its waiting faults (core/uffd.c).  Commands that resolve
 * faults go to the space's own file; this one only delivers events.
 *
 * And UFFD_COPY from a user buffer: the core installs pages from kernel
 * memory, so the contents come in a page at a time through a bounce
 * buffer, never under the core's locks (copy_from_user() may fault).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/minmax.h>
#include <linux/poll.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shadowmm_module.h"

/* Events one read() takes at most: its stack buffer. */
#define SHADOWMM_UFFD_READ_MAX	16

static ssize_t shadowmm_uffd_read(struct file *file, char __user *buf,
				  size_t count, loff_t *ppos)
{
	struct shadowmm_uffd_msg msgs[SHADOWMM_UFFD_READ_MAX];
	struct smm_uffd *ctx = file->private_data;
	size_t n = min_t(size_t, count / sizeof(msgs[0]), ARRAY_SIZE(msgs));
	long got;

	if (!n)
		return -EINVAL;
	/*
	 * An event taken is not queued again: fault the buffer in first, so
	 * that only a buffer unmapped meanwhile can lose one (as in the
	 * kernel's userfaultfd_read(); the fault then waits for a WAKE).
	 */
	if (clear_user(buf, n * sizeof(msgs[0])))
		return -EFAULT;
	got = smm_uffd_read(ctx, msgs, n, file->f_flags & O_NONBLOCK ? 0 : -1);
	if (got <= 0)
		return got;
	if (copy_to_user(buf, msgs, got * sizeof(msgs[0])))
		return -EFAULT;
	return got * sizeof(msgs[0]);
}

static __poll_t shadowmm_uffd_poll(struct file *file, poll_table *wait)
{
	struct smm_uffd *ctx = file->private_data;

	poll_wait(file, smm_uffd_readers(ctx), wait);
	return smm_uffd_readable(ctx) ? EPOLLIN | EPOLLRDNORM : 0;
}

static int shadowmm_uffd_release(struct inode *inode, struct file *file)
{
	smm_uffd_release(file->private_data);
	return 0;
}

static const struct file_operations shadowmm_uffd_fops = {
	.owner = THIS_MODULE,
	.read = shadowmm_uffd_read,
	.poll = shadowmm_uffd_poll,
	.release = shadowmm_uffd_release,
	.llseek = noop_llseek,
};

/*
 * UFFD_OPEN: as FORK's child, the descriptor is installed only once the
 * caller has its number.
 */
int shadowmm_uffd_open(struct smm_mm *mm, struct shadowmm_cmd *cmd,
		       void __user *uarg)
{
	struct smm_uffd *ctx;
	struct file *file;
	int fd, ret;

	if (cmd->flags || cmd->addr || cmd->len)
		return -EINVAL;
	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	ret = smm_uffd_open(mm, &ctx);
	if (ret)
		goto put_fd;
	file = anon_inode_getfile("[shadowmm-uffd]", &shadowmm_uffd_fops, ctx,
				  O_RDWR);
	if (IS_ERR(file)) {
		smm_uffd_release(ctx);
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

/*
 * UFFD_COPY from cmd->ptr: page by page, each one a core UFFD_COPY of
 * kernel memory; out_len is what was installed before the first failure.
 */
int shadowmm_uffd_copy_user(struct smm_mm *mm, struct shadowmm_cmd *cmd)
{
	struct shadowmm_info info = { 0 };
	unsigned long page, off;
	void *bounce;
	int ret = 0;

	smm_mm_info(mm, &info);
	page = info.page_size;
	if (cmd->flags & ~SHADOWMM_UFFD_DONTWAKE || !cmd->len ||
	    (cmd->addr | cmd->len) & (page - 1) ||
	    cmd->addr >= SHADOWMM_TASK_SIZE ||
	    cmd->len > SHADOWMM_TASK_SIZE - cmd->addr)
		return -EINVAL;
	bounce = kvmalloc(page, GFP_KERNEL);
	if (!bounce)
		return -ENOMEM;
	for (off = 0; off < cmd->len; off += page) {
		struct shadowmm_cmd one = *cmd;

		if (copy_from_user(bounce, u64_to_user_ptr(cmd->ptr + off),
				   page)) {
			ret = -EFAULT;
			break;
		}
		one.addr = cmd->addr + off;
		one.len = page;
		ret = smm_uffd_copy(mm, &one, bounce);
		if (ret)
			break;
		cond_resched();
	}
	kvfree(bounce);
	cmd->out_len = off;
	return ret;
}
