/*
 * mmuspec-vmm: a minimal KVM VMM that runs one lab workload on the running kernel.
 *
 * Why a C program: the same static binary runs on this host (built and cached by
 * src/mmuspec/lab/build.py) and inside an initramfs of an emulated kernel, where no
 * Python exists.  It does only what needs no policy: create the VM and its vCPU threads,
 * run the built-in guest, do the host-side actions of the workload, and print what
 * happened as lines.  KSM and tracefs settings are NOT touched here; the caller sets
 * them (src/mmuspec/lab/host.py, or a shell script as shown below).
 *
 * Build:  cc -O2 -static -pthread -o mmuspec-vmm vmm.c
 *
 * Usage:  mmuspec-vmm WORKLOAD [options]
 *   WORKLOAD   ksm-merge  identical guest pages, MADV_MERGEABLE, the guest only reads them
 *              cow-break  as ksm-merge, then after --write-after seconds the guest writes them
 *              zap        the host MADV_DONTNEEDs guest pages and writes new values through
 *                         the hva while the guest reads and writes them
 *              aging      the host MADV_COLDs and MADV_PAGEOUTs guest RAM while the guest
 *                         reads and writes it
 *              memslot    the host deletes and re-creates, or moves away and back, the data
 *                         memslot while the guest reads and writes it (accesses while it is
 *                         gone are MMIO exits that this VMM completes from the hva)
 *   --pages N          guest data pages (default 64, at most 65536)
 *   --vcpus N          vCPU threads (default 1, at most 16); vCPU i owns pages p % N == i
 *   --seconds S        run time (default 4; the whole run is killed at S + 30 s)
 *   --period-us U      time between host actions (default 2000)
 *   --write-after S    cow-break: seconds of reads before writes start (default S/2)
 *   --write-every N    about one access in N is a write (a pseudo-random draw), when writes are on (default 4)
 *   --slow-cycles C    an access slower than C TSC cycles is logged as slow (default 20000)
 *   --seed N           seed of the host actions (default 1)
 *   --hva ADDR         where guest data is mapped (default 0x5a5a00000000, chosen so that
 *                      a trace's hvas name this VM)
 *   --marker PATH      write start/end markers with the TSC to PATH (trace_marker)
 *   --no-pfns          do not print the data pages' pfns (read from /proc/self/pagemap)
 *
 * Output: one record per line, "KIND key=value ...", values without spaces:
 *   vmm version=1 pid= workload= pages= vcpus= seconds= hva= data_gpa= page_size=4096 tsc_offset=0|unset
 *   clock at=start|end tsc= mono_ns=          host TSC and CLOCK_MONOTONIC read together
 *   vcpu id= tid=                             the vCPU thread's id (its pid in a trace)
 *   pfn at=start|end gfn= pfn=                data page -> host pfn (0: not present)
 *   stat at=before|after scope=vm|vcpuN name= value=   KVM_GET_STATS_FD (histograms summed)
 *   act tsc= kind= gfn= npages= value=        a host action (dontneed, dontneed_write,
 *                                            write, cold, pageout, slot_delete, slot_create,
 *                                            slot_move, slot_back, mergeable, phase_write)
 *   mismatch vcpu= gfn= tsc= got= expected=   a guest read that did not return the last
 *                                            value written (data_integrity failed)
 *   slow vcpu= gfn= tsc= cycles=              a guest access slower than --slow-cycles
 *   guest vcpu= iterations= reads= writes= mismatches= unstable= slow= slow_cycles=
 *         max_cycles= ring_dropped=           the guest's own counters
 *   exits vcpu= io= mmio= hlt= other=          exits this VMM saw
 *   done status=ok|error reason=
 * Exit status: 0 run completed (mismatches are data, not an error), 2 the host cannot run
 * it (no /dev/kvm, an ioctl refused), 3 internal error or timeout.
 *
 * Running it from a shell (what src/mmuspec/lab/host.py does, with restore on every exit):
 *   T=/sys/kernel/tracing; K=/sys/kernel/mm/ksm
 *   mountpoint -q $T || mount -t tracefs nodev $T
 *   save run pages_to_scan sleep_millisecs, tracing_on, buffer_size_kb, set_event
 *   echo 0 > $T/tracing_on; echo > $T/trace; echo 8192 > $T/buffer_size_kb
 *   echo 'ksm:* kvm:kvm_unmap_hva_range kvm:kvm_age_hva kvm:kvm_test_age_hva' > $T/set_event
 *   echo 1000 > $K/pages_to_scan; echo 10 > $K/sleep_millisecs; echo 1 > $K/run
 *   echo 1 > $T/tracing_on
 *   mmuspec-vmm ksm-merge --pages 64 --seconds 4 --marker $T/trace_marker > run.txt
 *   echo 0 > $T/tracing_on; cat $T/trace > trace.txt
 *   echo 2 > $K/run   (unmerge), then write the saved values back
 *
 * The guest: 64-bit long mode at CPL 3 (IOPL 3 for its two port writes), the first GiB
 * identity-mapped with 2 MiB user pages, no IDT, no interrupts.  CPL 3 because on a PVM
 * host (kvm_pvm: software virtualization with shadow paging, no VMX/SVM) KVM emulates
 * every instruction of a guest in supervisor mode or outside long mode, so its accesses
 * would never go through an SPTE; user-mode long-mode code runs natively there, and runs
 * the same on VMX and SVM.  Port 0x10: a mismatch to report; port 0x11: stopped.  Guest
 * physical layout: code at 0, control words at CTRL_GPA, page tables at PML4, per-vCPU counters at STATS, per-page
 * arrays GEN/HOSTVAL/KNOWN/KGEN, per-vCPU rings of slow accesses at RING, data at DATA.
 * Integrity: the host brackets each action on page p with GEN[p] odd (started) and even
 * (done), and stores the value the action leaves in HOSTVAL[p] before GEN[p] turns even.
 * A guest read with GEN[p] equal and even before and after it must return KNOWN[p] (the
 * guest's last write) if no host action finished since that write, else HOSTVAL[p].
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PAGE 4096UL
#define CTRL_GPA 0x2000UL
#define PML4 0x4000UL
#define PDPT 0x5000UL
#define PD 0x6000UL
#define STATS 0x3000UL
#define STATS_SIZE 128UL
#define GEN 0x10000UL
#define HOSTVAL 0x50000UL
#define KNOWN 0x90000UL
#define KGEN 0xd0000UL
#define RING 0x200000UL
#define RING_BYTES 0x40000UL /* 16384 entries of 16 bytes */
#define RING_ENTRIES (RING_BYTES / 16)
#define DATA 0x1000000UL
#define CTRL_SLOT_SIZE DATA
#define MOVED_GPA 0x80000000UL
#define MAX_PAGES 65536
#define MAX_VCPUS 16
#define STR(x) #x
#define XSTR(x) STR(x)

