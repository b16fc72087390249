// SPDX-License-Identifier: GPL-2.0
/*
 * mmuspec_nbfail: an hlist mmu_notifier that refuses every non-blockable start, as
 * nouveau_svmm_invalidate_range_start() does ("if (!mmu_notifier_range_blockable(update))
 * return -EAGAIN;"), with no invalidate_range_end, as nouveau registers it.
 *
 * Why: when an mm has both an interval notifier (test_hmm's /dev/hmm_dmirror*) and such an
 * hlist subscriber, a non-blockable invalidation (the OOM reaper, process_mrelease())
 * whose hlist part fails must still end the interval tree's part; if it does not,
 * invalidate_seq stays odd and mmu_interval_notifier_remove() waits forever.
 *
 * /proc/mmuspec_nbfail, per open file:
 *   write "register"  subscribe the writer's mm (mmu_notifier_get); put on close
 *   write "sleep MS"  sleep MS milliseconds, uninterruptibly (a victim stays alive, with
 *                     its mm, while it is killed and reaped)
 *   read              "starts=N refusals=M" over all subscriptions
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/kernel.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/proc_fs.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

static atomic_t starts = ATOMIC_INIT(0);
static atomic_t refusals = ATOMIC_INIT(0);

static int nbfail_start(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	atomic_inc(&starts);
	if (!mmu_notifier_range_blockable(range)) {
		atomic_inc(&refusals);
		return -EAGAIN;
	}
	return 0;
}

static struct mmu_notifier *nbfail_alloc(struct mm_struct *mm)
{
	struct mmu_notifier *sub = kzalloc(sizeof(*sub), GFP_KERNEL);

	return sub ? sub : ERR_PTR(-ENOMEM);
}

static void nbfail_free(struct mmu_notifier *sub)
{
	kfree(sub);
}

static const struct mmu_notifier_ops nbfail_ops = {
	.invalidate_range_start = nbfail_start,
	.alloc_notifier = nbfail_alloc,
	.free_notifier = nbfail_free,
};

static ssize_t nbfail_write(struct file *file, const char __user *ubuf, size_t len, loff_t *pos)
{
	char buf[32];
	unsigned int ms;
	struct mmu_notifier *sub;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sysfs_streq(buf, "register")) {
		if (file->private_data)
			return -EBUSY;
		sub = mmu_notifier_get(&nbfail_ops, current->mm);
		if (IS_ERR(sub))
			return PTR_ERR(sub);
		file->private_data = sub;
		return len;
	}
	if (sscanf(buf, "sleep %u", &ms) == 1) {
		msleep(ms);
		return len;
	}
	return -EINVAL;
}

static ssize_t nbfail_read(struct file *file, char __user *ubuf, size_t len, loff_t *pos)
{
	char buf[64];
	int n = scnprintf(buf, sizeof(buf), "starts=%d refusals=%d\n",
			  atomic_read(&starts), atomic_read(&refusals));

	return simple_read_from_buffer(ubuf, len, pos, buf, n);
}

static int nbfail_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		mmu_notifier_put(file->private_data);
	return 0;
}

static const struct proc_ops nbfail_proc_ops = {
	.proc_read = nbfail_read,
	.proc_write = nbfail_write,
	.proc_release = nbfail_release,
};

static int __init nbfail_init(void)
{
	return proc_create("mmuspec_nbfail", 0600, NULL, &nbfail_proc_ops) ? 0 : -ENOMEM;
}

static void __exit nbfail_exit(void)
{
	remove_proc_entry("mmuspec_nbfail", NULL);
	mmu_notifier_synchronize();
}

module_init(nbfail_init);
module_exit(nbfail_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmuspec: an hlist mmu_notifier that refuses non-blockable starts");
