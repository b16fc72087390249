"""One lab run: a real guest on the running kernel, its trace, and what it says.

``run_lab`` checks the host (root, /dev/kvm, KSM), takes the lab's lock, builds the VMM,
sets KSM and tracefs through ``Host`` (which gives everything back on every way out),
runs the VMM for the workload, saves the trace with a first line saying where guest
memory was (``# mmuspec-lab ...``), and then, with the host already restored, reads it:
integrity from the guest's own checks, conformance against the page automaton of the
era, measured costs and the simulator's prediction of the same run.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mmuspec.lab import host as host_module
from mmuspec.lab.build import VmmUnavailable, vmm_path
from mmuspec.lab.host import Host, HostUnavailable, check_host, lab_lock, recover_journal
from mmuspec.lab.measure import Measurement, measure
from mmuspec.lab.predict import Row, predict
from mmuspec.lab.vmm_output import VmmRun, parse_vmm_output
from mmuspec.model import ERAS
from mmuspec.traces.conformance import Mapping, Verdict, validate
from mmuspec.traces.page_model import automaton
from mmuspec.traces.reader import open_trace

WORKLOADS = ("ksm-merge", "cow-break", "zap", "aging", "memslot")
KSM_WORKLOADS = ("ksm-merge", "cow-break")
# Per workload: seconds, host action period (µs).
DEFAULTS = {"ksm-merge": (4.0, 2000), "cow-break": (6.0, 2000), "zap": (3.0, 2000), "aging": (3.0, 20000),
            "memslot": (3.0, 20000)}
MAX_PAGES = 65536
# The VMM is killed this long after its run time (its own alarm fires at the same point).
GRACE = 30.0
CTRL_BYTES = 16 << 20  # the VMM's control slot (CTRL_SLOT_SIZE in vmm.c)
OVERRUN = re.compile(r"entries-in-buffer/entries-written:\s*(\d+)/(\d+)")


@dataclass
class LabOptions:
    workload: str
    pages: int = 64
    vcpus: int = 1
    seconds: float | None = None
    period_us: int | None = None
    pages_to_scan: int = 1000
    sleep_millisecs: int = 10
    write_after: float | None = None
    write_every: int = 4
    slow_cycles: int = 4000
    seed: int = 1
    era: str | None = None
    buffer_kb: int = 16384

    def resolved(self) -> LabOptions:
        seconds, period = DEFAULTS[self.workload]
        out = LabOptions(**{**self.__dict__})
        out.seconds = self.seconds or seconds
        out.period_us = self.period_us or period
        out.write_after = self.write_after if self.write_after is not None else out.seconds / 2
        return out


@dataclass
class LabResult:
    options: LabOptions
    era: str
    era_note: str
    kernel: str
    host: str
    run: VmmRun
    measurement: Measurement
    verdict: Verdict
    rows: list[Row]
    prediction: dict[str, Any]
    events_enabled: list[str]
    lost_events: int
    ksm_before: dict[str, int]
    ksm_after: dict[str, int]
    restore_problems: list[str]
    notes: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def integrity_ok(self) -> bool:
        return not self.run.mismatches

    @property
    def ok(self) -> bool:
        return self.integrity_ok and self.verdict.ok and not self.lost_events


def kernel_era(release: str) -> tuple[str, str]:
    """The newest era preset not newer than the running kernel, and a note when it is not
    the kernel's own version."""
    m = re.match(r"(\d+)\.(\d+)", release)
    if not m:
        return "6.10", f"cannot read a version from {release!r}; using era 6.10"
    version = (int(m.group(1)), int(m.group(2)))
    best: tuple[tuple[int, ...], str] | None = None
    for name in ERAS:
        if re.fullmatch(r"\d+(\.\d+)+", name):
            v = tuple(int(x) for x in name.split("."))
            if v <= version and (best is None or v > best[0]):
                best = (v, name)
    if best is None:
        return "2.6.32", f"no era preset as old as {release}"
    note = "" if best[0] == version else (f"no era preset for {version[0]}.{version[1]}: "
                                          f"using {best[1]}, the newest not newer than {release}")
    return best[1], note


