"""Record a short real trace of KSM merging a tiny KVM guest's memory (root only).

Why: the trace reader dates traces by the text forms the kernel printed, and
only a trace recorded on a real kernel proves those forms are read right.  This
script makes the notifier events fire with nothing but /dev/kvm and KSM:

* a guest of 1 MiB in real mode writes one byte to each of 224 pages and halts
  (stage-2 faults: kvm_exit, kvm_page_fault, kvm_entry);
* the host marks that memory MADV_MERGEABLE and runs ksmd, which merges the
  identical pages (ksm:* events, and kvm_unmap_hva_range from
  write_protect_page()/replace_page()'s invalidations);
* the guest runs again and writes the merged pages (refaults and COW breaks);
* MADV_COLD/MADV_PAGEOUT on the guest memory asks reclaim to age it
  (kvm_age_hva where reclaim checks the young bits).

Lab manners: every global setting it changes (KSM run, pages_to_scan,
sleep_millisecs, the tracefs mount, tracing_on, buffer_size_kb, each event's
enable) is saved first and restored on success, failure, Ctrl-C and SIGTERM;
merged pages are unmerged (run=2) before KSM's run is restored; the run is bounded
by an alarm; a second run at once refuses on a lock file.

    sudo python3 tools/record_ksm_trace.py OUT.txt
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

TRACING = Path("/sys/kernel/tracing")
KSM = Path("/sys/kernel/mm/ksm")
LOCK = Path("/run/mmuspec-record-trace.lock")
EVENTS = ("kvm/kvm_unmap_hva_range", "kvm/kvm_age_hva", "kvm/kvm_test_age_hva", "kvm/kvm_exit",
          "kvm/kvm_entry", "kvm/kvm_page_fault", "ksm")
GUEST_BYTES = 1 << 20
DEADLINE_S = 60

# ioctl numbers of include/uapi/linux/kvm.h (x86: kvm_regs 144 bytes, kvm_sregs 312 bytes)
KVM_GET_VCPU_MMAP_SIZE, KVM_CREATE_VM, KVM_CREATE_VCPU, KVM_RUN = 0xAE04, 0xAE01, 0xAE41, 0xAE80
KVM_SET_USER_MEMORY_REGION, KVM_GET_SREGS, KVM_SET_SREGS = 0x4020AE46, 0x8138AE83, 0x4138AE84
KVM_GET_REGS, KVM_SET_REGS = 0x8090AE81, 0x4090AE82
KVM_EXIT_HLT = 5
# Real mode at 0x1000: for (ax = 0x1000; ax != 0xf000; ax += 0x100) { ds = ax; *(u8 *)0 = 1; } hlt; again.
CODE = bytes.fromhex("b80010" "8ed8" "c606000001" "050001" "3d00f0" "75f1" "f4" "ebeb")
MADV_COLD, MADV_PAGEOUT = 20, 21


class Stop(Exception):
    """A signal or the deadline: unwind so that every setting is restored."""


def _stop(signum: int, _frame: object) -> None:
    raise Stop(signal.Signals(signum).name)


class Settings:
    """Writes sysfs/tracefs files, remembering each one's first value to restore in reverse order."""

    def __init__(self) -> None:
        self.saved: list[tuple[Path, str]] = []

    def set(self, path: Path, value: str) -> None:
        if all(p != path for p, _ in self.saved):
            self.saved.append((path, _writable(path.read_text())))
        path.write_text(value)

    def restore(self) -> list[str]:
        problems = []
        for path, value in reversed(self.saved):
            try:
                path.write_text(value)
            except OSError as e:
                problems.append(f"{path}: {e}")
        self.saved.clear()
        return problems


def _writable(text: str) -> str:
    """A value as it can be written back: buffer_size_kb reads "7 (expanded: 1408)" before first use."""
    text = text.strip()
    if "(expanded:" in text:
        return text.rsplit(":", 1)[1].strip(" )")
    return text


