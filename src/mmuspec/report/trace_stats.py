"""Text and plots for ``mmuspec trace stats`` and ``mmuspec trace whatif``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmuspec.simulate.engine import CAUSES
from mmuspec.traces.stats import TraceStats
from mmuspec.traces.whatif import RecordedWorkload


def stats_text(path: str, s: TraceStats, window: float) -> str:
    d = s.to_json(window)
    out = [f"mmuspec trace stats: {path}",
           f"{s.lines:,} lines, {s.parsed:,} events parsed, {s.unparsed:,} malformed, {s.unknown:,} of unknown events, "
           f"{d['duration_s']:.6f} s", "", "events:"]
    out += [f"  {name:<40} {n:>10,}" for name, n in s.events.most_common()]
    out += ["", "VM exits by reason:"] + [f"  {r:<40} {n:>10,}" for r, n in s.exit_reasons.most_common()]
    out += ["", "faults by kind (EPT violations, #NPF, stage-2):"]
    out += [f"  {k:<40} {s.fault_kinds.get(k, 0):>10,}" for k in ("read", "write", "fetch")]
    out += ["", "notifier protocol:",
            f"  {'MMU-notifier invalidations':<40} {s.notifier_invalidations:>10,}",
            f"  {'SPTEs they removed':<40} {s.notifier_zaps:>10,}",
            f"  {'notifier-induced refaults':<40} {s.notifier_refaults:>10,}",
            f"  {'change_pte calls (kvm_set_spte_hva)':<40} {s.change_pte_calls:>10,}",
            f"  {'KSM merges':<40} {s.ksm_merges:>10,}",
            f"  {'COW breaks (change_pte from a vCPU)':<40} {s.cow_breaks:>10,}"]
    if s.per_vcpu:
        out += ["", "per vCPU:"]
        for name, counts in sorted(s.per_vcpu.items()):
            out.append(f"  {name:<16} " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    if s.windows:
        out += ["", f"per {window:g} s window (events):"]
        for w, counts in sorted(s.windows.items())[:50]:
            out.append(f"  {w * window:>10.3f} s  " + ", ".join(f"{k} {v:,}" for k, v in counts.most_common(6)))
    return "\n".join(out)


def stats_plots(s: TraceStats, window: float, out: Path) -> None:
    from mmuspec.report.plots import bar_plot, series_plot

    names = [name for name, _ in s.events.most_common(6)]
    windows = sorted(s.windows)
    series: dict[str, dict[str, list[float]]] = {}
    for name in names:
        event = name.rpartition(":")[2]
        series[event] = {"t": [w * window for w in windows], "n": [s.windows[w].get(event, 0) / window for w in windows]}
    if series:
        series_plot(series, "n", "events per second", "events over time", out / "events_per_second.png")
    if s.per_vcpu:
        vcpus = sorted(s.per_vcpu)
        keys = sorted({k for c in s.per_vcpu.values() for k in c})
        bar_plot(vcpus, {k: [s.per_vcpu[v].get(k, 0) for v in vcpus] for k in keys}, "count", "per vCPU",
                 out / "per_vcpu.png")


def whatif_text(path: str, recorded: RecordedWorkload, results: dict[str, dict[str, Any]]) -> str:
    labels = list(results)
    rows = [("VM exits", [f"{r['exits_total']:,}" for r in results.values()])]
    rows += [(f"  {c}", [f"{r['exits'][c]:,}" for r in results.values()]) for c in CAUSES
             if c != "refault_after_reclaim"]  # a replayed schedule does not reclaim
    rows += [("faults that broke COW", [f"{r['cow_faults']:,}" for r in results.values()]),
             ("change_pte calls", [f"{r['change_pte_calls']:,}" for r in results.values()]),
             ("  that changed an SPTE", [f"{r['change_pte_changed_spte']:,}" for r in results.values()]),
             ("SPTE zaps", [f"{r['spte_zaps']:,}" for r in results.values()]),
             ("TLB flushes", [f"{r['tlb_flushes']:,}" for r in results.values()])]
    width = max(len(n) for n, _ in rows)
    col = [max(len(label), *(len(cells[i]) for _, cells in rows)) for i, label in enumerate(labels)]
    out = [f"mmuspec trace whatif: {path}",
           f"recorded: {recorded.faults:,} page faults, {recorded.exits:,} VM exits, {recorded.merges:,} SPTEs removed "
           f"by ksmd's invalidations, {recorded.zaps:,} by other invalidations, {recorded.pages:,} gfns",
           "", " " * width + "  " + "  ".join(label.rjust(w) for label, w in zip(labels, col, strict=True))]
    out += [name.ljust(width) + "  " + "  ".join(c.rjust(w) for c, w in zip(cells, col, strict=True))
            for name, cells in rows]
    out += ["", "Estimates from the recorded faults and invalidations replayed through each era's page outcomes;"
            " accesses that did not fault in the recorded kernel are not in the trace."]
    return "\n".join(out)
