// SPDX-License-Identifier: GPL-2.0
/*
 * mmuspec_nbfail: two test hlist mmu_notifiers.
 *
 * /proc/mmuspec_nbfail refuses every non-blockable start, as
 * nouveau_svmm_invalidate_range_start() does ("if (!mmu_notifier_range_blockable(update))
 * return -EAGAIN;"), with no invalidate_range_end, as nouveau registers it.  Why: when an
 * mm has both an interval notifier (test_hmm's /dev/hmm_dmirror*) and such an hlist
 * subscriber, a non-blockable invalidation (the OOM reaper, process_mrelease()) whose
 * hlist part fails must still end the interval tree's part; if it does not,
 * invalidate_seq stays odd and mmu_interval_notifier_remove() waits forever.
 *
 * /proc/mmuspec_pairs always succeeds its start and counts starts and ends, standing for
 * KVM (whose start raises mmu_invalidate_in_progress and whose end lowers it).  Why: when
 * the non-blockable start fails in another hlist subscriber, the core must end the ones
 * that started (c2655835fd8c, "mm/mmu_notifiers: ensure range_end() is paired with
 * range_start()"); without it KVM's count stays raised and every later fault retries.
 *
 * Per open file of either:
 *   write "register"  subscribe the writer's mm (mmu_notifier_get); put on close
 *   write "sleep MS"  sleep MS milliseconds, uninterruptibly (a victim stays alive, with
 *                     its mm, while it is killed and reaped)
 *   read              nbfail: "starts=N refusals=M"; pairs: "starts=N ends=M open=K",
 *                     over all subscriptions
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
static atomic_t pair_starts = ATOMIC_INIT(0);
static atomic_t pair_ends = ATOMIC_INIT(0);

static int nbfail_start(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	atomic_inc(&starts);
	if (!mmu_notifier_range_blockable(range)) {
		atomic_inc(&refusals);
		return -EAGAIN;
	}
	return 0;
}

static int pairs_start(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	atomic_inc(&pair_starts);
	return 0;
}

static void pairs_end(struct mmu_notifier *sub, const struct mmu_notifier_range *range)
{
	atomic_inc(&pair_ends);
}

static struct mmu_notifier *test_alloc(struct mm_struct *mm)
{
	struct mmu_notifier *sub = kzalloc(sizeof(*sub), GFP_KERNEL);

	return sub ? sub : ERR_PTR(-ENOMEM);
}

static void test_free(struct mmu_notifier *sub)
{
	kfree(sub);
}

static const struct mmu_notifier_ops nbfail_ops = {
	.invalidate_range_start = nbfail_start,
	.alloc_notifier = test_alloc,
	.free_notifier = test_free,
};

static const struct mmu_notifier_ops pairs_ops = {
	.invalidate_range_start = pairs_start,
	.invalidate_range_end = pairs_end,
	.alloc_notifier = test_alloc,
	.free_notifier = test_free,
};

static ssize_t test_write(struct file *file, const char __user *ubuf, size_t len, loff_t *pos)
{
	const struct mmu_notifier_ops *ops = pde_data(file_inode(file));
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
		sub = mmu_notifier_get(ops, current->mm);
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

static ssize_t test_read(struct file *file, char __user *ubuf, size_t len, loff_t *pos)
{
	char buf[80];
	int n, s = atomic_read(&pair_starts), e = atomic_read(&pair_ends);

	if (pde_data(file_inode(file)) == &pairs_ops)
		n = scnprintf(buf, sizeof(buf), "starts=%d ends=%d open=%d\n", s, e, s - e);
	else
		n = scnprintf(buf, sizeof(buf), "starts=%d refusals=%d\n",
			      atomic_read(&starts), atomic_read(&refusals));
	return simple_read_from_buffer(ubuf, len, pos, buf, n);
}

static int test_release(struct inode *inode, struct file *file)
{
	if (file->private_data)
		mmu_notifier_put(file->private_data);
	return 0;
}

static const struct proc_ops test_proc_ops = {
	.proc_read = test_read,
	.proc_write = test_write,
	.proc_release = test_release,
};

static int __init nbfail_init(void)
{
	if (!proc_create_data("mmuspec_nbfail", 0600, NULL, &test_proc_ops, (void *)&nbfail_ops))
		return -ENOMEM;
	if (!proc_create_data("mmuspec_pairs", 0600, NULL, &test_proc_ops, (void *)&pairs_ops)) {
		remove_proc_entry("mmuspec_nbfail", NULL);
		return -ENOMEM;
	}
	return 0;
}

static void __exit nbfail_exit(void)
{
	remove_proc_entry("mmuspec_pairs", NULL);
	remove_proc_entry("mmuspec_nbfail", NULL);
	mmu_notifier_synchronize();
}

module_init(nbfail_init);
module_exit(nbfail_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("mmuspec: test hlist mmu_notifiers (refusing non-blockable starts; counting pairs)");
