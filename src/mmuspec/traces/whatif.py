"""What would this recorded host activity have cost in another era?

The trace's page faults and notifier activity become an explicit schedule for the
simulator (``simulate/schedule.py``): each ``kvm_page_fault`` is a guest access to
its gfn (a write if the exit qualification says so); each SPTE that an
invalidation from ksmd removed is a KSM merge of that gfn (ksmd only
write-protects a page it found identical to another); an SPTE removed by any
other invalidation (munmap, reclaim, migration) is a plain zap.  Every era then
runs the same schedule through the model-derived page outcomes, and the table
says how many exits each would have taken.  Accesses that did not fault in the
recorded kernel are not in the trace; in an era that keeps more SPTEs alive they
would not fault either, so the estimate is a lower bound on the recorded era's own
count and exact for the others' savings on the recorded faults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from mmuspec.model import Config
from mmuspec.simulate.schedule import Event, simulate_schedule_detailed
from mmuspec.traces.reader import Malformed, parse_line
from mmuspec.traces.stats import FAULT_REASONS, PRESENT, fault_kind


@dataclass
class RecordedWorkload:
    events: list[Event]
    pages: int
    faults: int
    exits: int
    merges: int
    zaps: int
    unparsed: int


def workload_from_trace(stream: IO[str], *, notifier_window: float = 0.001) -> RecordedWorkload:
    index: dict[int, int] = {}
    events: list[Event] = []
    last_unmap: dict[int, tuple[float, str]] = {}
    isa = "vmx"
    last_qual: dict[int, int] = {}
    faults = exits = merges = zaps = unparsed = 0

    def page(gfn: int) -> int:
        return index.setdefault(gfn, len(index))

    for number, text in enumerate(stream, start=1):
        r = parse_line(number, text)
        if r is None:
            continue
        if isinstance(r, Malformed):
            unparsed += 1
            continue
        f = r.fields
        if f is None:
            continue
        if r.event == "kvm_exit":
            exits += 1
            if f["reason"] in FAULT_REASONS:
                isa = FAULT_REASONS[f["reason"]]
                last_qual[r.pid] = int(f.get("info1", 0))
        elif r.event == "kvm_page_fault":
            faults += 1
            code = int(f["error_code"]) if isa == "svm" else last_qual.get(r.pid, int(f["error_code"]))
            events.append(("touch", page(int(f["address"]) >> 12), fault_kind(isa, code) == "write"))
        elif r.event == "kvm_unmap_hva_range":
            last_unmap[r.pid] = (r.ts, r.comm)
        elif r.event == "kvm_tdp_mmu_spte_changed" and int(f["old_spte"]) & PRESENT and not int(f["new_spte"]) & PRESENT:
            started = last_unmap.get(r.pid)
            if started is None or r.ts - started[0] > notifier_window:
                continue
            if "ksmd" in started[1]:
                merges += 1
                events.append(("scan", page(int(f["gfn"]))))
            else:
                zaps += 1
                events.append(("zap", page(int(f["gfn"]))))
    return RecordedWorkload(events, max(1, len(index)), faults, exits, merges, zaps, unparsed)


def whatif(recorded: RecordedWorkload, eras: list[tuple[str, Config]]) -> dict[str, dict[str, Any]]:
    return {label: simulate_schedule_detailed(config, recorded.pages, recorded.events) for label, config in eras}