def host_description() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    modules = [m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if Path(f"/sys/module/{m}").exists()]
    tdp = Path("/sys/module/kvm/parameters/tdp_mmu")
    mmu = ""
    if tdp.exists():
        mmu = ", TDP MMU" if tdp.read_text().strip() == "Y" else ", shadow MMU (tdp_mmu=N)"
    return f"{cpu}, {'+'.join(modules) or 'kvm'}{mmu}"


def vmm_args(binary: Path, o: LabOptions, marker: str | None) -> list[str]:
    args = [str(binary), o.workload, "--pages", str(o.pages), "--vcpus", str(o.vcpus), "--seconds", f"{o.seconds:g}",
            "--period-us", str(o.period_us), "--write-every", str(o.write_every), "--slow-cycles", str(o.slow_cycles),
            "--seed", str(o.seed), "--write-after", f"{o.write_after:g}"]
    return args + (["--marker", marker] if marker else [])


def memory_limit(o: LabOptions) -> int:
    """The address space the VMM may map (RLIMIT_AS): guest data, the control slot, a stack
    per thread (the vCPUs, the host action thread and the main one) and 64 MiB for the rest.
    The VMM's guest memory is the run's whole footprint, so this bounds the run's memory."""
    return o.pages * 4096 + CTRL_BYTES + (o.vcpus + 2) * (8 << 20) + (64 << 20)