def run_guest(times: int, mem: mmap.mmap) -> int:
    kvm = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    vm = fcntl.ioctl(kvm, KVM_CREATE_VM, 0)
    try:
        addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        region = struct.pack("IIQQQ", 0, 0, 0, GUEST_BYTES, addr)
        fcntl.ioctl(vm, KVM_SET_USER_MEMORY_REGION, region)
        vcpu = fcntl.ioctl(vm, KVM_CREATE_VCPU, 0)
        size = fcntl.ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0)
        run = mmap.mmap(vcpu, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        sregs = bytearray(312)
        fcntl.ioctl(vcpu, KVM_GET_SREGS, sregs)
        struct.pack_into("QIH", sregs, 0, 0, 0xFFFF, 0)  # cs: base 0, selector 0
        fcntl.ioctl(vcpu, KVM_SET_SREGS, bytes(sregs))
        regs = bytearray(144)
        struct.pack_into("QQ", regs, 128, 0x1000, 0x2)  # rip, rflags
        fcntl.ioctl(vcpu, KVM_SET_REGS, bytes(regs))
        halts = 0
        while halts < times:
            fcntl.ioctl(vcpu, KVM_RUN, 0)
            reason = struct.unpack_from("I", run, 8)[0]
            if reason != KVM_EXIT_HLT:
                raise RuntimeError(f"guest exit reason {reason}")
            halts += 1
            yield_to_ksm()
        run.close()
        os.close(vcpu)
        return halts
    finally:
        os.close(vm)
        os.close(kvm)


PHASES: list[str] = []


def yield_to_ksm() -> None:
    """Between guest passes: let ksmd merge the pages the guest wrote, then wait for it."""
    start = int((KSM / "full_scans").read_text())
    deadline = time.monotonic() + 5
    while int((KSM / "full_scans").read_text()) < start + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    PHASES.append(f"pages_sharing={(KSM / 'pages_sharing').read_text().strip()}")


def record(out: Path) -> None:
    settings = Settings()
    mounted = False
    try:
        if not (TRACING / "trace").exists():
            subprocess.run(["mount", "-t", "tracefs", "nodev", str(TRACING)], check=True)
            mounted = True
        settings.set(TRACING / "tracing_on", "0")
        settings.set(TRACING / "buffer_size_kb", "4096")
        for event in EVENTS:
            settings.set(TRACING / "events" / event / "enable", "1")
        (TRACING / "trace").write_text("")
        settings.set(KSM / "run", "0")
        settings.set(KSM / "pages_to_scan", "1000")
        settings.set(KSM / "sleep_millisecs", "10")
        mem = mmap.mmap(-1, GUEST_BYTES, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        mem[0x1000:0x1000 + len(CODE)] = CODE
        mem.madvise(mmap.MADV_MERGEABLE)
        (TRACING / "tracing_on").write_text("1")
        (KSM / "run").write_text("1")
        halts = run_guest(3, mem)
        libc = ctypes.CDLL(None, use_errno=True)
        addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
        for advice in (MADV_COLD, MADV_PAGEOUT):
            libc.madvise(ctypes.c_void_p(addr), ctypes.c_size_t(GUEST_BYTES), advice)
        (TRACING / "tracing_on").write_text("0")
        out.write_text((TRACING / "trace").read_text())
        print(f"{out}: {halts} guest passes, {', '.join(PHASES)}", file=sys.stderr)
    finally:
        try:
            (KSM / "run").write_text("2")  # unmerge every merged page before run is restored
        except OSError as e:
            print(f"ksm run=2: {e}", file=sys.stderr)
        problems = settings.restore()
        if TRACING.joinpath("trace").exists():
            TRACING.joinpath("trace").write_text("")
        if mounted:
            subprocess.run(["umount", str(TRACING)], check=False)
        for p in problems:
            print(f"not restored: {p}", file=sys.stderr)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    if os.geteuid() != 0 or not os.path.exists("/dev/kvm") or not KSM.is_dir():
        print("record_ksm_trace: needs root, /dev/kvm and /sys/kernel/mm/ksm", file=sys.stderr)
        return 2
    lock = open(LOCK, "w")  # noqa: SIM115  (held until the process exits)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"record_ksm_trace: another run holds {LOCK}", file=sys.stderr)
        return 2
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGALRM):
        signal.signal(sig, _stop)
    signal.alarm(DEADLINE_S)
    try:
        record(Path(sys.argv[1]))
    except Stop as e:
        print(f"record_ksm_trace: stopped by {e}; settings restored", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