/* Control words (CTRL + offset). */
enum { C_STOP = 0, C_MODE = 4, C_NPAGES = 8, C_NVCPUS = 12, C_SLOW = 16, C_WEVERY = 20, C_RMASK = 24 };
/* Per-vCPU counters (STATS + id * STATS_SIZE + offset). */
enum { S_ITER = 0, S_READS = 4, S_WRITES = 8, S_MISMATCH = 12, S_UNSTABLE = 16, S_SLOW = 20,
       S_SLOWCYC_LO = 24, S_SLOWCYC_HI = 28, S_MAXCYC = 32, S_RHEAD = 36, S_EXPECT = 40, S_GOT = 44,
       S_CYC = 48, S_MMGFN = 52, S_COUNT = 56, S_T0_LO = 64, S_T0_HI = 68 };

/* The guest program, assembled with the VMM and copied to guest physical address 0.
 * Entry: %eax = vCPU id. */
__asm__(
    ".pushsection .rodata\n"
    ".globl guest_start\n.globl guest_end\n"
    "guest_start:\n"
    ".code64\n"
    "  mov %eax, %edi\n"
    "  shl $7, %eax\n"
    "  lea " XSTR(STATS) "(%rax), %rbp\n"
    "1:\n" /* iteration */
    "  cmpl $0, " XSTR(CTRL_GPA) "\n"
    "  jne 9f\n"
    "  mov %edi, %esi\n"
    "2:\n" /* page loop */
    "  cmp " XSTR(CTRL_GPA) "+8, %esi\n"
    "  jae 8f\n"
    "  testl $1, " XSTR(CTRL_GPA) "+4\n"
    "  jz 4f\n"
    "  imul $1103515245, 56(%rbp), %eax\n" /* a linear congruential draw: which accesses write */
    "  add $12345, %eax\n"
    "  mov %eax, 56(%rbp)\n"
    "  shr $16, %eax\n"
    "  xor %edx, %edx\n"
    "  divl " XSTR(CTRL_GPA) "+20\n"
    "  test %edx, %edx\n"
    "  jnz 4f\n"
    "3:\n" /* write */
    "  cmpl $0, " XSTR(CTRL_GPA) "\n"
    "  jne 9f\n"
    "  mov " XSTR(GEN) "(,%rsi,4), %ecx\n"
    "  test $1, %ecx\n"
    "  jnz 31f\n"
    "  mov 56(%rbp), %ebx\n"
    "  and $0x00ffffff, %ebx\n"
    "  lea 1(%rdi), %rax\n"
    "  shl $24, %eax\n"
    "  or %eax, %ebx\n"
    "  lfence\n"
    "  rdtsc\n"
    "  mov %eax, 64(%rbp)\n"
    "  mov %edx, 68(%rbp)\n"
    "  mov %esi, %eax\n"
    "  shl $12, %eax\n"
    "  mov %ebx, " XSTR(DATA) "(%rax)\n"
    "  mfence\n"
    "  rdtsc\n"
    "  sub 64(%rbp), %eax\n"
    "  mov %eax, 48(%rbp)\n"
    "  cmp " XSTR(GEN) "(,%rsi,4), %ecx\n"
    "  jne 31f\n"
    "  mov %ebx, " XSTR(KNOWN) "(,%rsi,4)\n"
    "  mov %ecx, " XSTR(KGEN) "(,%rsi,4)\n"
    "  incl 8(%rbp)\n"
    "  jmp 5f\n"
    "31:\n" /* a host action overlapped the write: write again */
    "  incl 16(%rbp)\n"
    "  pause\n"
    "  jmp 3b\n"
    "4:\n" /* read */
    "  mov " XSTR(GEN) "(,%rsi,4), %ecx\n"
    "  test $1, %ecx\n"
    "  jnz 41f\n"
    "  mov " XSTR(HOSTVAL) "(,%rsi,4), %eax\n"
    "  cmp " XSTR(KGEN) "(,%rsi,4), %ecx\n"
    "  jne 42f\n"
    "  mov " XSTR(KNOWN) "(,%rsi,4), %eax\n"
    "42:\n"
    "  mov %eax, 40(%rbp)\n"
    "  lfence\n"
    "  rdtsc\n"
    "  mov %eax, 64(%rbp)\n"
    "  mov %edx, 68(%rbp)\n"
    "  mov %esi, %eax\n"
    "  shl $12, %eax\n"
    "  mov " XSTR(DATA) "(%rax), %eax\n"
    "  mov %eax, 44(%rbp)\n"
    "  lfence\n"
    "  rdtsc\n"
    "  sub 64(%rbp), %eax\n"
    "  mov %eax, 48(%rbp)\n"
    "  cmp " XSTR(GEN) "(,%rsi,4), %ecx\n"
    "  jne 41f\n"
    "  incl 4(%rbp)\n"
    "  mov 44(%rbp), %eax\n"
    "  cmp 40(%rbp), %eax\n"
    "  je 5f\n"
    "  incl 12(%rbp)\n"
    "  mov %esi, 52(%rbp)\n"
    "  outb %al, $0x10\n"
    "  jmp 5f\n"
    "41:\n" /* a host action overlapped the read: not checked */
    "  incl 16(%rbp)\n"
    "  jmp 7f\n"
    "5:\n" /* timing of the access in 48(%rbp), its start in 64/68 */
    "  mov 48(%rbp), %eax\n"
    "  cmp 32(%rbp), %eax\n"
    "  jbe 6f\n"
    "  mov %eax, 32(%rbp)\n"
    "6:\n"
    "  cmp " XSTR(CTRL_GPA) "+16, %eax\n"
    "  jb 7f\n"
    "  incl 20(%rbp)\n"
    "  add %eax, 24(%rbp)\n"
    "  adcl $0, 28(%rbp)\n"
    "  mov 36(%rbp), %ecx\n"
    "  and " XSTR(CTRL_GPA) "+24, %ecx\n"
    "  shl $4, %ecx\n"
    "  mov %edi, %edx\n"
    "  shl $18, %edx\n"
    "  add %rdx, %rcx\n"
    "  mov %esi, " XSTR(RING) "(%rcx)\n"
    "  mov 64(%rbp), %edx\n"
    "  mov %edx, " XSTR(RING) "+4(%rcx)\n"
    "  mov 68(%rbp), %edx\n"
    "  mov %edx, " XSTR(RING) "+8(%rcx)\n"
    "  mov %eax, " XSTR(RING) "+12(%rcx)\n"
    "  incl 36(%rbp)\n"
    "7:\n"
    "  add " XSTR(CTRL_GPA) "+12, %esi\n"
    "  jmp 2b\n"
    "8:\n"
    "  incl 0(%rbp)\n"
    "  jmp 1b\n"
    "9:\n"
    "  outb %al, $0x11\n"
    "  jmp 9b\n"
    "guest_end:\n"
    ".popsection\n");
