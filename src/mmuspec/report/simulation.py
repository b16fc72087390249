"""Simulation results as a table: one column per era, one row per measure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from mmuspec.simulate.engine import CAUSES, PAGE
from mmuspec.simulate.run import LOST_CAUSES, LOST_UNIT, EraResult
from mmuspec.simulate.workload import Workload


def _rows(results: Sequence[EraResult], duration: float) -> list[tuple[str, list[str]]]:
    def col(f: object) -> list[str]:
        return [f(r) for r in results]  # type: ignore[operator]

    rows = [("VM exits", col(lambda r: f"{r.exits_total:,}")),
            ("VM exits per second", col(lambda r: f"{r.exits_total / duration:,.1f}"))]
    reclaiming = any(r.pages_reclaimed for r in results)
    rows += [(f"  {cause}", col(lambda r, c=cause: f"{r.exits[c]:,}")) for cause in CAUSES
             if reclaiming or cause != "refault_after_reclaim"]
    rows += [
        ("change_pte calls", col(lambda r: f"{r.change_pte_calls:,}")),
        ("  that installed an SPTE", col(lambda r: f"{r.change_pte_installed_spte:,}")),
        ("  that re-pointed an SPTE", col(lambda r: f"{r.change_pte_repointed_spte:,}")),
        ("  that removed an SPTE", col(lambda r: f"{r.change_pte_removed_spte:,}")),
        ("SPTE zaps", col(lambda r: f"{r.spte_zaps:,}")),
        ("TLB flushes", col(lambda r: f"{r.tlb_flushes:,}")),
        ("faults that broke COW", col(lambda r: f"{r.cow_faults:,}")),
        ("KSM merges", col(lambda r: f"{r.merges:,}")),
    ]
    if reclaiming:
        rows.append(("pages reclaimed to swap", col(lambda r: f"{r.pages_reclaimed:,}")))
    rows += [(f"ksm {k}", col(lambda r, k=k: f"{r.ksm[k]:,}")) for k in
             ("pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "full_scans", "cow_ksm")]
    rows += [
        ("memory saved at the end (MiB)", col(lambda r: f"{r.saved_mib_end:,.1f}")),
        ("memory saved, peak (MiB)", col(lambda r: f"{r.saved_mib_peak:,.1f}")),
        ("memory saved, mean (MiB)", col(lambda r: f"{r.saved_mib_mean:,.1f}")),
        (f"guest time lost ({LOST_UNIT})", col(lambda r: _pct(r.guest_time_lost_pct))),
    ]
    rows += [(f"  {LOST_NAMES[k]}", col(lambda r, k=k: _pct(r.guest_time_lost_pct_by_cause[k]))) for k in LOST_CAUSES
             if reclaiming or k != "refaults_after_reclaim"]
    rows.append(("host CPU (s)", col(lambda r: f"{r.host_cpu_s:.3f}")))
    return rows


LOST_NAMES = {"refaults_after_zaps": "to refaults after zaps", "retries": "to retries", "cow": "to COW",
              "first_touch": "to first touches", "tlb_flushes": "to TLB flushes",
              "refaults_after_reclaim": "to refaults after reclaim"}


def _pct(value: float) -> str:
    """A percentage with enough digits that a small loss does not print as 0."""
    if value == 0:
        return "0"
    digits = max(2, 2 - math.floor(math.log10(abs(value))))
    return f"{value:.{min(digits, 8)}f}"


def merge_identical(results: Sequence[EraResult], duration: float) -> list[tuple[str, list[str]]]:
    """Columns whose every row is the same, merged under one header ("6.1 = 6.3"), as the plots do."""
    rows = _rows(results, duration)
    columns: dict[tuple[str, ...], list[str]] = {}
    for i, r in enumerate(results):
        columns.setdefault(tuple(cells[i] for _, cells in rows), []).append(r.label)
    return [(" = ".join(labels), list(cells)) for cells, labels in columns.items()]


def table_text(workload: Workload, seed: int, results: Sequence[EraResult]) -> str:
    merged = merge_identical(results, workload.duration)
    names = [name for name, _ in _rows(results, workload.duration)]
    header = ["", *[label for label, _ in merged]]
    body = [[name, *(cells[i] for _, cells in merged)] for i, name in enumerate(names)]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        f"mmuspec simulate: {workload.name} ({workload.vms} VMs x {workload.pages_per_vm * PAGE / 2**30:.2f} GiB, "
        f"{workload.vcpus} vCPUs each, {workload.duration:.0f} s simulated, seed {seed}; "
        f"ksm pages_to_scan={workload.pages_to_scan} sleep_millisecs={workload.sleep_millisecs})",
        "",
        "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in body:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
