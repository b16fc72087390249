// SPDX-License-Identifier: GPL-2.0
/*
 * b13-prefault-memslot-delete: deleting a memslot while KVM_PRE_FAULT_MEMORY maps it must
 * not hang either of them (3ccbf6f47098, "KVM: x86/mmu: Return -EAGAIN if userspace
 * deletes/moves memslot during prefault"; the regression test upstream is the deletion
 * thread in pre_fault_memory_test.c).
 *
 * kvm_vcpu_pre_fault_memory() holds kvm->srcu for the whole range and maps it one fault
 * at a time.  A deletion meanwhile installs a copy of the slot flagged KVM_MEMSLOT_INVALID
 * and waits in synchronize_srcu_expedited() for that reader.  Without the fix the next
 * fault sees the invalid slot, returns RET_PF_RETRY, and kvm_tdp_map_page() retries it
 * for as long as no signal arrives: the deletion waits for the prefault, the prefault for
 * the deletion.  With the fix the fault returns -EAGAIN, the ioctl returns what it mapped,
 * the SRCU read side ends and the deletion completes.
 *
 * One attempt: a thread prefaults a large slot of 4 KiB pages (MADV_NOHUGEPAGE, so the
 * loop inside the SRCU read side is long); the main thread watches the slot's memory
 * with mincore() until the prefault has mapped a page and not yet the last one, then a
 * second thread deletes the slot.  Both must return within the bounded wait.  A hang is
 * then broken with a signal to the prefault thread (kvm_tdp_map_page() leaves on a
 * pending signal), which lets the deletion finish: the two were waiting on each other.
 * An attempt in which the prefault finished before the deletion began is not a test of
 * the race and is repeated.  A second test moves the slot instead (KVM_MR_MOVE takes the
 * same path up to the wait), on a new VM: the first left the vCPU's root obsolete.
 *
 * Needs /dev/kvm with two-dimensional paging and KVM_CAP_PRE_FAULT_MEMORY (6.10 on).
 * TAP output; exit 0 pass, 1 fail, 4 skip.
 * Usage: b13-prefault-memslot-delete [SECONDS to wait, default 10] [MiB, default 128]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#if __has_include("kselftest.h")
#include "kselftest.h"
#else
#include "ksft.h"
#endif

#ifndef KVM_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

#define SLOT 0
#define ATTEMPTS 20

struct prefault {
	pthread_t thread;
	int vcpu;
	struct kvm_pre_fault_memory range;
	int ret, err;
	volatile int done;
	double end;
};

struct deletion {
	pthread_t thread;
	int vm;
	struct kvm_userspace_memory_region region; /* memory_size 0: delete; else the moved slot */
	int ret, err;
	volatile int started, done;
	double start, end;
};

static double t0;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9 - t0;
}

static void on_signal(int sig) { (void)sig; }

static void *prefault_thread(void *arg)
{
	struct prefault *p = arg;

	p->ret = ioctl(p->vcpu, KVM_PRE_FAULT_MEMORY, &p->range);
	p->err = p->ret < 0 ? errno : 0;
	p->end = now();
	p->done = 1;
	return NULL;
}

static void *delete_thread(void *arg)
{
	struct deletion *d = arg;

	d->start = now();
	d->started = 1;
	d->ret = ioctl(d->vm, KVM_SET_USER_MEMORY_REGION, &d->region);
	d->err = d->ret < 0 ? errno : 0;
	d->end = now();
	d->done = 1;
	return NULL;
}

static struct kvm_userspace_memory_region slot_at(uint64_t gpa, void *mem, size_t size)
{
	return (struct kvm_userspace_memory_region){ .slot = SLOT, .guest_phys_addr = gpa,
		.memory_size = size, .userspace_addr = (uintptr_t)mem };
}

static int set_slot(int vm, void *mem, size_t size)
{
	struct kvm_userspace_memory_region region = slot_at(0, mem, size);

	return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region);
}

static size_t resident(void *mem, size_t pages, unsigned char *vec)
{
	size_t i, n = 0;

	if (mincore(mem, pages * 4096, vec))
		return 0;
	for (i = 0; i < pages; i++)
		n += vec[i] & 1;
	return n;
}

/* The scheduler state of a thread and its CPU time, from /proc/self/task/TID/stat. */
static void task_state(pid_t tid, char *state, double *cpu)
{
	char path[64], text[1024], *p;
	unsigned long utime = 0, stime = 0;
	FILE *f;

	*state = '?';
	*cpu = -1;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	if (fgets(text, sizeof(text), f) && (p = strrchr(text, ')')) &&
	    sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", state, &utime, &stime) == 3)
		*cpu = (double)(utime + stime) / sysconf(_SC_CLK_TCK);
	fclose(f);
}

static void print_stack(pid_t tid, const char *who)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		ksft_print_msg("%s: %s", who, line);
	fclose(f);
}

static volatile pid_t prefault_tid, delete_tid;

static void *tid_prefault(void *arg)
{
	prefault_tid = gettid();
	return prefault_thread(arg);
}

static void *tid_delete(void *arg)
{
	delete_tid = gettid();
	return delete_thread(arg);
}

/*
 * Not part of the verdict: a prefault of the deleted range afterwards.  The selftest
 * expects ENOENT (no memslot: emulated MMIO).  The deletion also made the vCPU's root
 * obsolete, which KVM_RUN frees and kvm_mmu_reload() did not until upstream's "free
 * obsolete roots" change to it, so a prefault on a kernel without that may retry until
 * a signal: bounded here to 2 s and reported.
 */
