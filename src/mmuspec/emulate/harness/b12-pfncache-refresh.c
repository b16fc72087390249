// SPDX-License-Identifier: GPL-2.0
/*
 * b12-pfncache-refresh: a gfn=>pfn cache refresh must not keep a page that an
 * invalidation is removing (58cd407ca4c6, "KVM: Fix multiple races in gfn=>pfn cache
 * refresh").
 *
 * kvm_mmu_notifier_invalidate_range_start() invalidates the pfn caches before it takes
 * mmu_lock and raises mmu_invalidate_in_progress.  A refresh that looked the page up
 * before the invalidation and checks for it in between sees no invalidation in progress
 * and an unchanged sequence with the fault path's rule (the rule before the fix), marks
 * the cache valid with the old pfn, and KVM later writes through it into a page the mm
 * has freed.  The fix checks mn_active_invalidate_count, raised before the caches are
 * invalidated, and retries until the invalidation ends.
 *
 * The cache here is kvmclock's (MSR_KVM_SYSTEM_TIME_NEW): KVM_SET_MSRS refreshes it.
 * mmuspec's pfncache lever patch (debug only, inert at 0) puts the two steps at the
 * model's boundaries: the refresh sleeps after hva_to_pfn() (mmuspec_gpc_refresh_ms),
 * the invalidation after it invalidated the caches (mmuspec_gpc_inv_ms).  The harness
 * refreshes in one thread and, while that refresh sleeps, zaps the page with
 * MADV_DONTNEED; then it runs the guest, whose kvmclock update KVM writes through the
 * cache, and checks that the write reached the guest's page.  /proc/kpageflags tells
 * whether the page the cache kept is free.
 * Without the lever the test is skipped.  TAP output; exit 0 pass, 1 fail, 4 skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
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

#define LEVER_REFRESH "/sys/module/kvm/parameters/mmuspec_gpc_refresh_ms"
#define LEVER_INV "/sys/module/kvm/parameters/mmuspec_gpc_inv_ms"
#define REFRESH_MS 1500
#define INV_MS 3000
#define ATTEMPTS 5
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MEM (64 * 1024)
#define CODE 0x1000
#define DATA 0x2000
#define PVCLOCK 0x3000
#define PORT 0x10
#define KPF_BUDDY 10

static double t0;
static int vcpu_fd;
static volatile double msrs_called, msrs_returned;
static int msrs_ret;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9 - t0;
}

static int write_lever(const char *path, unsigned int value)
{
	char text[16];
	int fd = open(path, O_WRONLY), ok;

	if (fd < 0)
		return -1;
	snprintf(text, sizeof(text), "%u", value);
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

static uint64_t pfn_of(void *addr)
{
	uint64_t entry = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &entry, 8, (uintptr_t)addr / 4096 * 8) != 8)
		entry = 0;
	close(fd);
	return entry >> 63 ? entry & ((1ULL << 55) - 1) : 0;
}

static uint64_t kpage(const char *file, uint64_t pfn)
{
	uint64_t value = 0;
	int fd = open(file, O_RDONLY);

	if (fd < 0)
		return ~0ULL;
	if (pread(fd, &value, 8, pfn * 8) != 8)
		value = ~0ULL;
	close(fd);
	return value;
}

/* kvmclock at PVCLOCK: enabling it activates and refreshes the vCPU's pv_time cache. */
static int set_kvmclock(uint64_t value)
{
	struct {
		struct kvm_msrs header;
		struct kvm_msr_entry entry;
	} msrs = { .header.nmsrs = 1, .entry.index = MSR_KVM_SYSTEM_TIME_NEW, .entry.data = value };

	return ioctl(vcpu_fd, KVM_SET_MSRS, &msrs);
}

static void *refresh_thread(void *arg)
{
	(void)arg;
	msrs_called = now();
	msrs_ret = set_kvmclock(PVCLOCK | 1);
	msrs_returned = now();
	return NULL;
}

