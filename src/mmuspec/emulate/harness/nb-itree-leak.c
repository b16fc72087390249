// SPDX-License-Identifier: GPL-2.0
/*
 * nb-itree-leak: a non-blockable invalidation that an hlist notifier refuses must not
 * leave the interval tree invalidating.
 *
 * __oom_reap_task_mm() (here through process_mrelease()) starts a non-blockable
 * invalidation on each VMA of a dying process.  With an interval notifier on the mm
 * (test_hmm: /dev/hmm_dmirror0 subscribes the whole address space) the tree's part
 * succeeds and makes invalidate_seq odd; then an hlist subscriber that refuses
 * non-blockable starts (mmuspec_nbfail.ko, standing for nouveau's SVM notifier) fails the
 * start, and the reaper, as it must, calls no end.  Unless the start ends the tree's part
 * itself (mm/mmu_notifier: finish non-blocking interval invalidation on error), the
 * sequence never becomes even and the victim's own exit hangs in
 * mmu_interval_notifier_remove() when it closes /dev/hmm_dmirror0.
 *
 * Needs CONFIG_TEST_HMM and mmuspec_nbfail.ko loaded; root.  TAP output; exit 0 pass,
 * 1 fail, 4 skip.  Usage: nb-itree-leak [SECONDS to wait for the victim, default 20]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#if __has_include("kselftest.h")
#include "kselftest.h"
#else
#include "ksft.h"
#endif

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_process_mrelease
#define __NR_process_mrelease 448
#endif

static void victim(int ready)
{
	int hmm = open("/dev/hmm_dmirror0", O_RDWR);
	int nb = open("/proc/mmuspec_nbfail", O_RDWR);
	char *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (hmm < 0 || nb < 0 || mem == MAP_FAILED || write(nb, "register", 8) != 8) {
		if (write(ready, hmm < 0 ? "H" : "N", 1) != 1)
			_exit(3);
		_exit(2);
	}
	memset(mem, 1, 1 << 20);
	if (write(ready, "R", 1) != 1)
		_exit(3);
	/* Killed while asleep here: it keeps its mm until the sleep ends. */
	if (write(nb, "sleep 3000", 10) < 0)
		_exit(3);
	_exit(0);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void show(const char *what, pid_t pid)
{
	char path[64], buf[4096];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
		ksft_print_msg("%s: %s\n", what, line);
}

static int refusals(void)
{
	char buf[64] = "";
	int fd = open("/proc/mmuspec_nbfail", O_RDONLY), starts = 0, refused = -1;

	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		sscanf(buf, "starts=%d refusals=%d", &starts, &refused);
	if (fd >= 0)
		close(fd);
	return refused;
}

int main(int argc, char **argv)
{
	double limit = argc > 1 ? atof(argv[1]) : 20, start;
	int ready[2], status, pidfd, before, ret, err;
	char what = 0;
	pid_t pid;

	ksft_print_header();
	if (access("/dev/hmm_dmirror0", R_OK | W_OK))
		ksft_exit_skip("no /dev/hmm_dmirror0 (CONFIG_TEST_HMM)\n");
	if (access("/proc/mmuspec_nbfail", R_OK | W_OK))
		ksft_exit_skip("no /proc/mmuspec_nbfail (insmod mmuspec_nbfail.ko)\n");
	ksft_set_plan(2);
	before = refusals();
	if (pipe(ready))
		return 3;
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		victim(ready[1]);
	}
	close(ready[1]);
	if (read(ready[0], &what, 1) != 1 || what != 'R')
		ksft_exit_skip("the victim could not set up (%c)\n", what ? what : '?');
	usleep(200 * 1000); /* the victim is inside its uninterruptible sleep */
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	kill(pid, SIGKILL);
	ret = syscall(__NR_process_mrelease, pidfd, 0);
	err = errno;
	ksft_print_msg("victim %d killed; process_mrelease() = %d%s%s\n", pid, ret,
		       ret ? " errno " : "", ret ? strerror(err) : "");
	ksft_test_result(refusals() > before,
			 "the reaper's non-blockable start was refused by the hlist notifier (%d refusals)\n",
			 refusals() - before);
	start = now();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now() - start > limit) {
			show("wchan", pid);
			show("stack", pid);
			ksft_test_result(0, "the reaped victim exits: still there after %.0f s (hung)\n", limit);
			return ksft_finished();
		}
		usleep(50 * 1000);
	}
	ksft_test_result(1, "the reaped victim exits (%.1f s after process_mrelease)\n", now() - start);
	return ksft_finished();
}
