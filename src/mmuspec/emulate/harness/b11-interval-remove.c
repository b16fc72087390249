// SPDX-License-Identifier: GPL-2.0
/*
 * b11-interval-remove: mmu_interval_notifier_remove() during an invalidation must not
 * return before that invalidation has taken the subscription off its deferred list
 * (319561669a59 "mm/mmu_notifier.c: fix race in mmu_interval_notifier_remove()").
 *
 * One thread munmap()s a page of an mm that test_hmm subscribes (/dev/hmm_dmirror0); the
 * other closes the dmirror file while that invalidation is in progress, so the remove is
 * deferred and waits for invalidate_seq to move.  mn_itree_inv_end() moves it and then,
 * still under subscriptions->lock, unlinks the deferred subscription.  Before the fix the
 * waiter read the sequence without the lock: it could return between the two, test_hmm
 * then kfree()d the dmirror, and the unlink wrote into freed memory.
 *
 * The window is a few instructions wide.  On a kernel with mmuspec's lever patch
 * (/sys/module/mmu_notifier/parameters/mmuspec_*_ms) the test holds each thread at the
 * model's step boundaries so that one attempt decides; boot with slub_debug=P so that the
 * freed dmirror is poisoned and the unlink faults.  Without the levers it retries the
 * natural race ATTEMPTS times (default 2000).  TAP output; exit 0 pass, 1 fail, 4 skip.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if __has_include("kselftest.h")
#include "kselftest.h"
#else
#include "ksft.h"
#endif

#define LEVERS "/sys/module/mmu_notifier/parameters/"
static const char *const levers[] = { "mmuspec_hold_ms", "mmuspec_walk_ms", "mmuspec_wait_ms" };
static const char *const paced[] = { "200", "300", "250" };

static int set_lever(const char *name, const char *value)
{
	char path[128];
	int fd, ok;

	snprintf(path, sizeof(path), LEVERS "%s", name);
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -1;
	ok = write(fd, value, strlen(value)) == (ssize_t)strlen(value);
	close(fd);
	return ok ? 0 : -1;
}

static void set_levers(int on)
{
	for (unsigned int i = 0; i < 3; i++)
		set_lever(levers[i], on ? paced[i] : "0");
}

static void *unmapper(void *page)
{
	munmap(page, 4096);
	return NULL;
}

static int attempt(unsigned int delay_us)
{
	int fd = open("/dev/hmm_dmirror0", O_RDWR);
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_t thread;

	if (fd < 0 || page == MAP_FAILED)
		return -1;
	page[0] = 1;
	pthread_create(&thread, NULL, unmapper, page);
	usleep(delay_us);
	close(fd); /* dmirror_fops_release(): remove, then kfree(dmirror) */
	pthread_join(thread, NULL);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned int attempts = argc > 1 ? atoi(argv[1]) : 2000, i;
	int paced_run = set_lever(levers[0], "0") == 0;
	double start = now();

	ksft_print_header();
	if (access("/dev/hmm_dmirror0", R_OK | W_OK))
		ksft_exit_skip("no /dev/hmm_dmirror0 (CONFIG_TEST_HMM)\n");
	ksft_set_plan(1);
	if (paced_run) {
		attempts = 1;
		set_levers(1);
		ksft_print_msg("levers on: hold 200 ms, walk 300 ms, wait 250 ms; close 50 ms after munmap\n");
	}
	for (i = 0; i < attempts; i++) {
		ksft_print_msg("attempt %u at %.3f s\n", i + 1, now() - start);
		if (attempt(paced_run ? 50000 : i % 50) < 0) {
			set_levers(0);
			ksft_exit_skip("cannot open /dev/hmm_dmirror0 or map a page\n");
		}
	}
	if (paced_run)
		set_levers(0);
	/* Reaching this line is the pass: on a kernel without the fix the unlink faults first. */
	ksft_test_result(1, "close() during an interval invalidation: %u attempts, no use of the freed subscription (%.1f s)\n",
			 attempts, now() - start);
	return ksft_finished();
}
