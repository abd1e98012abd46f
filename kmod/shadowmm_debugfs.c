// SPDX-License-Identifier: GPL-2.0
/*
 * <debugfs>/shadowmm/, every file mode 0600 (root only, like the rest of
 * debugfs):
 *
 *   ctl     one shadow address space per open() (shadowmm_ctl.c)
 *   stats   the global counters, one "name value" per line: the default
 *           fault path, the live gauges, every SHADOWMM_COUNTERS entry
 *           (spaces that are gone included), and the release-time
 *           validation tally
 *   mode    the fault path of new spaces; write a name to change it
 *   geometry  the page size and table geometry of new spaces: host, 4k
 *           or 64k (enum shadowmm_geometry); a space changes its own
 *           with SET_GEOMETRY
 *   swap_policy  what a vmalock fault of new spaces does when it must wait
 *           for a swap-in: fallback, drop-retry (default) or vma-retry
 *           (enum shadowmm_swap_policy); a space changes its own with
 *           SET_SWAP_POLICY
 *   anon_policy  how a vmalock fault of new spaces gives a VMA its first
 *           anon_vma: fallback (6.4) or trylock (6.8+, default) (enum
 *           shadowmm_anon_policy); a space changes its own with
 *           SET_ANON_POLICY
 *   tlb_policy  the shadow TLBs of new spaces: none, rcu (default) or
 *           ipi (enum shadowmm_tlb_policy; ipi: -EOPNOTSUPP on
 *           PREEMPT_RT); a space changes its own with SET_TLB_POLICY
 *           while it has no VMA
 *   inject  race-window injection mask (enum smm_race_window bits)
 *   bugs    known-bugs mask (enum shadowmm_bug bits): puts historical
 *           bugs back so tests can prove their detectors fire
 *
 * A write is one whole value with at most a trailing newline; anything
 * else (an embedded NUL, trailing garbage, an unknown bit) is -EINVAL and
 * changes nothing.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "shadowmm_module.h"

static struct dentry *shadowmm_dir;

static int stats_show(struct seq_file *m, void *unused)
{
	unsigned long runs, failed;
	struct shadowmm_stats *st;
	unsigned int i;

	st = kmalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	smm_global_stats(st);
	seq_printf(m, "default_mode %s\n",
		   shadowmm_named_default_name(&shadowmm_default_mode));
	seq_printf(m, "mms_live %llu\n", st->mms_live);
	seq_printf(m, "vmas_live %llu\n", st->vmas_live);
	seq_printf(m, "tables_live %llu\n", st->tables_live);
	seq_printf(m, "pages_live %llu\n", st->pages_live);
	for (i = 0; i < SHADOWMM_NR_COUNTERS; i++)
		seq_printf(m, "%s %llu\n", smm_counter_name(i),
			   st->counter[i]);
	shadowmm_ctl_validate_stats(&runs, &failed);
	seq_printf(m, "validate_runs %lu\n", runs);
	seq_printf(m, "validate_failed %lu\n", failed);
	kfree(st);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stats);

/*
 * Copies a whole small write into @kbuf as a C string.  An embedded NUL
 * would let "spf\0xyz" parse as "spf": refused.
 */
static int write_to_string(const char __user *buf, size_t count, char *kbuf,
			   size_t size)
{
	if (!count || count >= size)
		return -EINVAL;
	if (copy_from_user(kbuf, buf, count))
		return -EFAULT;
	if (memchr(kbuf, '\0', count))
		return -EINVAL;
	kbuf[count] = '\0';
	return 0;
}

/*
 * mode, geometry, swap_policy and anon_policy: one name, read with a newline and
 * written as sysfs takes it (a trailing newline is fine).  private_data
 * is the struct shadowmm_named_default.
 */
static ssize_t named_read(struct file *file, char __user *buf, size_t count,
			  loff_t *ppos)
{
	const struct shadowmm_named_default *d = file->private_data;
	char name[24];
	int len;

	len = scnprintf(name, sizeof(name), "%s\n",
			shadowmm_named_default_name(d));
	return simple_read_from_buffer(buf, count, ppos, name, len);
}

