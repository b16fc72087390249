"""Explicit schedules: the simulator and the exact model driven by the same events.

A schedule is a list of ``("touch", page, write)`` and ``("scan", page)`` events on
one VM whose pages all start as private copies of a page that a stable KSM page
already holds (the checker's ksm-merge world).  ``simulate_schedule`` applies them
with the simulator's vectorised code; ``model_schedule`` runs each event as one
thread's steps to completion on the exact model.  The two must count the same,
which is what keeps the fast path from drifting from the semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mmuspec.model import Config, Kernel, Scenario
from mmuspec.model import guest as g
from mmuspec.model import ksm as k
from mmuspec.simulate.engine import CAUSES, Engine
from mmuspec.simulate.probes import P_ANON, Outcome, _run, _tally
from mmuspec.simulate.workload import Phase, Workload

Event = tuple[str, int] | tuple[str, int, bool]
MAX_PAGES = 4


@dataclass(frozen=True)
class Tally:
    exits: int = 0
    retries: int = 0
    cow: int = 0
    merges: int = 0
    change_pte_calls: int = 0
    change_pte_installed: int = 0
    change_pte_repointed: int = 0
    change_pte_removed: int = 0
    zaps: int = 0


def _workload(pages: int) -> Workload:
    still = Phase("schedule", 1e6, 0.0, 0.0, 1.0, 1.0, "", 0.0)
    return Workload("schedule", "explicit events", 0, 1, pages, 1, 0.0, 1.0, 0.0, (still,), 1, 1, 256, {})


def _run_schedule(config: Config, pages: int, events: list[Event], *, identical_on_scan: bool) -> Engine:
    engine = Engine(_workload(pages), config, seed=0, races=False)
    engine.pte[:] = P_ANON
    engine.content[:] = engine.klass[:] = 1 + np.zeros(pages, dtype=np.int32)
    node = engine._new_node(1)
    engine.node_mappers[node] = 1  # another VM maps the stable page
    engine.stable_of[1] = node
    for when, event in enumerate(events, start=1):
        page = np.array([event[1]], dtype=np.int64)
        at = np.array([float(when)])
        if event[0] == "touch":
            engine.access(page, at, np.array([bool(event[2])]))  # type: ignore[misc]
        elif event[0] == "scan":
            if identical_on_scan and engine.pte[event[1]] == P_ANON:
                engine.content[event[1]] = 1  # ksmd found it identical: it write-protected it
            engine.scan(page, at)
        else:  # a plain invalidation: the SPTE goes, the page stays
            engine.spte[event[1]] = 0
    return engine


def simulate_schedule(config: Config, pages: int, events: list[Event]) -> Tally:
    c = _run_schedule(config, pages, events, identical_on_scan=False).c
    return Tally(int(c.exits.sum()), c.retries, c.cow, c.merges, c.change_pte_calls, c.change_pte_installed, c.change_pte_repointed,
                 c.change_pte_removed, c.zaps)


def simulate_schedule_detailed(config: Config, pages: int, events: list[Event]) -> dict[str, Any]:
    """The counters ``trace whatif`` reports for one era."""
    c = _run_schedule(config, pages, events, identical_on_scan=True).c
    return {"exits": {cause: int(n) for cause, n in zip(CAUSES, c.exits, strict=True)},
            "exits_total": int(c.exits.sum()), "retries": c.retries, "cow_faults": c.cow, "merges": c.merges,
            "change_pte_calls": c.change_pte_calls, "change_pte_installed_spte": c.change_pte_installed,
            "change_pte_repointed_spte": c.change_pte_repointed, "change_pte_removed_spte": c.change_pte_removed,
            "spte_zaps": c.zaps, "tlb_flushes": c.flushes}


def model_schedule(config: Config, pages: int, events: list[Event]) -> Tally:
    if not 1 <= pages <= MAX_PAGES:
        raise ValueError(f"the exact model runs at most {MAX_PAGES} pages")
    scans = [e[1] for e in events if e[0] == "scan"]
    touches = [e for e in events if e[0] == "touch"]
    scenario = Scenario(
        name="schedule", description="explicit events", gfns=pages, initial=("anon",) * pages,
        table_kept_alive=True, stable_page=True, merge=tuple(scans), vcpus=1, accesses=max(1, len(touches)),
        ops=("read", "write"), guest_gfns=tuple(range(pages)), zap=(), aging=(), reclaim=False)
    kernel = Kernel(scenario, config)
    s = kernel.initial()
    out = Outcome()
    ksmd = next((t.index for t in kernel.threads if t.kind == "ksmd"), None)
    for event in events:
        if event[0] == "touch":
            action = kernel.action_by_text(f"vcpu0:guest_access({'write' if event[2] else 'read'} gfn {event[1]})")  # type: ignore[misc]
            before = out.exits
            s, out = _tally(kernel, s, action, out)
            if s[kernel.threads[0].base] == g.GUP:
                out = replace(out, exits=before + 1)
            s, out = _run(kernel, s, 0, {g.NEW, g.DONE}, out)
        else:
            assert ksmd is not None
            s, out = _run(kernel, s, ksmd, {k.SCAN, k.DONE}, out, skip_first=True)
    return Tally(out.exits, out.retries, out.cow, out.merged, out.change_pte_calls, out.change_pte_installed,
                 out.change_pte_repointed, out.change_pte_removed, out.zaps)
