"""What would this recorded host activity have cost in another era?

The trace's stage-2 faults and notifier activity become an explicit schedule for
the simulator (``simulate/schedule.py``): each fault ``trace stats`` counts is a
guest access to its gfn (a write if its syndrome says so; a fault whose kind the
trace does not print replays as a read); each SPTE that an invalidation from
ksmd removed is a KSM merge of that gfn (ksmd only write-protects a page it found
identical to another); an SPTE removed by any other invalidation (munmap,
reclaim, migration) is a plain zap.  Every era then runs the same schedule
through the model-derived page outcomes.

The recorded era's exits are the trace's own: every recorded fault is one exit
under the kernel that recorded it.  The model's replay of the recorded era can
differ from that count (the trace misses invalidations that happened before it
started or were not traced; the model counts a fault that retries as two exits
where the trace shows two faults), so an era's estimate is the recorded count
plus the difference the model finds between that era and the recorded one on
the same schedule.  The recorded era therefore reproduces ``trace stats``
exactly, and the other eras inherit the model's view of what changed.

What it cannot see: accesses that did not fault under the recorded kernel are
not in the trace.  An era that would fault on them (one that zaps where the
recorded kernel kept the SPTE) takes exits the estimate does not count, so every
estimate is a lower bound on that era's exits; it is exact only for what the
recorded faults themselves would cost.  Faults without a guest address (the
trace has kvm_exit but not kvm_page_fault/kvm_guest_fault) cannot be placed on
a page and are carried unchanged into every era.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from mmuspec.model import Config, era_config
from mmuspec.simulate.schedule import Event, simulate_schedule_detailed
from mmuspec.traces.era import EraGuess
from mmuspec.traces.reader import Record
from mmuspec.traces.stats import StatsBuilder


@dataclass
class RecordedWorkload:
    events: list[Event]
    pages: int
    faults: int  # stage-2 faults, counted as ``trace stats`` counts them
    placed: int  # of which with a guest address, replayed as accesses
    refaults: int  # of which on a page whose SPTE an invalidation removed (``trace stats``' refaults)
    exits: int
    merges: int
    zaps: int
    unparsed: int
    era: EraGuess
    arch: str | None

    def to_json(self) -> dict[str, Any]:
        return {"stage2_faults": self.faults, "faults_with_address": self.placed, "refaults": self.refaults,
                "exits": self.exits,
                "ksm_invalidations": self.merges, "other_invalidations": self.zaps, "pages": self.pages,
                "arch": self.arch, "recorded_era": self.era.to_json()}


@dataclass
class WhatIf:
    recorded: RecordedWorkload
    recorded_label: str  # the column that is the recorded era
    results: dict[str, dict[str, Any]]  # the model's replay, per column
    estimates: dict[str, int]  # VM exits from stage-2 faults, per column

    def to_json(self) -> dict[str, Any]:
        return {"recorded": self.recorded.to_json(), "recorded_column": self.recorded_label,
                "estimated_exits": self.estimates, "eras": self.results,
                "bound": "the recorded era's exits are the trace's own; other eras add the model's difference on "
                         "the recorded faults and are lower bounds (accesses that did not fault under the "
                         "recorded kernel are not in the trace)"}


def workload_from_trace(stream: Iterable[str], *, notifier_window: float = 0.001) -> RecordedWorkload:
    """The schedule of a trace.  A page is a (VM, gfn) pair, the VM being the faulting thread's process
    when the trace prints it; a zap does not say which VM it hit, so it applies to that gfn in every VM
    the trace has faulted on [I: exact on a one-VM trace]."""
    index: dict[tuple[int | None, int], int] = {}
    by_gfn: dict[int, list[int]] = {}
    events: list[Event] = []
    tally = {"placed": 0, "merges": 0, "zaps": 0}

    def page(vm: int | None, gfn: int) -> int:
        key = (vm, gfn)
        if key not in index:
            index[key] = len(index)
            by_gfn.setdefault(gfn, []).append(index[key])
        return index[key]

    def fault(record: Record, gfn: int | None, kind: str) -> None:
        if gfn is not None:
            tally["placed"] += 1
            events.append(("touch", page(record.tgid, gfn), kind == "write"))

    def zap(_record: Record, gfn: int, task: str) -> None:
        merge = "ksmd" in task  # ksmd only write-protects a page it found identical to another
        tally["merges" if merge else "zaps"] += 1
        for p in by_gfn.get(gfn) or [page(None, gfn)]:
            events.append(("scan", p) if merge else ("zap", p))

    builder = StatsBuilder(notifier_window=notifier_window, on_fault=fault, on_zap=zap)
    for number, text in enumerate(stream, start=1):
        builder.feed(number, text)
    s = builder.finish()
    assert s.era is not None
    return RecordedWorkload(events, max(1, len(index)), s.faults, tally["placed"], s.notifier_refaults,
                            sum(s.exit_reasons.values()),
                            tally["merges"], tally["zaps"], s.unparsed, s.era, s.arch)


def with_recorded_era(recorded: RecordedWorkload, era: str) -> RecordedWorkload:
    """The same workload, taken to be recorded under ``era`` (``--recorded-era``)."""
    return replace(recorded, era=EraGuess(era, False, (era,), ("given with --recorded-era",)))


def recorded_config(recorded: RecordedWorkload, arch: str | None = None) -> Config:
    """The recorded kernel: its era, on the trace's architecture (else ``arch``), with no other change."""
    chosen = recorded.arch or arch
    return era_config(recorded.era.era, {"arch": chosen} if chosen else None)


def whatif(recorded: RecordedWorkload, eras: list[tuple[str, Config]], base: Config | None = None) -> WhatIf:
    """Replay ``recorded`` in every era of ``eras`` and in the recorded one (``base``, by default
    ``recorded_config(recorded)``), and calibrate the exits on the recorded count."""
    base = base if base is not None else recorded_config(recorded)
    columns = dict(eras)
    label = recorded.era.era
    if columns.get(label) != base:
        label = f"recorded {label}"
        columns = {label: base, **columns}
    results = {name: simulate_schedule_detailed(config, recorded.pages, recorded.events)
               for name, config in columns.items()}
    model_recorded = int(results[label]["exits_total"])
    estimates = {name: max(0, recorded.faults + int(r["exits_total"]) - model_recorded) for name, r in results.items()}
    return WhatIf(recorded, label, results, estimates)
