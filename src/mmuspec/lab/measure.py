"""What a lab run measured: counts and per-event costs, from its trace and the guest's clock.

Counts come from the page events of the trace (``traces/conformance.page_events``) and
from KVM's binary statistics.  Costs, each a statistic of the run's samples (the median unless
said otherwise; see ``Samples``):

* ``ksm_merge_us``: ksmd's first ``kvm_unmap_hva_range`` of a page (``write_protect_page()``'s
  start) to its ``ksm_merge_with_ksm_page``: ``write_protect_page()``, the comparison and
  ``replace_page()``, one stable-tree merge;
* ``merge_window_us``: ``replace_page()``'s unmap to the merge event: the window in which a
  fault races the merge;
* ``ksm_scan_us``: a full scan that fits in one batch and merges nothing (``ksm_start_scan``
  to ``ksm_stop_scan``) over the rmap items it walked, its tenth percentile (see ``Samples``);
  it includes the scan's fixed work (``lru_add_drain_all()`` at its start), spread over few
  items in a small guest;
* ``fault_us``: a guest access that took an exit and installed the SPTE again after an
  invalidation, timed by the guest itself (``rdtsc`` around the access), matched to the
  ``kvm_mmu_spte_requested`` of its gfn inside that interval (give or take ``SLACK``).  It includes the exit and
  entry: on this kind of host they cannot be separated;
* ``cow_us``: the same for a guest write that broke COW (an unmap from the vCPU's own
  thread before the map), less ``fault_us``.

What has no tracepoint at both ends (invalidate_range_end, the TLB flush, change_pte, a
VM exit alone) is not measured, and the profile says so.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mmuspec.lab.vmm_output import VmmRun
from mmuspec.traces.conformance import Mapping, PageEvent, Reading, page_events, read_header
from mmuspec.traces.reader import open_trace

UNMAPS = ("unmap:ksmd", "unmap:mm", "zap-shadow")
# How far apart the guest's TSC and the trace's clock may be when an access is matched
# to its map event: the guest's TSC offset (zero where KVM lets the VMM set it, not
# always exactly) and the trace marker's write are a few tens of microseconds apart.
SLACK = 100e-6


@dataclass
class Samples:
    """A cost's samples and the statistic that stands for them: the median, or for ksmd's
    scan the tenth percentile (ksmd shares the cores with the vCPU threads and the rest of
    the host, and a scan it was preempted in is wall time, not the CPU time it costs).
    Under ten samples have no tenth percentile: the median stands for them, and `taken`
    says so, so that no report calls it a percentile."""

    values: list[float] = field(default_factory=list)
    statistic: str = "median"

    def taken(self) -> str | None:
        """The statistic `value` is over these samples: ``median`` or ``p10`` (None without samples)."""
        if not self.values:
            return None
        return "p10" if self.statistic == "p10" and len(self.values) >= 10 else "median"

    def value(self) -> float | None:
        """The value of the cost: its statistic over the samples (None without samples)."""
        if self.taken() == "p10":
            return statistics.quantiles(self.values, n=10)[0]
        return statistics.median(self.values) if self.values else None


@dataclass
class Measurement:
    counts: dict[str, int]
    costs: dict[str, Samples]
    timeline: list[tuple[float, int, str]]  # (seconds since start, page, kind)
    reading: Reading
    tsc_hz: float
    integrity: list[dict[str, Any]]  # mismatches with the trace events around them

    def cost_values(self) -> dict[str, float]:
        return {k: round(m, 3) for k, s in self.costs.items() if (m := s.value()) is not None}

    def to_json(self) -> dict[str, Any]:
        return {"counts": self.counts,
                "costs_us": {k: {"value": s.value(), "statistic": s.taken(), "samples": len(s.values)}
                             for k, s in self.costs.items()},
                "tsc_hz": self.tsc_hz, "integrity_violations": self.integrity}


def _tsc_of(reading: Reading, run: VmmRun) -> tuple[float, float, float]:
    """(trace ts at start, tsc at start, tsc per trace second) from the markers, else the VMM's clock."""
    hz = run.tsc_hz
    if "start" in reading.markers:
        ts0, tsc0 = reading.markers["start"]
        if "end" in reading.markers and reading.markers["end"][0] > ts0:
            ts1, tsc1 = reading.markers["end"]
            hz = (tsc1 - tsc0) / (ts1 - ts0)
        return ts0, float(tsc0), hz
    return 0.0, float(run.clocks["start"][0]), hz