def _run_vmm(args: list[str], seconds: float, out_path: Path, tick: Callable[[float], None] | None,
             memory: int | None = None) -> tuple[int, str, str]:
    """Run the VMM with its output going to ``out_path`` (a pipe nobody reads while it runs
    would fill and stop it), killed ``GRACE`` seconds after its run time and limited to
    ``memory`` bytes of address space; returns its status, output and error output."""

    def limit() -> None:
        if memory is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    with open(out_path, "w", encoding="utf-8") as out_file:
        proc = subprocess.Popen(args, stdout=out_file, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
        started = time.monotonic()
        try:
            while proc.poll() is None:
                elapsed = time.monotonic() - started
                if elapsed > seconds + GRACE:
                    proc.kill()
                    break
                if tick is not None:
                    tick(min(elapsed, seconds))
                time.sleep(0.1)
            _, err = proc.communicate()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    return proc.returncode, out_path.read_text(encoding="utf-8"), err


def run_lab(options: LabOptions, staging: Path, tick: Callable[[float], None] | None = None,
            say: Callable[[str], None] = lambda _: None) -> LabResult:
    o = options.resolved()
    assert o.seconds is not None and o.write_after is not None
    started = time.monotonic()
    check_host()
    try:
        binary = vmm_path()
    except VmmUnavailable as exc:
        raise HostUnavailable(str(exc)) from None
    release = platform.release()
    era, era_note = (o.era, "") if o.era else kernel_era(release)
    notes = [n for n in (era_note,) if n]
    with lab_lock():
        recovered = recover_journal()
        if recovered:
            notes.append(recovered)
            say(recovered)
        with Host() as host:
            host.mount_tracefs()
            enabled = host.start_tracing(o.buffer_kb)
            ksm_before = host.ksm_counters()
            if o.workload in KSM_WORKLOADS:
                host.start_ksm(o.pages_to_scan, o.sleep_millisecs)
            say(f"running {o.workload}: {o.pages} pages, {o.vcpus} vCPU(s), {o.seconds:g} s")
            code, out, err = _run_vmm(vmm_args(binary, o, str(host_module.TRACEFS / "trace_marker")), o.seconds,
                                      staging / "vmm.txt", tick, memory_limit(o))
            host.stop_tracing()
            ksm_after = host.ksm_counters()
            if code == -signal.SIGKILL:
                raise RuntimeError(f"the VMM did not end within {o.seconds + GRACE:g} s and was killed")
            run = parse_vmm_output(out, "the VMM's output")
            if code == 2:  # vmm.c: an ioctl or mmap this host refuses
                raise HostUnavailable(f"the VMM could not run the guest: {run.reason or err.strip() or code}")
            if code != 0:  # 3: the guest stopped on an exit it should not take, or the VMM's own timeout
                raise RuntimeError(f"the VMM failed (exit {code}): {run.reason or err.strip()}")
            mapping = Mapping(run.hva, run.gfn_base, run.pages, frozenset(run.vcpu_tids.values()))
            lost = _save_trace(staging / "trace.txt", mapping, workload=o.workload, era=era, kernel=release,
                               pages_to_scan=o.pages_to_scan, sleep_millisecs=o.sleep_millisecs,
                               write_after=f"{o.write_after:g}")
        problems = host.problems
    say("reading the trace")
    result = analyse(o, staging / "trace.txt", run, era=era, kernel=release, host=host_description())
    result.era_note, result.events_enabled, result.lost_events = era_note, enabled, lost
    result.ksm_before, result.ksm_after, result.restore_problems = ksm_before, ksm_after, problems
    result.notes = notes + result.notes
    result.wall_seconds = time.monotonic() - started
    return result


def analyse(options: LabOptions, trace: Path, run: VmmRun, *, era: str, kernel: str, host: str) -> LabResult:
    """Everything a run's files say, with the host out of the picture: integrity, conformance,
    measured costs and the prediction (also how the tests read recorded runs)."""
    o = options.resolved()
    assert o.seconds is not None and o.write_after is not None
    measurement = measure(str(trace), run)
    with open_trace(str(trace)) as stream:
        verdict = validate(stream, automaton(era, o.workload))
    total = run.guest_total("reads") + run.guest_total("writes")
    write_fraction = run.guest_total("writes") / total if total else 0.0
    rows, prediction = predict(o.workload, era, pages=o.pages, vcpus=o.vcpus, seconds=o.seconds,
                               accesses_per_s=total / o.seconds, write_fraction=write_fraction,
                               pages_to_scan=o.pages_to_scan, sleep_millisecs=o.sleep_millisecs,
                               write_after=o.write_after, measured=_measured_for_rows(measurement))
    return LabResult(o, era, "", kernel, host, run, measurement, verdict, rows, prediction, [], 0, {}, {}, [])


def options_of(run: VmmRun, header: dict[str, str]) -> LabOptions:
    """The options of a recorded run, from the VMM's first line and the trace's lab header."""
    h = run.header
    return LabOptions(h["workload"], int(h["pages"]), int(h["vcpus"]), float(h["seconds"]), int(h["period_us"]),
                      int(header.get("pages_to_scan", 1000)), int(header.get("sleep_millisecs", 10)),
                      float(header["write_after"]) if "write_after" in header else None,
                      int(h["write_every"]), int(h["slow_cycles"]), int(h["seed"]), header.get("era"))


def _measured_for_rows(m: Measurement) -> dict[str, int]:
    c = m.counts
    return {"merges": c.get("merges", 0), "unmap_events": c.get("unmap_events", 0), "refaults": c.get("refaults", 0),
            "pf_taken": c.get("pf_taken", 0), "exits": c.get("exits", 0), "age": c.get("age", 0)}


def _save_trace(path: Path, mapping: Mapping, **extra: object) -> int:
    """Copy the trace buffer to ``path`` behind the lab header; returns the events lost."""
    lost = 0
    with open(host_module.TRACEFS / "trace", encoding="utf-8", errors="replace") as src, open(path, "w", encoding="utf-8") as dst:
        dst.write(mapping.header(**extra) + "\n")
        for line in src:
            if line.startswith("#"):
                m = OVERRUN.search(line)
                if m:
                    lost = int(m.group(2)) - int(m.group(1))
            dst.write(line)
    return lost


def running_on_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM", "") != "dumb"


def now_utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
