"""A fake sysfs/tracefs root for the lab's host logic: directories of plain files shaped like
/sys/kernel/tracing and /sys/kernel/mm/ksm, with the values a host had before a run.

``install`` points ``mmuspec.lab.host`` at them (and its lock and journal into the same
directory) and records every value written, in order, so that a test can see what was
written besides the end state: ``run=2`` before ``run`` goes back, the events enabled.
tracefs's ``set_event`` adds one event per ``open`` without ``O_TRUNC``; a plain file is
overwritten instead, so the fake's ``set_event`` is read from the record, not the file.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

from mmuspec.lab import host

BEFORE_TRACE = {"tracing_on": "1", "buffer_size_kb": "1408", "set_event": "sched:sched_switch"}
BEFORE_KSM = {"run": "0", "pages_to_scan": "100", "sleep_millisecs": "20"}
COUNTERS = {"pages_shared": "0", "pages_sharing": "0", "pages_unshared": "0", "full_scans": "7"}
AVAILABLE = ("kvm:kvm_unmap_hva_range", "kvm:kvm_age_hva", "kvm:kvm_test_age_hva", "kvm:kvm_exit",
             "kvm:kvm_page_fault", "kvmmmu:kvm_mmu_spte_requested", "kvmmmu:kvm_mmu_prepare_zap_page",
             "ksm:ksm_merge_with_ksm_page", "sched:sched_switch")


def make(root: Path) -> tuple[Path, Path]:
    tracefs, ksm = root / "tracing", root / "ksm"
    tracefs.mkdir(parents=True)
    ksm.mkdir(parents=True)
    for name, value in BEFORE_TRACE.items():
        (tracefs / name).write_text(value + "\n")
    (tracefs / "available_events").write_text("\n".join(AVAILABLE) + "\n")
    (tracefs / "trace").write_text("# tracer: nop\n")
    (tracefs / "trace_marker").write_text("")
    for name, value in {**BEFORE_KSM, **COUNTERS}.items():
        (ksm / name).write_text(value + "\n")
    return tracefs, ksm


def install(monkeypatch, root: Path) -> list[tuple[str, str]]:
    """Point the host module at a fake root under ``root``; returns the record of writes."""
    tracefs, ksm = make(root)
    monkeypatch.setattr(host, "TRACEFS", tracefs)
    monkeypatch.setattr(host, "KSM", ksm)
    monkeypatch.setattr(host, "LOCK", root / "lab.lock")
    monkeypatch.setattr(host, "JOURNAL", root / "lab.restore.json")
    writes: list[tuple[str, str]] = []
    real_write = host._write

    def recording_write(path: Path, value: str) -> None:
        writes.append((f"{path.parent.name}/{path.name}", value.strip()))
        real_write(path, value)

    def recording_set_events(events: str) -> None:
        writes.append(("tracing/set_event", " ".join(events.split())))
        real_write(tracefs / "set_event", events)

    monkeypatch.setattr(host, "_write", recording_write)
    monkeypatch.setattr(host, "_set_events", recording_set_events)
    return writes


def state(root: Path) -> dict[str, str]:
    """The fake host's settings now."""
    out = {f"tracing/{k}": (root / "tracing" / k).read_text().strip() for k in BEFORE_TRACE}
    out |= {f"ksm/{k}": (root / "ksm" / k).read_text().strip() for k in BEFORE_KSM}
    return out


def as_before(root: Path) -> dict[str, str]:
    return {**{f"tracing/{k}": v for k, v in BEFORE_TRACE.items()}, **{f"ksm/{k}": v for k, v in BEFORE_KSM.items()}}


def child_script(root: Path, then: str) -> str:
    """A Python program that takes the fake host at ``root`` as a lab run does (tracing on,
    KSM running), prints ``ready`` and then runs ``then`` (a statement) inside the run."""
    return textwrap.dedent(f"""
        import os, signal, sys, time
        from pathlib import Path
        sys.path[:0] = {json.dumps(sys.path)}
        from mmuspec.lab import host
        root = Path({str(root)!r})
        host.TRACEFS, host.KSM = root / "tracing", root / "ksm"
        host.LOCK, host.JOURNAL = root / "lab.lock", root / "lab.restore.json"
        host._set_events = lambda events: host._write(host.TRACEFS / "set_event", events)
        with host.lab_lock():
            with host.Host() as h:
                h.start_tracing(4096)
                h.start_ksm(1000, 10)
                print("ready", flush=True)
                {then}
        print("restored", flush=True)
    """)


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
