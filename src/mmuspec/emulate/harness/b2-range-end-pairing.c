// SPDX-License-Identifier: GPL-2.0
/*
 * b2-range-end-pairing: when a non-blockable invalidation fails in one hlist subscriber,
 * the subscribers whose start() succeeded must still get their end() (c2655835fd8c,
 * "mm/mmu_notifiers: ensure range_end() is paired with range_start()").
 *
 * The OOM reaper (here process_mrelease() on a killed victim) starts a non-blockable
 * invalidation on each VMA it reaps, and when the start fails it calls no end.  The
 * victim's mm has two hlist subscribers of mmuspec_nbfail.ko: /proc/mmuspec_pairs
 * (standing for KVM, whose start raises mmu_invalidate_in_progress), registered last so
 * that it is called first, and /proc/mmuspec_nbfail (standing for i915 or nouveau), which
 * refuses non-blockable starts.  Unless the core ends the subscribers that started, each
 * reaped VMA leaves one range open in mmuspec_pairs: in KVM, a count that never falls,
 * and faults that retry forever.
 *
 * Needs mmuspec_nbfail.ko loaded; root.  TAP output; exit 0 pass, 1 fail, 4 skip.
 * Usage: b2-range-end-pairing [SECONDS to wait for the victim, default 20]
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

#define NBFAIL "/proc/mmuspec_nbfail"
#define PAIRS "/proc/mmuspec_pairs"

static double t0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9 - t0;
}

static void victim(int ready)
{
	int nb = open(NBFAIL, O_RDWR), pairs = open(PAIRS, O_RDWR);
	char *mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* nbfail first: the hlist is walked newest first, so pairs' start runs before the refusal */
	if (nb < 0 || pairs < 0 || mem == MAP_FAILED || write(nb, "register", 8) != 8 ||
	    write(pairs, "register", 8) != 8) {
		if (write(ready, "S", 1) != 1)
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

static int counter(const char *file, const char *format, int *a, int *b)
{
	char buf[96] = "";
	int fd = open(file, O_RDONLY), n = 0;

	if (fd >= 0 && read(fd, buf, sizeof(buf) - 1) > 0)
		n = sscanf(buf, format, a, b);
	if (fd >= 0)
		close(fd);
	return n == 2 ? 0 : -1;
}

int main(int argc, char **argv)
{
	double limit = argc > 1 ? atof(argv[1]) : 20, reaped;
	int ready[2], status, pidfd, ret, err, starts0, ends0, refused0, starts, ends, refused, dummy;
	char what = 0;
	pid_t pid;

	t0 = now();
	ksft_print_header();
	if (access(NBFAIL, R_OK | W_OK) || access(PAIRS, R_OK | W_OK))
		ksft_exit_skip("no %s or %s (insmod mmuspec_nbfail.ko)\n", NBFAIL, PAIRS);
	ksft_set_plan(2);
	if (counter(PAIRS, "starts=%d ends=%d", &starts0, &ends0) ||
	    counter(NBFAIL, "starts=%d refusals=%d", &dummy, &refused0) || pipe(ready))
		ksft_exit_skip("cannot read the modules' counters\n");
	ksft_print_msg("attempt 1 at %.3f s\n", now());
	pid = fork();
	if (pid == 0) {
		close(ready[0]);
		victim(ready[1]);
	}
	close(ready[1]);
	if (read(ready[0], &what, 1) != 1 || what != 'R')
		ksft_exit_skip("the victim could not set up (%c)\n", what ? what : '?');
	usleep(200 * 1000); /* the victim is inside its uninterruptible sleep */
	if (counter(PAIRS, "starts=%d ends=%d", &starts, &ends) == 0)
		ksft_print_msg("before the reap: %d starts, %d ends in mmuspec_pairs\n", starts - starts0,
			       ends - ends0);
	starts0 = starts;
	ends0 = ends;
	pidfd = syscall(__NR_pidfd_open, pid, 0);
	kill(pid, SIGKILL);
	ret = syscall(__NR_process_mrelease, pidfd, 0);
	err = errno;
	reaped = now();
	ksft_print_msg("victim %d killed; process_mrelease() = %d%s%s at %.3f s\n", pid, ret, ret ? " errno " : "",
		       ret ? strerror(err) : "", reaped);
	counter(NBFAIL, "starts=%d refusals=%d", &dummy, &refused);
	counter(PAIRS, "starts=%d ends=%d", &starts, &ends);
	ksft_test_result(refused > refused0 && starts > starts0,
			 "the reaper's non-blockable starts reached both subscribers (%d started in mmuspec_pairs, "
			 "%d refused by mmuspec_nbfail)\n", starts - starts0, refused - refused0);
	while (waitpid(pid, &status, WNOHANG) == 0 && now() - reaped < limit)
		usleep(50 * 1000);
	counter(PAIRS, "starts=%d ends=%d", &starts, &ends);
	ksft_print_msg("by the victim's exit: %d starts, %d ends in mmuspec_pairs\n", starts - starts0, ends - ends0);
	if (starts - starts0 != ends - ends0)
		ksft_print_msg("attempt 1 at %.3f s: process_mrelease() returned with %d ranges started and never ended\n",
			       reaped, (starts - starts0) - (ends - ends0));
	ksft_test_result(starts - starts0 == ends - ends0,
			 "every start that succeeded got its end (%d open)\n", (starts - starts0) - (ends - ends0));
	return ksft_finished();
}