int main(void)
{
	/* loop: mov [DATA], al; inc al; out PORT, al; jmp loop */
	static const uint8_t code[] = { 0xa2, DATA & 0xff, DATA >> 8, 0xfe, 0xc0, 0xe6, PORT, 0xeb, 0xf7 };
	struct kvm_userspace_memory_region region;
	uint64_t old_pfn, new_pfn, flags, count;
	double zap_start, zap_end, until;
	int kvm, vm, size, exits = 0, attempt;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_run *run;
	uint32_t version;
	pthread_t thread;
	uint8_t *mem;

	t0 = now();
	ksft_print_header();
	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		ksft_exit_skip("no /dev/kvm\n");
	if (write_lever(LEVER_REFRESH, 0) || write_lever(LEVER_INV, 0))
		ksft_exit_skip("no %s: placing the refresh inside the invalidation needs mmuspec's pfncache lever patch\n",
			       LEVER_REFRESH);
	ksft_set_plan(1);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
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

	for (attempt = 1; attempt <= ATTEMPTS; attempt++) {
		ksft_print_msg("attempt %d at %.3f s\n", attempt, now());
		memset(mem + PVCLOCK, 0, 4096); /* populated: the refresh finds the page mapped */
		old_pfn = pfn_of(mem + PVCLOCK);
		msrs_called = 0;
		write_lever(LEVER_REFRESH, REFRESH_MS);
		pthread_create(&thread, NULL, refresh_thread, NULL);
		while (!msrs_called)
			usleep(1000);
		/* Only now: the new thread's stack guard (mprotect) is an invalidation too. */
		write_lever(LEVER_INV, INV_MS);
		usleep(REFRESH_MS * 1000 / 3); /* the refresh looked the page up and sleeps */
		zap_start = now();
		madvise(mem + PVCLOCK, 4096, MADV_DONTNEED);
		zap_end = now();
		pthread_join(thread, NULL);
		write_lever(LEVER_REFRESH, 0);
		write_lever(LEVER_INV, 0);
		ksft_print_msg("the refresh (KVM_SET_MSRS, ret %d) ran from %.3f to %.3f s, the zap from %.3f to %.3f s\n",
			       msrs_ret, msrs_called, msrs_returned, zap_start, zap_end);
		if (msrs_returned > zap_start)
			break;
		ksft_print_msg("the refresh returned before the zap began: again\n");
		set_kvmclock(0); /* deactivates the cache */
	}
	if (attempt > ATTEMPTS)
		ksft_exit_skip("the refresh never overlapped the zap in %d attempts\n", ATTEMPTS);
	ksft_print_msg("the refresh marked the cache valid %s\n",
		       msrs_returned < zap_end ? "inside the invalidation" : "after the invalidation");

	until = now() + 0.5; /* the guest's first entries update its kvmclock through the cache */
	while (now() < until && exits < 1000) {
		if (ioctl(vcpu_fd, KVM_RUN, 0) < 0 && errno != EINTR)
			break;
		if (run->exit_reason != KVM_EXIT_IO)
			break;
		exits++;
	}
	version = *(volatile uint32_t *)(mem + PVCLOCK);
	new_pfn = pfn_of(mem + PVCLOCK);
	flags = kpage("/proc/kpageflags", old_pfn);
	count = kpage("/proc/kpagecount", old_pfn);
	ksft_print_msg("%d guest exits; kvmclock version in the guest's page (pfn %#llx): %u\n", exits,
		       (unsigned long long)new_pfn, version);
	if (flags != ~0ULL)
		ksft_print_msg("the zapped page (pfn %#llx) now: %s, mapped %llu times\n", (unsigned long long)old_pfn,
			       flags >> KPF_BUDDY & 1 ? "free (buddy)" : "allocated again", (unsigned long long)count);
	if (!version)
		ksft_print_msg("attempt %d at %.3f s: the refresh marked the cache valid with the zapped page\n",
			       attempt, msrs_returned);
	ksft_test_result(version != 0,
			 "KVM's kvmclock update reaches the guest's page after a refresh raced with its zap%s\n",
			 version ? "" : " (it went to the zapped page)");
	return ksft_finished();
}