def measure(trace_path: str, run: VmmRun, pages_to_scan: int = 0) -> Measurement:
    with open_trace(trace_path) as text:
        stream = iter(text)
        header, again = read_header(stream)
        mapping = header or Mapping(run.hva, run.gfn_base, run.pages, frozenset(run.vcpu_tids.values()))
        reading = Reading()
        events = list(page_events([*again, *stream], mapping, reading, markers=header is not None,
                                  first_line=1 if again else 2))
    ts0, tsc0, hz = _tsc_of(reading, run)
    counts: dict[str, int] = defaultdict(int)
    costs = {k: Samples() for k in ("ksm_merge_us", "merge_window_us", "fault_us", "cow_us")}
    costs["ksm_scan_us"] = Samples(statistic="p10")
    batch = pages_to_scan
    timeline: list[tuple[float, int, str]] = []
    merge_start: dict[int, float] = {}
    last_unmap: dict[int, tuple[float, str, int]] = {}
    invalidated: dict[int, str] = {}  # page -> why its SPTE went since its last map
    maps: dict[int, list[tuple[float, str]]] = defaultdict(list)
    unmap_lines: set[int] = set()
    scan: dict[int, tuple[float, bool]] = {}
    vcpu_tids = set(run.vcpu_tids.values())
    for ev in events:
        if ev.page is None or ev.label.startswith("merge"):
            _scan(ev, scan, costs, batch)
        if ev.page is None:
            continue
        page, label = ev.page, ev.label
        counts[label] += 1
        if label in UNMAPS:
            if label != "zap-shadow":
                unmap_lines.add(ev.line)
            cause = "cow" if label == "unmap:mm" and ev.pid in vcpu_tids else label
            invalidated[page] = cause
            if label == "unmap:ksmd":
                merge_start.setdefault(page, ev.ts)
            last_unmap[page] = (ev.ts, label, ev.pid)
            timeline.append((ev.ts - ts0, page, "unmap"))
        elif label.startswith("merge"):
            if label == "merge" and page in merge_start:
                costs["ksm_merge_us"].values.append((ev.ts - merge_start[page]) * 1e6)
                if page in last_unmap:
                    costs["merge_window_us"].values.append((ev.ts - last_unmap[page][0]) * 1e6)
            merge_start.pop(page, None)
            if label != "merge-failed":
                counts["merges"] += 1
                timeline.append((ev.ts - ts0, page, "merge"))
        elif label == "map":
            why = invalidated.pop(page, "first" if page not in maps else "other")
            maps[page].append((ev.ts, why))
            if why in UNMAPS or why == "cow":
                counts["refaults"] += 1
                timeline.append((ev.ts - ts0, page, "refault"))
        elif label in ("age", "test-age"):
            timeline.append((ev.ts - ts0, page, "age"))
    counts["unmap_events"] = len(unmap_lines)
    _refault_costs(run, maps, ts0, tsc0, hz, costs)
    fault = costs["fault_us"].value()
    if fault is not None and costs["cow_us"].values:
        costs["cow_us"].values = [v - fault for v in costs["cow_us"].values]
    counts["exits"] = run.stat_delta("exits")
    counts["pf_taken"] = run.stat_delta("pf_taken")
    counts["pf_fixed"] = run.stat_delta("pf_fixed")
    counts["remote_tlb_flush"] = run.stat_delta("remote_tlb_flush", "vm")
    counts["guest_slow_accesses"] = run.guest_total("slow")
    integrity = [_around(m, events, mapping, ts0, tsc0, hz) for m in run.mismatches]
    return Measurement(dict(counts), costs, timeline, reading, hz, integrity)


def _scan(ev: PageEvent, scan: dict[int, tuple[float, bool]], costs: dict[str, Samples], batch: int) -> None:
    """A full scan of ksmd with no merge in it (of any process's page), per rmap item, when
    it fits in one batch of ``pages_to_scan`` (``batch``; 0: unknown): a longer one has
    ksmd's ``sleep_millisecs`` between its batches inside it."""
    if ev.label == "ksm_start_scan":
        scan[ev.pid] = (ev.ts, False)
    elif ev.label.startswith("merge"):
        if ev.pid in scan:
            scan[ev.pid] = (scan[ev.pid][0], True)
    elif ev.pid in scan:
        start, merged = scan.pop(ev.pid)
        items = int(ev.fields.get("rmap_size", 0))
        if items > 0 and not merged and (batch == 0 or items <= batch):
            costs["ksm_scan_us"].values.append((ev.ts - start) * 1e6 / items)


def _refault_costs(run: VmmRun, maps: dict[int, list[tuple[float, str]]], ts0: float, tsc0: float, hz: float,
                   costs: dict[str, Samples]) -> None:
    """Guest-timed accesses that contain a map event of their gfn after an invalidation."""
    base = run.gfn_base
    for slow in run.slow:
        page = slow["gfn"] - base
        events = maps.get(page)
        if not events:
            continue
        t_start = ts0 + (slow["tsc"] - tsc0) / hz - SLACK
        t_end = t_start + slow["cycles"] / hz + 2 * SLACK
        for ts, why in events:
            if t_start <= ts <= t_end:
                us = slow["cycles"] / hz * 1e6
                if why == "cow":
                    costs["cow_us"].values.append(us)
                elif why in UNMAPS:
                    costs["fault_us"].values.append(us)
                break


def _around(mismatch: dict[str, int], events: list[PageEvent], mapping: Mapping, ts0: float, tsc0: float,
            hz: float, window: float = 0.002) -> dict[str, Any]:
    page = mismatch["gfn"] - (mapping.gfn or 0)
    t = ts0 + (mismatch["tsc"] - tsc0) / hz
    near = [f"{e.line}: {e.text.strip()}" for e in events if e.page == page and abs(e.ts - t) <= window]
    return {**mismatch, "trace_ts": round(t, 6), "events_around": near[:20]}
