"""Simulation results as a table: one column per era, one row per measure."""

from __future__ import annotations

from collections.abc import Sequence

from mmuspec.simulate.engine import CAUSES, PAGE
from mmuspec.simulate.run import EraResult
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
        ("memory saved (MiB)", col(lambda r: f"{r.ksm['pages_sharing'] * PAGE / 2**20:,.1f}")),
        ("guest time lost (s)", col(lambda r: f"{r.guest_time_lost_s:.3f}")),
        ("guest time lost per second (ms/s)", col(lambda r: f"{r.guest_time_lost_per_s * 1000:.3f}")),
        ("guest time lost per GiB merged (s)", col(
            lambda r: "-" if r.guest_time_lost_per_gib_merged_s is None else f"{r.guest_time_lost_per_gib_merged_s:.3f}")),
        ("host CPU (s)", col(lambda r: f"{r.host_cpu_s:.3f}")),
    ]
    return rows


def table_text(workload: Workload, seed: int, results: Sequence[EraResult]) -> str:
    header = ["", *[r.label for r in results]]
    body = [[name, *cells] for name, cells in _rows(results, workload.duration)]
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