static ssize_t named_write(struct file *file, const char __user *buf,
			   size_t count, loff_t *ppos)
{
	struct shadowmm_named_default *d = file->private_data;
	char name[24];
	int ret;

	ret = write_to_string(buf, count, name, sizeof(name));
	if (ret)
		return ret;
	ret = shadowmm_named_default_set(d, name);
	return ret ? ret : count;
}

static const struct file_operations named_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = named_read,
	.write = named_write,
	.llseek = default_llseek,
};

/*
 * inject and bugs: a mask read as "0x%02llx\n" and written as one number
 * (kstrtoull(): base prefix, one trailing newline, nothing else).
 */
struct mask_file {
	unsigned long (*get)(void);
	int (*set)(unsigned long mask);
};

static int inject_set(unsigned long mask)
{
	if (mask & ~(BIT(SMM_NR_RACE_WINDOWS) - 1))
		return -EINVAL;
	smm_set_race_injection(mask);
	return 0;
}

static const struct mask_file inject_mask = {
	.get = smm_get_race_injection,
	.set = inject_set,
};

static const struct mask_file bugs_mask = {
	.get = smm_get_bugs,
	.set = smm_set_bugs,
};

static ssize_t mask_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	const struct mask_file *mf = file->private_data;
	char val[24];
	int len;

	len = scnprintf(val, sizeof(val), "0x%02lx\n", mf->get());
	return simple_read_from_buffer(buf, count, ppos, val, len);
}

static ssize_t mask_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	const struct mask_file *mf = file->private_data;
	unsigned long long val;
	char kbuf[24];
	int ret;

	ret = write_to_string(buf, count, kbuf, sizeof(kbuf));
	if (ret)
		return ret;
	ret = kstrtoull(kbuf, 0, &val);
	if (ret)
		return ret;
	if (val > ULONG_MAX)
		return -EINVAL;
	ret = mf->set(val);
	return ret ? ret : count;
}

static const struct file_operations mask_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = mask_read,
	.write = mask_write,
	.llseek = default_llseek,
};

int shadowmm_debugfs_init(void)
{
	struct dentry *ctl;

	shadowmm_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	if (IS_ERR(shadowmm_dir))
		return PTR_ERR(shadowmm_dir);
	/*
	 * Unsafe, i.e. no removal protection per call: it is not needed, as
	 * an open ctl file pins the module, and the proxy would cost every
	 * ioctl and write() a reference count round trip.
	 */
	ctl = debugfs_create_file_unsafe("ctl", 0600, shadowmm_dir, NULL,
					 &shadowmm_ctl_fops);
	if (IS_ERR(ctl)) {
		debugfs_remove(shadowmm_dir);
		return PTR_ERR(ctl);
	}
	debugfs_create_file("stats", 0600, shadowmm_dir, NULL, &stats_fops);
	/* The defaults are static: nothing to protect from removal. */
	debugfs_create_file_unsafe("mode", 0600, shadowmm_dir,
				   &shadowmm_default_mode, &named_fops);
	debugfs_create_file_unsafe("geometry", 0600, shadowmm_dir,
				   &shadowmm_default_geometry, &named_fops);
	debugfs_create_file_unsafe("swap_policy", 0600, shadowmm_dir,
				   &shadowmm_default_swap_policy, &named_fops);
	debugfs_create_file_unsafe("anon_policy", 0600, shadowmm_dir,
				   &shadowmm_default_anon_policy, &named_fops);
	debugfs_create_file_unsafe("tlb_policy", 0600, shadowmm_dir,
				   &shadowmm_default_tlb_policy, &named_fops);
	/* The data is const and static: nothing to protect from removal. */
	debugfs_create_file_unsafe("inject", 0600, shadowmm_dir,
				   (void *)&inject_mask, &mask_fops);
	debugfs_create_file_unsafe("bugs", 0600, shadowmm_dir,
				   (void *)&bugs_mask, &mask_fops);
	return 0;
}

void shadowmm_debugfs_exit(void)
{
	debugfs_remove(shadowmm_dir);
}
