"""Booting a built kernel under qemu with jobs in its initramfs, and reading what it printed.

The initramfs holds busybox, the lab's VMM, the reproducers' static harnesses, the
external modules of the kernel, and ``/init``: a shell script that mounts proc, sysfs,
devtmpfs and tracefs, runs each job in its own section on the data port (``ttyS1``,
see ``serial.py``), and reboots, which ``-no-reboot`` turns into qemu's exit.  Kernel
messages go to ``ttyS0`` (the console log).  Every boot is bounded: qemu is killed
after ``timeout`` seconds and the sections printed so far are still parsed.

Acceleration: ``kvm`` runs the guest on the host's KVM with ``-cpu host``, which is fast
but gives the guest's KVM no SVM unless the host exposes it; ``tcg`` emulates an EPYC
with SVM and nested paging, so the guest's own KVM runs the VMM's guest with every
tracepoint.  ``auto`` takes kvm when ``/dev/kvm`` opens and the job needs no KVM in the
guest, else tcg.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mmuspec.emulate import initramfs, serial
from mmuspec.emulate.kernels import Kernel
from mmuspec.errors import UsageError

ACCELS = ("auto", "kvm", "tcg")
TCG_CPU = "EPYC,+svm,+npt,+nrip-save"
BUSYBOX = Path("/bin/busybox")


@dataclass(frozen=True)
class Job:
    """A shell snippet run by /init; it prints its own sections with ``section NAME CMD...``."""

    name: str
    script: str
    needs_kvm: bool = False  # the job runs a guest under the emulated kernel's KVM


@dataclass
class Boot:
    kernel: Kernel
    accel: str
    wall_seconds: float
    timed_out: bool
    output: serial.BootOutput
    console: str
    argv: list[str] = field(default_factory=list)


INIT_HEAD = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mkdir -p /proc /sys /dev /tmp /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
exec 3>/dev/ttyS1
up() { cut -d' ' -f1 /proc/uptime; }
say() { echo "@@mmuspec $*" >&3; }
section() {
    name=$1; shift
    say "begin $name start=$(up)"
    "$@" >&3 2>&1
    rc=$?
    say "end $name rc=$rc stop=$(up)"
    return $rc
}
say "boot kernel=$(uname -r) uptime=$(up)"
if [ -e /dev/kvm ]; then say "fact guest_kvm=yes"; else say "fact guest_kvm=no"; fi
"""

INIT_TAIL = r"""
say "halt uptime=$(up)"
sync
reboot -f
"""


def init_script(jobs: list[Job]) -> str:
    body = "".join(f"\n# job {job.name}\n{job.script.rstrip()}\n" for job in jobs)
    return INIT_HEAD + body + INIT_TAIL


def image(jobs: list[Job], binaries: dict[str, Path], modules: dict[str, Path]) -> bytes:
    """The initramfs: busybox, /init, the binaries in /bin and the modules in /lib/modules."""
    if not BUSYBOX.exists():
        raise UsageError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    entries = [initramfs.file("bin/busybox", BUSYBOX.read_bytes(), executable=True),
               initramfs.file("init", init_script(jobs).encode(), executable=True)]
    entries += [initramfs.file(f"bin/{name}", path.read_bytes(), executable=True)
                for name, path in sorted(binaries.items())]
    entries += [initramfs.file(f"lib/modules/{name}.ko", path.read_bytes())
                for name, path in sorted(modules.items())]
    return initramfs.archive(entries)


def host_kvm() -> bool:
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
        return True
    except OSError:
        return False


def choose_accel(accel: str, jobs: list[Job]) -> str:
    if accel not in ACCELS:
        raise UsageError(f"--accel {accel!r}: use one of {', '.join(ACCELS)}")
    if accel != "auto":
        return accel
    return "kvm" if host_kvm() and not any(job.needs_kvm for job in jobs) else "tcg"


def qemu_argv(kernel: Path, initrd: Path, console: Path, data: Path, accel: str,
              memory_mb: int = 1024, cpus: int = 2, append: str = "") -> list[str]:
    cpu = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else \
        ["-accel", "tcg,thread=multi", "-cpu", TCG_CPU]
    cmdline = f"console=ttyS0 panic=-1 oops=panic loglevel=7 {append}".strip()
    return ["qemu-system-x86_64", *cpu, "-m", str(memory_mb), "-smp", str(cpus),
            "-nodefaults", "-display", "none", "-no-reboot",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
            "-serial", f"file:{console}", "-serial", f"file:{data}"]


def boot(kernel: Kernel, jobs: list[Job], binaries: dict[str, Path], *, accel: str = "auto",
         timeout: float = 600, memory_mb: int = 1024, cpus: int = 2, append: str = "",
         keep: Path | None = None) -> Boot:
    """Boot once; the console and data logs are copied to ``keep`` when given."""
    if shutil.which("qemu-system-x86_64") is None:
        raise UsageError("qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
    chosen = choose_accel(accel, jobs)
    modules = {name: kernel.module(name) for name in kernel.spec.modules}
    with tempfile.TemporaryDirectory(prefix="mmuspec-boot-") as tmp:
        work = Path(tmp)
        (work / "initrd.cpio").write_bytes(image(jobs, binaries, modules))
        console, data = work / "console.log", work / "data.log"
        argv = qemu_argv(kernel.bzimage, work / "initrd.cpio", console, data, chosen, memory_mb, cpus, append)
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            proc.kill()
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.monotonic() - start
        stderr = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        console_text = (console.read_text(errors="replace") if console.exists() else "") + stderr
        data_text = data.read_text(errors="replace") if data.exists() else ""
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            (keep / "console.log").write_text(console_text)
            (keep / "data.log").write_text(data_text)
    return Boot(kernel, chosen, round(wall, 1), timed_out, serial.parse(data_text), console_text, argv)
