"""The simulator's prediction of a lab run, side by side with what the run measured.

The simulator runs a workload of the same shape: one VM with the run's pages and vCPUs,
identical contents for the KSM workloads, the guest's measured access rate and write
share, ksmd at the run's ``pages_to_scan``/``sleep_millisecs``, for the run's duration.
The simulator has no ``MADV_DONTNEED`` thread and no memslot changes, so for ``zap`` and
``memslot`` it predicts only what does not depend on them (and says so).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmuspec.model import era_config
from mmuspec.simulate.engine import CAUSES, Engine
from mmuspec.simulate.workload import parse_workload

# Touches the simulator needs per vCPU per second: enough that every invalidated page is
# touched again within a few milliseconds, as in the guest (which touches each page
# every few microseconds); more only slows the simulator down without changing counts.
RATE_CAP = 20_000.0
SIMULATED = {"ksm-merge", "cow-break", "aging"}


@dataclass
class Row:
    what: str
    predicted: float | None
    measured: float | None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.predicted is None or self.measured is None or self.predicted == 0:
            return None
        return self.measured / self.predicted

    def to_json(self) -> dict[str, Any]:
        return {"what": self.what, "predicted": self.predicted, "measured": self.measured, "ratio": self.ratio,
                "note": self.note}


def lab_workload_text(workload: str, pages: int, vcpus: int, seconds: float, rate: float, write_fraction: float,
                      pages_to_scan: int, sleep_millisecs: int, write_after: float) -> str:
    """The simulator's workload for a lab run.  KSM runs: every page is written with the
    same bytes when the run starts (the guest's identical pages), and for ``cow-break``
    overwritten with unique bytes when the guest starts writing."""
    ksm = workload in ("ksm-merge", "cow-break")
    text = [f'description = "the shape of a lab run of {workload}"', "seed = 1", "[vms]", "count = 1",
            f"pages = {pages}", f"vcpus = {vcpus}", "[content]", "zero = 0.0", "shared = 0.0", "duplicate = 0.0",
            "[access]", f"rate = {rate:.1f}", f"write_fraction = {write_fraction:.4f}", "working_set = 1.0",
            "zipf = 0.0", "[ksm]", f"pages_to_scan = {pages_to_scan}", f"sleep_millisecs = {sleep_millisecs}"]
    if workload == "cow-break":
        phases = [("reads", write_after, 0.0, "same"), ("writes", seconds - write_after, write_fraction, "unique")]
    else:
        # The VMM writes every page before the guest starts: identical bytes for KSM,
        # distinct ones otherwise (so no first touch maps the zero page).
        phases = [("run", seconds, 0.0 if ksm else write_fraction, "same" if ksm else "unique")]
    for name, duration, wf, fill in phases:
        if duration > 0:
            text += ["[[phases]]", f'name = "{name}"', f"duration = {duration:.3f}", f"write_fraction = {wf:.4f}"]
            if fill:
                text += [f'fill = "{fill}"', "fill_fraction = 1.0"]
    return "\n".join(text) + "\n"


def predict(workload: str, era: str, *, pages: int, vcpus: int, seconds: float, accesses_per_s: float,
            write_fraction: float, pages_to_scan: int, sleep_millisecs: int, write_after: float,
            measured: dict[str, int]) -> tuple[list[Row], dict[str, Any]]:
    rate = min(accesses_per_s / max(vcpus, 1), RATE_CAP)
    text = lab_workload_text(workload, pages, vcpus, seconds, rate, write_fraction, pages_to_scan, sleep_millisecs,
                             write_after)
    wl = parse_workload(text, f"<lab {workload}>", f"lab-{workload}")
    c = Engine(wl, era_config(era, {"arch": "x86"}), wl.seed).run()
    refaults = int(c.exits[CAUSES.index("refault_after_zap")] + c.exits[CAUSES.index("write_to_readonly")]
                   + c.exits[CAUSES.index("refault_after_reclaim")])
    sim = workload in SIMULATED
    na = "" if sim else "the simulator has no MADV_DONTNEED or memslot thread"
    rows = [
        Row("KSM merges", c.merges, measured.get("merges", 0)),
        Row("unmapped ranges (kvm_unmap_hva_range)", c.invalidations if sim else None, measured.get("unmap_events", 0),
            na),
        Row("refaults after an invalidation", refaults if sim else None, measured.get("refaults", 0), na),
        Row("faults taken (KVM pf_taken)", int(c.exits.sum()) if sim else None, measured.get("pf_taken", 0), na),
        Row("VM exits (KVM exits)", int(c.exits.sum()) if sim else None, measured.get("exits", 0),
            "the simulator counts fault exits only" if sim else na),
        Row("ageing calls (kvm_age_hva)", c.aged, measured.get("age", 0)),
    ]
    return rows, {"workload_toml": text, "rate_per_vcpu": rate, "rate_capped": accesses_per_s / max(vcpus, 1) > RATE_CAP}
