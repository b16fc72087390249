// SPDX-License-Identifier: GPL-2.0
/*
 * b6-mmu-seq-sign: a vCPU must keep making progress after mmu_invalidate_seq passes 2^31
 * (6.1.y "KVM: x86/mmu: Fix an sign-extension bug with mmu_seq that hangs vCPUs", the
 * bug from a955cad84cda; mainline fixed it by accident in ba6e3fe25543).
 *
 * struct kvm_page_fault kept the snapshot of mmu_invalidate_seq in an int.  From 2^31 on,
 * is_page_fault_stale() compares the unsigned long sequence with the sign-extended
 * snapshot (0x80000005 != 0xffffffff80000005), every fault is stale, the vCPU retries
 * forever and the guest stops.
 *
 * The guest (real mode, one slot) writes a data page and reports each write with an OUT.
 * The host zaps that page with MADV_DONTNEED every millisecond, one invalidation each,
 * then stops zapping; the guest must still be writing afterwards.  Reaching 2^31 takes
 * about two billion invalidations; mmuspec's lever patch lets a new VM start its
 * sequence at /sys/module/kvm/parameters/mmuspec_seq_start, set here to 2^31 - 256.
 * Without the lever the test is skipped.  TAP output; exit 0 pass, 1 fail, 4 skip.
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

#define LEVER "/sys/module/kvm/parameters/mmuspec_seq_start"
#define SEQ_START 0x7fffff00UL
#define MEM (64 * 1024)
#define CODE 0x1000
#define DATA 0x2000
#define PORT 0x10

static volatile unsigned long progress; /* guest writes reported */
static volatile double last_write; /* when the last one was reported */
static volatile int stop;
static int vcpu_fd;
static struct kvm_run *run;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_signal(int sig) { (void)sig; }

static void *vcpu_thread(void *arg)
{
	(void)arg;
	while (!stop) {
		if (ioctl(vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO && run->io.port == PORT) {
			progress++;
			last_write = now();
		}
		else if (run->exit_reason != KVM_EXIT_INTR)
			break;
	}
	return NULL;
}

static int write_lever(unsigned long value)
{
	char text[32];
	int fd = open(LEVER, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	snprintf(text, sizeof(text), "%lu", value);
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	/* loop: mov [DATA], al; inc al; out PORT, al; jmp loop */
	static const uint8_t code[] = { 0xa2, DATA & 0xff, DATA >> 8, 0xfe, 0xc0, 0xe6, PORT, 0xeb, 0xf7 };
	double seconds = argc > 1 ? atof(argv[1]) : 3, start, stuck_at = 0;
	unsigned long zaps = 0, before, crossing = 0x80000000UL - SEQ_START;
	struct kvm_userspace_memory_region region;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	int kvm, vm, size;
	pthread_t thread;
	uint8_t *mem;

	ksft_print_header();
	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		ksft_exit_skip("no /dev/kvm\n");
	if (write_lever(SEQ_START))
		ksft_exit_skip("no %s: reaching 2^31 invalidations needs mmuspec's lever patch\n", LEVER);
	ksft_set_plan(1);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	write_lever(0);
	mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memcpy(mem + CODE, code, sizeof(code));
	region = (struct kvm_userspace_memory_region){ .slot = 0, .guest_phys_addr = 0,
		.memory_size = MEM, .userspace_addr = (uintptr_t)mem };
	if (vm < 0 || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		ksft_exit_skip("cannot create the VM or its memslot\n");
	vcpu_fd = ioctl(vm, KVM_CREATE_VCPU, 0);
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd, 0);
	ioctl(vcpu_fd, KVM_GET_SREGS, &sregs);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.ds.selector = 0;
	ioctl(vcpu_fd, KVM_SET_SREGS, &sregs);
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE;
	regs.rflags = 2;
	ioctl(vcpu_fd, KVM_SET_REGS, &regs);
	signal(SIGUSR1, on_signal);
	pthread_create(&thread, NULL, vcpu_thread, NULL);
	ksft_print_msg("mmu_invalidate_seq starts at %#lx; 2^31 after %lu zaps\n", SEQ_START, crossing);
	start = now();
	while (now() - start < seconds) {
		madvise(mem + DATA, 4096, MADV_DONTNEED);
		zaps++;
		usleep(1000);
	}
	ksft_print_msg("%lu zaps in %.2f s (sequence now %#lx), %lu guest writes\n", zaps, now() - start,
		       SEQ_START + zaps, progress);
	before = progress;
	usleep(1000 * 1000); /* no more zaps: a live vCPU keeps writing */
	if (progress == before) {
		stuck_at = last_write - start;
		ksft_print_msg("attempt 1 at %.3f s: the guest's last write; no write since\n", stuck_at);
	}
	stop = 1;
	pthread_kill(thread, SIGUSR1);
	pthread_join(thread, NULL);
	if (zaps <= crossing)
		ksft_exit_skip("only %lu zaps: the sequence did not reach 2^31\n", zaps);
	ksft_test_result(progress > before,
			 "the vCPU makes progress after mmu_invalidate_seq passed 2^31 (%lu writes in the last second%s)\n",
			 progress - before, stuck_at ? ", hung" : "");
	return ksft_finished();
}