static void later_prefault(struct prefault *p, int vcpu)
{
	double deadline;

	memset(p, 0, sizeof(*p));
	p->vcpu = vcpu;
	p->range.size = 4096;
	pthread_create(&p->thread, NULL, prefault_thread, p);
	deadline = now() + 2;
	while (!p->done && now() < deadline)
		usleep(10000);
	if (!p->done)
		pthread_kill(p->thread, SIGUSR1);
	pthread_join(p->thread, NULL);
	ksft_print_msg("a later prefault of the deleted range: %s ret %d (%s)\n",
		       p->err == EINTR ? "no return in 2 s, ended by a signal:" : "returned", p->ret,
		       p->ret < 0 ? strerror(p->err) : "ok");
}

static int attempt;
static double wait_s;
static size_t size;

/* One test: prefault the slot of a new VM and delete (or move) the slot meanwhile. */
static void race(int kvm, int move)
{
	const char *what = move ? "move" : "deletion";
	size_t pages = size / 4096, seen;
	struct prefault p;
	struct deletion d;
	int vm, vcpu, tries;
	unsigned char *vec;
	double cpu, deadline;
	char state;
	void *mem;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	vec = malloc(pages);
	if (vm < 0 || mem == MAP_FAILED || !vec)
		ksft_exit_skip("cannot create the VM or map %zu MiB\n", size >> 20);
	madvise(mem, size, MADV_NOHUGEPAGE); /* one 4 KiB fault per step of the prefault loop */
	if (set_slot(vm, mem, size))
		ksft_exit_skip("cannot add the memslot\n");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		ksft_exit_skip("cannot create a vCPU\n");

	for (tries = 0; tries < ATTEMPTS; tries++) {
		memset(&p, 0, sizeof(p));
		memset(&d, 0, sizeof(d));
		p.vcpu = vcpu;
		p.range.size = size;
		d.vm = vm;
		d.region = slot_at(move ? size : 0, mem, move ? size : 0);
		ksft_print_msg("attempt %d at %.3f s\n", ++attempt, now());
		pthread_create(&p.thread, NULL, tid_prefault, &p);
		/* The prefault maps upwards from gpa 0: it is inside kvm->srcu once the first
		 * page is mapped, and not done while a page is still missing. */
		while (!p.done && !resident(mem, 1, vec))
			usleep(100);
		seen = p.done ? pages : resident(mem, pages, vec);
		if (p.done || seen == pages) {
			pthread_join(p.thread, NULL);
			ksft_print_msg("the prefault finished (ret %d) before the %s: again\n", p.ret, what);
			madvise(mem, size, MADV_DONTNEED);
			continue;
		}
		pthread_create(&d.thread, NULL, tid_delete, &d);
		while (!d.started)
			usleep(100);
		ksft_print_msg("a %s of the slot at %.3f s, %zu of %zu pages mapped\n", what, d.start, seen, pages);
		deadline = now() + wait_s;
		while (!(p.done && d.done) && now() < deadline)
			usleep(10000);
		if (p.done && d.done) {
			pthread_join(p.thread, NULL);
			pthread_join(d.thread, NULL);
			ksft_print_msg("prefault: ret %d (%s), %llu of %zu bytes left, returned at %.3f s\n", p.ret,
				       p.ret < 0 ? strerror(p.err) : "ok", (unsigned long long)p.range.size, size,
				       p.end);
			ksft_print_msg("%s: ret %d, completed %.3f s after it began\n", what, d.ret, d.end - d.start);
			if (p.ret == 0 && p.range.size == 0) {
				ksft_print_msg("the prefault finished before the %s took effect: again\n", what);
				set_slot(vm, mem, size);
				madvise(mem, size, MADV_DONTNEED);
				continue;
			}
			if (!move)
				later_prefault(&p, vcpu);
			ksft_test_result(d.ret == 0,
					 "KVM_PRE_FAULT_MEMORY and a %s of its memslot both return (%s in %.3f s)\n",
					 what, what, d.end - d.start);
			return;
		}
		/* Hung: show who waits where, then break it with a signal to the prefault. */
		ksft_print_msg("attempt %d at %.3f s: the %s began and neither returned in %.0f s\n", attempt,
			       d.start, what, wait_s);
		task_state(prefault_tid, &state, &cpu);
		ksft_print_msg("prefault thread: state %c, %.2f s of CPU (retrying)\n", state, cpu);
		print_stack(prefault_tid, "prefault");
		task_state(delete_tid, &state, &cpu);
		ksft_print_msg("%s thread: state %c, %.2f s of CPU\n", what, state, cpu);
		print_stack(delete_tid, what);
		pthread_kill(p.thread, SIGUSR1);
		pthread_join(p.thread, NULL);
		pthread_join(d.thread, NULL);
		ksft_print_msg("after SIGUSR1 to the prefault: it returned %d (%s, %llu bytes left), the %s "
			       "completed %.3f s later\n", p.ret, p.ret < 0 ? strerror(p.err) : "ok",
			       (unsigned long long)p.range.size, what, d.end - p.end);
		ksft_test_result(0, "KVM_PRE_FAULT_MEMORY and a %s of its memslot both return (hung %.0f s)\n", what,
				 wait_s);
		return;
	}
	ksft_exit_skip("the prefault finished before the %s in %d attempts\n", what, ATTEMPTS);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: the ioctl returns EINTR */
	int kvm;

	t0 = now();
	wait_s = argc > 1 ? atof(argv[1]) : 10;
	size = (size_t)(argc > 2 ? atol(argv[2]) : 128) << 20;
	ksft_print_header();
	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		ksft_exit_skip("no /dev/kvm\n");
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_PRE_FAULT_MEMORY) <= 0)
		ksft_exit_skip("no KVM_CAP_PRE_FAULT_MEMORY (6.10 on)\n");
	ksft_set_plan(2);
	sigaction(SIGUSR1, &sa, NULL);
	race(kvm, 0);
	race(kvm, 1);
	return ksft_finished();
}
