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
 *   inject  race-window injection mask (enum smm_race_window bits)
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
		   smm_mode_name(shadowmm_default_mode()));
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

static ssize_t mode_read(struct file *file, char __user *buf, size_t count,
			 loff_t *ppos)
{
	char name[16];
	int len;

	len = scnprintf(name, sizeof(name), "%s\n",
			smm_mode_name(shadowmm_default_mode()));
	return simple_read_from_buffer(buf, count, ppos, name, len);
}

/* One mode name, as sysfs takes it: a trailing newline is fine. */
static ssize_t mode_write(struct file *file, const char __user *buf,
			  size_t count, loff_t *ppos)
{
	char name[16];
	int mode;

	if (!count || count >= sizeof(name))
		return -EINVAL;
	if (copy_from_user(name, buf, count))
		return -EFAULT;
	name[count] = '\0';
	mode = smm_mode_parse(name);
	if (mode < 0)
		return mode;
	shadowmm_set_default_mode(mode);
	return count;
}

static const struct file_operations mode_fops = {
	.owner = THIS_MODULE,
	.open = simple_open,
	.read = mode_read,
	.write = mode_write,
	.llseek = default_llseek,
};

static int inject_get(void *data, u64 *val)
{
	*val = smm_get_race_injection();
	return 0;
}

static int inject_set(void *data, u64 val)
{
	if (val & ~(BIT_ULL(SMM_NR_RACE_WINDOWS) - 1))
		return -EINVAL;
	smm_set_race_injection(val);
	return 0;
}
DEFINE_DEBUGFS_ATTRIBUTE(inject_fops, inject_get, inject_set, "0x%02llx\n");

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
	debugfs_create_file("mode", 0600, shadowmm_dir, NULL, &mode_fops);
	debugfs_create_file_unsafe("inject", 0600, shadowmm_dir, NULL,
				   &inject_fops);
	return 0;
}

void shadowmm_debugfs_exit(void)
{
	debugfs_remove(shadowmm_dir);
}
