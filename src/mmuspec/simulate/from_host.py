"""A workload built from the operator's own host or from a trace it recorded.

``simulate --from-host`` counts the VMs on the running host and reads KSM's settings and
counters; ``simulate --from-trace`` reads a recorded trace's VMs, vCPUs, fault rate and
write share and KSM's merge rate.  What neither shows (what the guests' memory holds, how
they touch pages that do not fault) stays the base workload's (vdi unless another is
named), and every value says where it came from: ``measured`` (read or counted),
``derived`` (computed from measured figures, with the bound it gives) or ``assumed``
(the base workload's, not a measurement).  The result is an ordinary workload file,
written beside the results, so a run can be repeated, edited and swept.

Where the host keeps what (kernel names):

- a VM is a file descriptor on ``anon_inode:kvm-vm`` (``kvm_dev_ioctl_create_vm()``), a
  vCPU one on ``anon_inode:kvm-vcpu:N`` (``create_vcpu_fd()``, virt/kvm/kvm_main.c), in
  ``/proc/PID/fd`` of the VMM process;
- guest memory size: QEMU's ``-m`` on the command line when there is one, else the VMM
  process's ``VmRSS`` (the part the host backs now: a lower bound);
- KSM: ``/sys/kernel/mm/ksm/{run,pages_to_scan,sleep_millisecs,max_page_sharing,
  pages_shared,pages_sharing}`` (Documentation/admin-guide/mm/ksm.rst).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from mmuspec.errors import InputError, UsageError
from mmuspec.simulate.workload import _SCHEMA as KEYS
from mmuspec.simulate.workload import Workload, parse_workload
from mmuspec.traces.stats import TraceStats


@dataclass(frozen=True)
class Value:
    key: str  # a workload key, ``section.name``
    value: float
    how: str  # "measured", "derived" or "assumed"
    source: str  # where it came from, in words

    def shown(self) -> str:
        return f"{self.value:g}" if isinstance(self.value, float) else str(self.value)

    def text(self) -> str:
        return f"{self.key} = {self.shown()}  ({self.how}: {self.source})"


@dataclass(frozen=True)
class HostVm:
    pid: int
    comm: str
    vcpus: int
    memory_pages: int
    memory_source: str


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _qemu_memory(cmdline: list[str]) -> int | None:
    """Guest memory in pages from QEMU's ``-m`` (``-m 4G``, ``-m size=4096M``, ``-m 2048``: MiB)."""
    for i, arg in enumerate(cmdline[:-1]):
        if arg not in ("-m", "--m"):
            continue
        spec = cmdline[i + 1].split(",")[0].removeprefix("size=")
        match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", spec, re.IGNORECASE)
        if match:
            unit = {"": 2**20, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[match.group(2).upper()]
            return max(1, int(float(match.group(1)) * unit) // 4096)
    return None


def host_vms(root: Path) -> list[HostVm]:
    """Every VM on the host under ``root`` (``/`` or a recorded copy of its /proc)."""
    vms = []
    proc = root / "proc"
    for entry in sorted(proc.iterdir() if proc.is_dir() else (), key=lambda p: p.name):
        if not entry.name.isdigit():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:  # gone, or not ours to read
            continue
        count = sum(1 for t in targets if t == "anon_inode:kvm-vm")
        if not count:
            continue
        vcpus = sum(1 for t in targets if t.startswith("anon_inode:kvm-vcpu"))
        cmdline = _read(entry / "cmdline").split("\0")
        pages = _qemu_memory(cmdline)
        how = "the -m of its command line"
        if pages is None:
            rss = re.search(r"^VmRSS:\s+(\d+) kB", _read(entry / "status"), re.MULTILINE)
            pages = max(1, int(rss.group(1)) // 4) if rss else 0
            how = "its VmRSS (what the host backs now: a lower bound)"
        comm = _read(entry / "comm").strip() or "?"
        for _ in range(count):  # a process holding several VMs: their vCPUs and memory split evenly
            vms.append(HostVm(int(entry.name), comm, max(1, vcpus // count), max(1, pages // count), how))
    return vms


def _ksm(root: Path) -> dict[str, int]:
    folder = root / "sys" / "kernel" / "mm" / "ksm"
    out = {}
    for name in ("run", "pages_to_scan", "sleep_millisecs", "max_page_sharing", "pages_shared", "pages_sharing"):
        text = _read(folder / name).strip()
        if text.isdigit():
            out[name] = int(text)
    return out


def from_host(root: Path) -> list[Value]:
    """The values the host shows; UsageError when it runs no VM."""
    vms = host_vms(root)
    if not vms:
        raise UsageError(f"--from-host: no VM runs on this host (no process under {root / 'proc'} holds an "
                         "anon_inode:kvm-vm file descriptor; reading other users' processes needs root)")
    where = ", ".join(f"{vm.comm}[{vm.pid}]" for vm in vms)
    pages = round(sum(vm.memory_pages for vm in vms) / len(vms))
    values = [
        Value("vms.count", len(vms), "measured", f"kvm-vm file descriptors of {where}"),
        Value("vms.vcpus", round(sum(vm.vcpus for vm in vms) / len(vms)), "measured",
              "kvm-vcpu file descriptors per VM" + ("" if len({vm.vcpus for vm in vms}) == 1 else ", the mean")),
        Value("vms.pages", pages, "measured" if all("-m" in vm.memory_source for vm in vms) else "derived",
              "per VM, " + "; ".join(sorted({vm.memory_source for vm in vms}))
              + ("" if len({vm.memory_pages for vm in vms}) == 1 else ", the mean")),
    ]
    ksm = _ksm(root)
    sysfs = "/sys/kernel/mm/ksm/"
    for name in ("pages_to_scan", "sleep_millisecs", "max_page_sharing"):
        if name in ksm:
            values.append(Value(f"ksm.{name}", ksm[name], "measured", sysfs + name))
    if "run" in ksm and ksm["run"] != 1:
        values.append(Value("ksm.run", ksm["run"], "measured",
                            sysfs + "run: KSM is not running on this host, so its counters say nothing of what "
                            "the guests share; the simulation shows what KSM would do if it ran"))
    if ksm.get("run") == 1 and "pages_sharing" in ksm and "pages_shared" in ksm:
        merged = ksm["pages_sharing"] + ksm["pages_shared"]
        values.append(Value("content.shared", min(1.0, merged / max(1, pages * len(vms))), "derived",
                            f"(pages_sharing + pages_shared) / guest pages = {merged:,} / {pages * len(vms):,}: "
                            "what KSM has merged so far, a lower bound of what is identical"))
    return values


def from_trace(stats: TraceStats, path: str) -> list[Value]:
    """The values a recorded trace shows; InputError when it holds no vCPU thread."""
    threads = stats.per_vcpu
    if not threads:
        raise InputError(path, None, "--from-trace: the trace shows no vCPU thread (no kvm_exit, kvm_entry, "
                         "kvm_page_fault or kvm_guest_fault lines): record -e kvm to build a workload from it")
    seconds = (stats.last_ts or 0.0) - (stats.first_ts or 0.0)
    if seconds <= 0:
        raise InputError(path, None, "--from-trace: the trace spans no time, so it shows no rate")
    per_vm: dict[str, int] = {}
    for t in threads:
        per_vm[str(t.vm)] = per_vm.get(str(t.vm), 0) + 1
    shown = "-" not in per_vm
    values = [
        Value("vms.count", len(per_vm) if shown else 1, "measured" if shown else "assumed",
              "vCPU threads' process ids" if shown else "the trace does not print process ids: one VM"),
        Value("vms.vcpus", max(per_vm.values()), "measured", "vCPU threads per VM, the most"),
    ]
    faults = sum(t.counts.get("faults", 0) for t in threads)
    if stats.faults_traced and faults:
        values.append(Value("access.rate", round(faults / seconds / len(threads), 3), "derived",
                            f"{faults:,} stage-2 faults in {seconds:.6g} s over {len(threads)} vCPU threads: a "
                            "lower bound, since a touch through a present SPTE does not exit"))
        reads, writes = stats.fault_kinds.get("read", 0), stats.fault_kinds.get("write", 0)
        if reads + writes:
            values.append(Value("access.write_fraction", round(writes / (reads + writes), 4), "measured",
                                f"{writes:,} write faults of {reads + writes:,} read or write faults"))
    if stats.ksm_merges:
        rate = stats.ksm_merges / seconds
        values.append(Value("ksm.pages_to_scan", max(1, math.ceil(rate * 20 / 1000)), "derived",
                            f"{stats.ksm_merges:,} KSM merges in {seconds:.6g} s = {rate:,.0f}/s: the fewest "
                            "pages per 20 ms wake-up that can merge that many"))
        values.append(Value("ksm.sleep_millisecs", 20, "assumed", "the kernel's default, with the scan rate above"))
    return values


def workload_text(base: Workload, values: list[Value], origin: str) -> str:
    """A workload file: the base's text with each measured, derived or assumed value put in
    its place, commented with its source."""
    chosen: dict[str, Value] = {}
    for v in values:  # a later source (the trace) refines an earlier one (the host)
        if v.key not in chosen or v.how != "assumed":
            chosen[v.key] = v
    pending: dict[str, list[str]] = {}  # by section: the lines not yet placed in the base's text
    for v in chosen.values():
        section, _, name = v.key.partition(".")
        comment = "" if name in KEYS.get(section, ()) else "# "  # shown, not a workload key
        pending.setdefault(section, []).append(f"{comment}{name} = {v.shown()}  # {v.how}: {v.source}")
    out = [f"# Built by mmuspec simulate {origin}; what is not set here is {base.source}'s (assumed)."]
    replaced = {v.key for v in chosen.values()} | ({"vms.memory_gib"} if "vms.pages" in chosen else set())
    section = ""

    def close(name: str) -> None:  # the section's values go before the blank lines that end it
        blanks = len(out) - len("\n".join(out).rstrip("\n").split("\n"))
        at = len(out) - blanks
        out[at:at] = pending.pop(name, [])

    for line in base.text.splitlines():
        header = re.fullmatch(r"\s*\[\[?([A-Za-z0-9_.]+)\]\]?\s*(#.*)?", line)
        if header:
            close(section)
            section = header.group(1)
        key = re.match(r"\s*([A-Za-z0-9_]+)\s*=", line)
        if key and f"{section}.{key.group(1)}" in replaced and not section.startswith("phases"):
            continue
        if key and section == "" and key.group(1) == "description":
            out.append(f'description = "{origin.replace(chr(34), "")}: {base.name}\'s shape with this host\'s figures"')
            continue
        out.append(line)
    close(section)
    for name, lines in pending.items():
        out += ["", f"[{name}]", *lines]
    return "\n".join(out) + "\n"


def built_workload(base: Workload, values: list[Value], origin: str, name: str) -> tuple[Workload, str]:
    """The workload and its file's text."""
    text = workload_text(base, values, origin)
    return parse_workload(text, f"{name}.toml", name), text