extern const unsigned char guest_start[], guest_end[];

struct opts {
    const char *workload;
    unsigned pages, vcpus, write_every, seed;
    double seconds, write_after;
    unsigned long period_us, slow_cycles, hva;
    const char *marker;
    int pfns;
};

static struct opts O;
static int kvm_fd = -1, vm_fd = -1;
static uint8_t *ctrl_mem, *data_mem;
static int vcpu_fds[MAX_VCPUS];
static struct kvm_run *runs[MAX_VCPUS];
static unsigned long exit_io[MAX_VCPUS], exit_mmio[MAX_VCPUS], exit_hlt[MAX_VCPUS], exit_other[MAX_VCPUS];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile int vcpu_failed;
static int tsc_offset_set = 1;

static void out(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&out_lock);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    pthread_mutex_unlock(&out_lock);
}

static void die(int code, const char *reason) {
    pthread_mutex_lock(&out_lock);
    printf("done status=error reason=%s errno=%d\n", reason, errno);
    fflush(stdout);
    _exit(code);
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "done status=error reason=timeout errno=0\n";
    if (write(1, msg, sizeof msg - 1) < 0) { /* nothing more to do */ }
    _exit(3);
}

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static volatile uint32_t *ctrl32(unsigned long gpa) { return (volatile uint32_t *)(ctrl_mem + gpa); }

