"""Running a workload under several eras and collecting what ``simulate`` reports."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmuspec.model import Config, Variant
from mmuspec.simulate.costs import CostModel
from mmuspec.simulate.engine import CAUSES, PAGE, Counters, Engine
from mmuspec.simulate.workload import Workload


@dataclass
class EraResult:
    label: str
    era: str
    switches: dict[str, Any]
    exits: dict[str, int]
    exits_total: int
    retries: int
    cow_faults: int
    merges: int
    change_pte_calls: int
    change_pte_installed_spte: int
    change_pte_repointed_spte: int
    change_pte_removed_spte: int
    spte_zaps: int
    tlb_flushes: int
    pages_reclaimed: int
    ksm: dict[str, int]
    guest_time_lost_s: float
    host_cpu_s: float
    guest_time_lost_per_s: float
    guest_time_lost_per_gib_merged_s: float | None
    costs: dict[str, float]
    wall_seconds: float
    # Memory KSM saved over the run (the end value alone can hide it: ltp-ksm02 unmerges at the end).
    saved_mib_end: float = 0.0
    saved_mib_peak: float = 0.0
    saved_mib_mean: float = 0.0
    # Guest time lost in % of all vCPU time (VMs x vCPUs x simulated seconds), in all and by cause.
    guest_time_lost_pct: float = 0.0
    guest_time_lost_pct_by_cause: dict[str, float] = field(default_factory=dict)
    series: dict[str, list[float]] = field(repr=False, default_factory=dict)
    counters: Counters | None = field(default=None, repr=False)  # what happened, to re-cost without re-running
    vcpu_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("counters", "vcpu_seconds")}

    def recost(self, changes: dict[str, float]) -> tuple[float, float, float]:
        """Guest time lost (s and % of vCPU time) and host CPU (s) with some costs changed: the same
        events, priced again (only for costs that do not shape the run, ``costs.RECOST_KEYS``)."""
        assert self.counters is not None
        costs = CostModel(**{**self.costs, **changes})
        lost = guest_time_lost_us(self.counters, costs) / 1e6
        return lost, 100 * lost / self.vcpu_seconds, host_cpu_us(self.counters, costs) / 1e6


def guest_time_lost_us(c: Counters, costs: CostModel) -> float:
    """Time vCPUs do not run guest code: each exit's round trip and fault handling, each
    retry, each COW the fault had to do, each remote TLB flush."""
    exits = int(c.exits.sum())
    return (exits * (costs.vm_exit_us + costs.fault_us) + c.retries * costs.retry_us + c.cow * costs.cow_us
            + c.flushes * costs.tlb_flush_us)


LOST_UNIT = "% of vCPU time"  # the one unit of guest time lost in simulate, sweep and the report
LOST_CAUSES = ("refaults_after_zaps", "retries", "cow", "first_touch", "tlb_flushes", "refaults_after_reclaim")


def guest_time_lost_by_cause_us(c: Counters, costs: CostModel) -> dict[str, float]:
    """``guest_time_lost_us`` split by what cost it: each exit by its cause (a write to a read-only
    page is the COW's), the retries, the copies, the flushes.  The parts add up to the whole."""
    exit_us = costs.vm_exit_us + costs.fault_us
    e = dict(zip(CAUSES, (int(n) for n in c.exits), strict=True))
    return {"refaults_after_zaps": e["refault_after_zap"] * exit_us,
            "retries": e["retry_after_invalidation"] * exit_us + c.retries * costs.retry_us,
            "cow": e["write_to_readonly"] * exit_us + c.cow * costs.cow_us,
            "first_touch": e["first_touch"] * exit_us,
            "tlb_flushes": c.flushes * costs.tlb_flush_us,
            "refaults_after_reclaim": e["refault_after_reclaim"] * exit_us}


def host_cpu_us(c: Counters, costs: CostModel) -> float:
    """Host CPU: ksmd's scanning and merging, the notifier calls, and fault handling."""
    exits = int(c.exits.sum())
    return (c.scans * costs.ksm_scan_us + c.merges * costs.ksm_merge_us + c.aged * costs.aging_us
            + c.invalidations * (costs.invalidate_start_us + costs.invalidate_end_us)
            + c.change_pte_calls * costs.change_pte_us + exits * costs.fault_us + c.cow * costs.cow_us)


def simulate_era(workload: Workload, label: str, era: str, config: Config, seed: int,
                 variant: Variant | None = None, progress: Callable[[float], None] | None = None) -> EraResult:
    """Simulate ``workload`` in one era; ``progress(t)`` hears of each simulated second reached."""
    start = time.perf_counter()
    engine = Engine(workload, config, seed, variant=variant)
    c = engine.run(progress)
    costs = engine.costs
    ksm = engine.ksm_counters()
    lost = guest_time_lost_us(c, costs) / 1e6
    merged_gib = ksm["pages_sharing"] * PAGE / 2**30
    seconds = np.arange(1, engine.bins + 1) * engine.bin_seconds
    series: dict[str, list[float]] = {"t": seconds.tolist(), "saved_mib": engine.saved_series.tolist()}
    for i, cause in enumerate(CAUSES):
        series[f"exits_per_s.{cause}"] = (engine.exit_series[i] / engine.bin_seconds).tolist()
    series["exits_per_s"] = (engine.exit_series.sum(axis=0) / engine.bin_seconds).tolist()
    vcpu_us = workload.vms * workload.vcpus * workload.duration * 1e6
    by_cause = guest_time_lost_by_cause_us(c, costs)
    saved = engine.saved_series
    return EraResult(
        label=label,
        era=era,
        switches=config.as_dict(),
        exits={cause: int(n) for cause, n in zip(CAUSES, c.exits, strict=True)},
        exits_total=int(c.exits.sum()),
        retries=c.retries,
        cow_faults=c.cow,
        merges=c.merges,
        change_pte_calls=c.change_pte_calls,
        change_pte_installed_spte=c.change_pte_installed,
        change_pte_repointed_spte=c.change_pte_repointed,
        change_pte_removed_spte=c.change_pte_removed,
        spte_zaps=c.zaps,
        tlb_flushes=c.flushes,
        pages_reclaimed=c.reclaimed,
        ksm=ksm,
        guest_time_lost_s=lost,
        host_cpu_s=host_cpu_us(c, costs) / 1e6,
        guest_time_lost_per_s=lost / workload.duration,
        guest_time_lost_per_gib_merged_s=lost / merged_gib if merged_gib else None,
        costs=costs.as_dict(),
        wall_seconds=time.perf_counter() - start,
        series=series,
        saved_mib_end=ksm["pages_sharing"] * PAGE / 2**20,
        saved_mib_peak=float(saved.max()) if len(saved) else 0.0,
        saved_mib_mean=float(saved.mean()) if len(saved) else 0.0,
        guest_time_lost_pct=100 * lost * 1e6 / vcpu_us,
        guest_time_lost_pct_by_cause={k: 100 * v / vcpu_us for k, v in by_cause.items()},
        counters=c,
        vcpu_seconds=vcpu_us / 1e6,
    )


SCHEMA = "mmuspec.simulate/1"


def results_json(workload: Workload, seed: int, results: list[EraResult]) -> dict[str, Any]:
    """``results.json``; docs/json.md documents every field."""
    return {
        "schema": SCHEMA,
        "workload": {
            "name": workload.name,
            "source": workload.source,
            "vms": workload.vms,
            "pages_per_vm": workload.pages_per_vm,
            "vcpus": workload.vcpus,
            "duration_s": workload.duration,
            "phases": [p.__dict__ for p in workload.phases],
            "ksm": {"pages_to_scan": workload.pages_to_scan, "sleep_millisecs": workload.sleep_millisecs,
                    "max_page_sharing": workload.max_page_sharing},
            "reclaim": {"pages_per_second": workload.reclaim_rate, "idle_seconds": workload.idle_seconds},
        },
        "seed": seed,
        "eras": {r.label: {k: v for k, v in r.to_json().items() if k != "series"} for r in results},
        "series": {r.label: r.series for r in results},
    }
