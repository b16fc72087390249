// SPDX-License-Identifier: GPL-2.0
/*
 * mmuspec_pairs: an hlist mmu_notifier whose start always succeeds and which counts the
 * ranges it was told started and not yet ended, standing for KVM (whose start raises
 * mmu_invalidate_in_progress and whose end lowers it).
 *
 * Why: when a non-blockable invalidation (the OOM reaper, process_mrelease()) fails in
 * another hlist subscriber (mmuspec_nbfail.ko, standing for i915 or nouveau), the core
 * must call end() for the subscribers whose start() succeeded (c2655835fd8c,
 * "mm/mmu_notifiers: ensure range_end() is paired with range_start()"); without it, KVM's
 * count stays raised and every later fault retries.  Here the count is readable.
 *
 * /proc/mmuspec_pairs, per open file:
 *   write "register"  subscribe the writer's mm (mmu_notifier_get); put on close
 *   read              "starts=N ends=M open=K" over all subscriptions (K = N - M)
 */
#include <linux/atomic.h>
#include <linux/kernel.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

static atomic_t starts = ATOMIC_INIT(0);
static atomic_t ends = ATOMIC_INIT(0);

static int pairs_start(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	atomic_inc(&starts);
	return 0;
}

static void pairs_end(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	atomic_inc(&ends);
}

static struct mmu_notifier *pairs_alloc(struct mm_struct *mm)
{
	struct mmu_notifier *sub = kzalloc(sizeof(*sub), GFP_KERNEL);

	return sub ? sub : ERR_PTR(-ENOMEM);
}

static void pairs_free(struct mmu_notifier *sub)
{
	kfree(sub);
}

static const struct mmu_notifier_ops pairs_ops = {
	.invalidate_range_start = pairs_start,
	.invalidate_range_end = pairs_end,
	.alloc_notifier = pairs_alloc,
	.free_notifier = pairs_free,
};

static ssize_t pairs_write(struct file *file, const char __user *ubuf, size_t len, loff_t *pos)
{
	char buf[16];
	struct mmu_notifier *sub;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (!sysfs_streq(buf, "register"))
		return -EINVAL;
	if (file->private_data)
		return -EBUSY;
	sub = mmu_notifier_get(&pairs_ops, current->mm);
	if (IS_ERR(sub))
		return PTR_ERR(sub);
	file->private_data = sub;
	return len;
}

static ssize_t pairs_read(struct file *file, char __user *ubuf, size_t len, loff_t *pos)
{
	char buf[80];
	int s = atomic_read(&starts), e = atomic_read(&ends);
	int n = scnprintf(buf, sizeof(buf), "starts=%d ends=%d open=%d\n", s, e, s - e);

	return simple_read_from_buffer(ubuf, len, pos, buf, n);
}

static int pairs_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		mmu_notifier_put(file->private_data);
	return 0;
}

static const struct proc_ops pairs_proc_ops = {
	.proc_read = pairs_read,
	.proc_write = pairs_write,
	.proc_release = pairs_release,
};

static int __init pairs_init(void)
{
	return proc_create("mmuspec_pairs", 0600, NULL, &pairs_proc_ops) ? 0 : -ENOMEM;
}

static void __exit pairs_exit(void)
{
	remove_proc_entry("mmuspec_pairs", NULL);
	mmu_notifier_synchronize();
}

module_init(pairs_init);
module_exit(pairs_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmuspec: an hlist mmu_notifier that counts starts without their end");