static void marker(const char *what) {
    uint64_t tsc = __rdtsc(), ns = mono_ns();
    out("clock at=%s tsc=%llu mono_ns=%llu", what, (unsigned long long)tsc, (unsigned long long)ns);
    if (!O.marker)
        return;
    int fd = open(O.marker, O_WRONLY);
    if (fd < 0)
        return;
    char buf[128];
    int n = snprintf(buf, sizeof buf, "mmuspec-lab %s tsc=%llu", what, (unsigned long long)tsc);
    if (write(fd, buf, (size_t)n) < 0) { /* the trace then lacks the marker; the caller sees it */ }
    close(fd);
}

static void set_slot(unsigned slot, uint64_t gpa, uint64_t size, void *hva) {
    struct kvm_userspace_memory_region r = {
        .slot = slot, .guest_phys_addr = gpa, .memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)hva};
    if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
        die(2, "KVM_SET_USER_MEMORY_REGION");
}

static void print_pfns(const char *at) {
    if (!O.pfns)
        return;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    if (fd < 0)
        return;
    for (unsigned p = 0; p < O.pages; p++) {
        uint64_t e = 0;
        off_t off = (off_t)((O.hva + p * PAGE) / PAGE * 8);
        if (pread(fd, &e, 8, off) != 8)
            break;
        uint64_t pfn = (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
        out("pfn at=%s gfn=%u pfn=%llu", at, (unsigned)(DATA / PAGE + p), (unsigned long long)pfn);
    }
    close(fd);
}

/* KVM's binary statistics of one VM or vCPU fd: scalars as they are, histograms summed. */
static void print_stats(int fd, const char *at, const char *scope) {
    int sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
    if (sfd < 0) {
        out("stat at=%s scope=%s name=unavailable value=0", at, scope);
        return;
    }
    struct kvm_stats_header h;
    if (pread(sfd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
        close(sfd);
        return;
    }
    size_t dsize = sizeof(struct kvm_stats_desc) + h.name_size;
    char *descs = calloc(h.num_desc, dsize);
    if (!descs || pread(sfd, descs, h.num_desc * dsize, h.desc_offset) != (ssize_t)(h.num_desc * dsize)) {
        free(descs);
        close(sfd);
        return;
    }
    for (unsigned i = 0; i < h.num_desc; i++) {
        struct kvm_stats_desc *d = (struct kvm_stats_desc *)(descs + i * dsize);
        uint64_t sum = 0, v;
        for (unsigned j = 0; j < d->size; j++)
            if (pread(sfd, &v, 8, h.data_offset + d->offset + j * 8) == 8)
                sum += v;
        out("stat at=%s scope=%s name=%s value=%llu", at, scope, d->name, (unsigned long long)sum);
    }
    free(descs);
    close(sfd);
}

static void setup_vcpu(unsigned id) {
    int fd = ioctl(vm_fd, KVM_CREATE_VCPU, id);
    if (fd < 0)
        die(2, "KVM_CREATE_VCPU");
    vcpu_fds[id] = fd;
    int size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    runs[id] = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (runs[id] == MAP_FAILED)
        die(2, "mmap kvm_run");
#ifdef KVM_VCPU_TSC_CTRL
    uint64_t zero = 0;
    struct kvm_device_attr attr = {.group = KVM_VCPU_TSC_CTRL, .attr = KVM_VCPU_TSC_OFFSET,
                                   .addr = (uint64_t)(uintptr_t)&zero};
    if (ioctl(fd, KVM_SET_DEVICE_ATTR, &attr) < 0)
        tsc_offset_set = 0;
#else
    tsc_offset_set = 0;
#endif
    struct kvm_sregs s;
    if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
        die(2, "KVM_GET_SREGS");
    struct kvm_segment code = {.base = 0, .limit = 0xffffffff, .selector = 8, .type = 11, .present = 1,
                               .dpl = 3, .db = 0, .s = 1, .l = 1, .g = 1};
    struct kvm_segment dseg = code;
    dseg.type = 3;
    dseg.selector = 0x2b;
    dseg.l = 0;
    dseg.db = 1;
    code.selector = 0x33;
    s.cs = code;
    s.ds = s.es = s.fs = s.gs = s.ss = dseg;
    s.cr3 = PML4;
    s.cr4 = 1u << 5;                        /* PAE */
    s.cr0 = 0x80000001u;                    /* PG | PE */
    s.efer = 0x500;                         /* LME | LMA */
    if (ioctl(fd, KVM_SET_SREGS, &s) < 0)
        die(2, "KVM_SET_SREGS");
    struct kvm_regs r = {.rip = 0, .rax = id, .rsp = 0x8000 + id * 0x100, .rflags = 0x3002} /* IOPL 3: the guest's out at CPL 3 */;
    if (ioctl(fd, KVM_SET_REGS, &r) < 0)
        die(2, "KVM_SET_REGS");
}

/* An access to a gpa with no memslot (the data slot deleted or moved): complete it from the hva. */
static int emulate_mmio(struct kvm_run *run) {
    uint64_t gpa = run->mmio.phys_addr;
    if (gpa < DATA || gpa + run->mmio.len > DATA + (uint64_t)O.pages * PAGE || run->mmio.len > 8)
        return -1;
    volatile uint8_t *p = data_mem + (gpa - DATA);
    if (run->mmio.is_write) {
        if (run->mmio.len == 4)
            __atomic_store_n((volatile uint32_t *)p, *(uint32_t *)run->mmio.data, __ATOMIC_SEQ_CST);
        else
            memcpy((void *)p, run->mmio.data, run->mmio.len);
    } else {
        if (run->mmio.len == 4)
            *(uint32_t *)run->mmio.data = __atomic_load_n((volatile uint32_t *)p, __ATOMIC_SEQ_CST);
        else
            memcpy(run->mmio.data, (void *)p, run->mmio.len);
    }
    return 0;
}

static void *vcpu_thread(void *arg) {
    unsigned id = (unsigned)(uintptr_t)arg;
    struct kvm_run *run = runs[id];
    out("vcpu id=%u tid=%ld", id, (long)gettid());
    volatile uint32_t *st = ctrl32(STATS + id * STATS_SIZE);
    for (;;) {
        if (ioctl(vcpu_fds[id], KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vcpu_failed = 1;
            out("error vcpu=%u reason=KVM_RUN errno=%d", id, errno);
            return NULL;
        }
        switch (run->exit_reason) {
        case KVM_EXIT_HLT:
            exit_hlt[id]++;
            return NULL;
        case KVM_EXIT_IO:
            exit_io[id]++;
            if (run->io.port == 0x11)
                return NULL; /* the guest saw the stop word */
            if (run->io.port == 0x10) {
                uint64_t tsc = ((uint64_t)st[S_T0_HI / 4] << 32) | st[S_T0_LO / 4];
                out("mismatch vcpu=%u gfn=%u tsc=%llu got=%u expected=%u", id,
                    (unsigned)(DATA / PAGE + st[S_MMGFN / 4]), (unsigned long long)tsc, st[S_GOT / 4],
                    st[S_EXPECT / 4]);
            }
            break;
        case KVM_EXIT_MMIO:
            exit_mmio[id]++;
            if (emulate_mmio(run) < 0) {
                vcpu_failed = 1;
                out("error vcpu=%u reason=mmio gpa=%llu", id, (unsigned long long)run->mmio.phys_addr);
                return NULL;
            }
            break;
        default:
            exit_other[id]++;
            vcpu_failed = 1;
            out("error vcpu=%u reason=exit exit_reason=%u", id, run->exit_reason);
            return NULL;
        }
    }
}

static uint64_t rng_state;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void act(const char *kind, unsigned p, unsigned n, uint32_t value) {
    out("act tsc=%llu kind=%s gfn=%u npages=%u value=%u", (unsigned long long)__rdtsc(), kind,
        (unsigned)(DATA / PAGE + p), n, value);
}

/* One host action on page p whose outcome the guest must see: GEN odd, act, HOSTVAL, GEN even. */
static void zap_one(unsigned p, unsigned kind, uint32_t value) {
    volatile uint32_t *gen = ctrl32(GEN + p * 4UL), *hv = ctrl32(HOSTVAL + p * 4UL);
    __atomic_store_n(gen, *gen + 1, __ATOMIC_SEQ_CST);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint64_t tsc = __rdtsc();
    if (kind != 2 && madvise(data_mem + p * PAGE, PAGE, MADV_DONTNEED) < 0)
        die(2, "madvise(MADV_DONTNEED)");
    if (kind != 0)
        __atomic_store_n((volatile uint32_t *)(data_mem + p * PAGE), value, __ATOMIC_SEQ_CST);
    __atomic_store_n(hv, kind == 0 ? 0 : value, __ATOMIC_SEQ_CST);
    __atomic_store_n(gen, *gen + 1, __ATOMIC_SEQ_CST);
    static const char *names[] = {"dontneed", "dontneed_write", "write"};
    out("act tsc=%llu kind=%s gfn=%u npages=1 value=%u", (unsigned long long)tsc, names[kind],
        (unsigned)(DATA / PAGE + p), kind == 0 ? 0 : value);
}

static void sleep_us(unsigned long us) {
    struct timespec ts = {.tv_sec = (time_t)(us / 1000000), .tv_nsec = (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static void host_actions(uint64_t deadline) {
    uint64_t start = mono_ns();
    int writing = 0, slot_gone = 0;
    uint32_t seq = 0;
    unsigned chunk = O.pages < 16 ? O.pages : 16, next_chunk = 0;
    while (mono_ns() < deadline && !vcpu_failed) {
        const char *w = O.workload;
        if (!strcmp(w, "cow-break") && !writing && mono_ns() - start >= (uint64_t)(O.write_after * 1e9)) {
            writing = 1;
            __atomic_store_n(ctrl32(CTRL_GPA + C_MODE), 1, __ATOMIC_SEQ_CST);
            act("phase_write", 0, O.pages, 0);
        } else if (!strcmp(w, "zap")) {
            unsigned p = (unsigned)(rnd() % O.pages), kind = (unsigned)(rnd() % 3);
            seq++;
            zap_one(p, kind, 0x80000000u | (seq & 0x7fffffffu));
        } else if (!strcmp(w, "aging")) {
            unsigned p = next_chunk, n = p + chunk > O.pages ? O.pages - p : chunk;
            uint64_t tsc = __rdtsc();
            int cold = madvise(data_mem + p * PAGE, n * PAGE, MADV_COLD);
            out("act tsc=%llu kind=cold gfn=%u npages=%u value=%d", (unsigned long long)tsc,
                (unsigned)(DATA / PAGE + p), n, cold < 0 ? -errno : 0);
            tsc = __rdtsc();
            int po = madvise(data_mem + p * PAGE, n * PAGE, MADV_PAGEOUT);
            out("act tsc=%llu kind=pageout gfn=%u npages=%u value=%d", (unsigned long long)tsc,
                (unsigned)(DATA / PAGE + p), n, po < 0 ? -errno : 0);
            next_chunk = (p + n) % O.pages;
        } else if (!strcmp(w, "memslot")) {
            uint64_t size = (uint64_t)O.pages * PAGE;
            if (!slot_gone) {
                if (rnd() & 1) {
                    act("slot_delete", 0, O.pages, 0);
                    set_slot(1, DATA, 0, data_mem);
                    slot_gone = 1;
                } else {
                    act("slot_move", 0, O.pages, 0);
                    set_slot(1, MOVED_GPA, size, data_mem);
                    slot_gone = 2;
                }
            } else {
                act(slot_gone == 1 ? "slot_create" : "slot_back", 0, O.pages, 0);
                set_slot(1, DATA, size, data_mem);
                slot_gone = 0;
            }
        }
        sleep_us(O.period_us);
    }
    if (slot_gone) {
        act(slot_gone == 1 ? "slot_create" : "slot_back", 0, O.pages, 0);
        set_slot(1, DATA, (uint64_t)O.pages * PAGE, data_mem);
    }
}

static unsigned long num(const char *s, const char *name) {
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || *end || end == s) {
        fprintf(stderr, "mmuspec-vmm: %s: not a number: %s\n", name, s);
        exit(2);
    }
    return v;
}

static void usage(void) {
    fprintf(stderr, "usage: mmuspec-vmm ksm-merge|cow-break|zap|aging|memslot [--pages N] [--vcpus N] "
                    "[--seconds S] [--period-us U] [--write-after S] [--write-every N] [--slow-cycles C] "
                    "[--seed N] [--hva ADDR] [--marker PATH] [--no-pfns]\n");
    exit(2);
}

static void parse(int argc, char **argv) {
    O = (struct opts){.pages = 64, .vcpus = 1, .write_every = 4, .seed = 1, .seconds = 4, .write_after = -1,
                      .period_us = 2000, .slow_cycles = 20000, .hva = 0x5a5a00000000UL, .pfns = 1};
    if (argc < 2)
        usage();
    O.workload = argv[1];
    const char *known[] = {"ksm-merge", "cow-break", "zap", "aging", "memslot"};
    int ok = 0;
    for (unsigned i = 0; i < sizeof known / sizeof *known; i++)
        ok |= !strcmp(O.workload, known[i]);
    if (!ok) {
        fprintf(stderr, "mmuspec-vmm: unknown workload %s\n", O.workload);
        usage();
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--no-pfns")) {
            O.pfns = 0;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--pages")) O.pages = (unsigned)num(v, a);
        else if (!strcmp(a, "--vcpus")) O.vcpus = (unsigned)num(v, a);
        else if (!strcmp(a, "--seconds")) O.seconds = atof(v);
        else if (!strcmp(a, "--period-us")) O.period_us = num(v, a);
        else if (!strcmp(a, "--write-after")) O.write_after = atof(v);
        else if (!strcmp(a, "--write-every")) O.write_every = (unsigned)num(v, a);
        else if (!strcmp(a, "--slow-cycles")) O.slow_cycles = num(v, a);
        else if (!strcmp(a, "--seed")) O.seed = (unsigned)num(v, a);
        else if (!strcmp(a, "--hva")) O.hva = num(v, a);
        else if (!strcmp(a, "--marker")) O.marker = v;
        else usage();
    }
    if (O.pages < 1 || O.pages > MAX_PAGES || O.vcpus < 1 || O.vcpus > MAX_VCPUS || O.vcpus > O.pages ||
        O.seconds <= 0 || O.seconds > 3600 || O.write_every < 1 || (O.hva & (PAGE - 1))) {
        fprintf(stderr, "mmuspec-vmm: out of range: pages 1..%d, vcpus 1..%d and <= pages, seconds (0, 3600], "
                        "write-every >= 1, hva page-aligned\n", MAX_PAGES, MAX_VCPUS);
        exit(2);
    }
    if (O.write_after < 0)
        O.write_after = O.seconds / 2;
}

int main(int argc, char **argv) {
    parse(argc, argv);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)O.seconds + 30);
    rng_state = 0x9e3779b97f4a7c15ULL ^ O.seed;

    kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        die(2, "open_dev_kvm");
    if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
        die(2, "KVM_GET_API_VERSION");
    vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0)
        die(2, "KVM_CREATE_VM");

    ctrl_mem = mmap(NULL, CTRL_SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    data_mem = mmap((void *)O.hva, (size_t)O.pages * PAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (ctrl_mem == MAP_FAILED || data_mem == MAP_FAILED || (unsigned long)data_mem != O.hva)
        die(2, "mmap_guest_memory");

    memcpy(ctrl_mem, guest_start, (size_t)(guest_end - guest_start));
    /* Identity map of the first GiB with 2 MiB user pages (see the header: why CPL 3), with
     * the accessed and dirty bits already set: shadow paging would otherwise map a read
     * fault read-only to catch the first write, a second fault with no invalidation between. */
    *(uint64_t *)(ctrl_mem + PML4) = PDPT | 0x27;
    *(uint64_t *)(ctrl_mem + PDPT) = PD | 0x27;
    for (uint64_t i = 0; i < 512; i++)
        *(uint64_t *)(ctrl_mem + PD + i * 8) = (i << 21) | 0xe7; /* present, writable, user, accessed, dirty, 2 MiB */
    *ctrl32(CTRL_GPA + C_NPAGES) = O.pages;
    *ctrl32(CTRL_GPA + C_NVCPUS) = O.vcpus;
    *ctrl32(CTRL_GPA + C_SLOW) = (uint32_t)O.slow_cycles;
    *ctrl32(CTRL_GPA + C_WEVERY) = O.write_every;
    *ctrl32(CTRL_GPA + C_RMASK) = RING_ENTRIES - 1;
    int ksm = !strcmp(O.workload, "ksm-merge") || !strcmp(O.workload, "cow-break");
    int writes = !strcmp(O.workload, "zap") || !strcmp(O.workload, "aging") || !strcmp(O.workload, "memslot");
    *ctrl32(CTRL_GPA + C_MODE) = (uint32_t)writes;
    /* Page contents: identical pages for KSM (the tag and a filler); distinct tags otherwise. */
    for (unsigned p = 0; p < O.pages; p++) {
        uint32_t tag = ksm ? 0x4b534d21u : 0x10000000u + p;
        uint32_t *w = (uint32_t *)(data_mem + p * PAGE);
        for (unsigned i = 1; i < PAGE / 4; i++)
            w[i] = 0xa5a5a5a5u ^ i;
        w[0] = tag;
        *ctrl32(KNOWN + p * 4UL) = tag;
    }
    set_slot(0, 0, CTRL_SLOT_SIZE, ctrl_mem);
    set_slot(1, DATA, (uint64_t)O.pages * PAGE, data_mem);
    for (unsigned i = 0; i < O.vcpus; i++)
        setup_vcpu(i);

    out("vmm version=1 pid=%ld workload=%s pages=%u vcpus=%u seconds=%g hva=%#lx data_gpa=%#lx page_size=4096 "
        "tsc_offset=%s period_us=%lu slow_cycles=%lu seed=%u write_every=%u", (long)getpid(), O.workload, O.pages, O.vcpus,
        O.seconds, O.hva, DATA, tsc_offset_set ? "0" : "unset", O.period_us, O.slow_cycles, O.seed,
        O.write_every);
    print_stats(vm_fd, "before", "vm");
    for (unsigned i = 0; i < O.vcpus; i++) {
        char scope[16];
        snprintf(scope, sizeof scope, "vcpu%u", i);
        print_stats(vcpu_fds[i], "before", scope);
    }
    print_pfns("start");
    marker("start");
    if (ksm) {
        if (madvise(data_mem, (size_t)O.pages * PAGE, MADV_MERGEABLE) < 0)
            die(2, "madvise(MADV_MERGEABLE)");
        act("mergeable", 0, O.pages, 0);
    }
    pthread_t threads[MAX_VCPUS];
    for (unsigned i = 0; i < O.vcpus; i++)
        if (pthread_create(&threads[i], NULL, vcpu_thread, (void *)(uintptr_t)i))
            die(3, "pthread_create");
    host_actions(mono_ns() + (uint64_t)(O.seconds * 1e9));
    __atomic_store_n(ctrl32(CTRL_GPA + C_STOP), 1, __ATOMIC_SEQ_CST);
    for (unsigned i = 0; i < O.vcpus; i++)
        pthread_join(threads[i], NULL);
    marker("end");
    print_pfns("end");
    print_stats(vm_fd, "after", "vm");
    for (unsigned i = 0; i < O.vcpus; i++) {
        char scope[16];
        snprintf(scope, sizeof scope, "vcpu%u", i);
        print_stats(vcpu_fds[i], "after", scope);
    }
    for (unsigned i = 0; i < O.vcpus; i++) {
        volatile uint32_t *st = ctrl32(STATS + i * STATS_SIZE);
        uint32_t head = st[S_RHEAD / 4];
        uint32_t n = head < RING_ENTRIES ? head : (uint32_t)RING_ENTRIES;
        for (uint32_t k = head - n; k != head; k++) {
            volatile uint32_t *e = ctrl32(RING + i * RING_BYTES + (k % RING_ENTRIES) * 16);
            uint64_t tsc = ((uint64_t)e[2] << 32) | e[1];
            out("slow vcpu=%u gfn=%u tsc=%llu cycles=%u", i, (unsigned)(DATA / PAGE + e[0]),
                (unsigned long long)tsc, e[3]);
        }
        uint64_t slowcyc = ((uint64_t)st[S_SLOWCYC_HI / 4] << 32) | st[S_SLOWCYC_LO / 4];
        out("guest vcpu=%u iterations=%u reads=%u writes=%u mismatches=%u unstable=%u slow=%u slow_cycles=%llu "
            "max_cycles=%u ring_dropped=%u", i, st[S_ITER / 4], st[S_READS / 4], st[S_WRITES / 4],
            st[S_MISMATCH / 4], st[S_UNSTABLE / 4], st[S_SLOW / 4], (unsigned long long)slowcyc, st[S_MAXCYC / 4],
            head - n);
        out("exits vcpu=%u io=%lu mmio=%lu hlt=%lu other=%lu", i, exit_io[i], exit_mmio[i], exit_hlt[i],
            exit_other[i]);
    }
    if (vcpu_failed)
        die(3, "vcpu");
    out("done status=ok reason=-");
    fflush(stdout);
    return 0;
}
