"""Text and plots for ``mmuspec trace stats`` and ``mmuspec trace whatif``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmuspec.simulate.engine import CAUSES
from mmuspec.traces.exits import KINDS
from mmuspec.traces.stats import TraceStats
from mmuspec.traces.tracepoint import version
from mmuspec.traces.whatif import WhatIf

if TYPE_CHECKING:
    from mmuspec.report.plots import Drawn


def stats_text(path: str, s: TraceStats, window: float) -> str:
    d = s.to_json(window)
    out = [f"mmuspec trace stats: {path}",
           f"{s.lines:,} lines, {s.parsed:,} events parsed, {s.unparsed:,} malformed, {s.unknown:,} of unknown events, "
           f"{d['duration_s']:.6f} s",
           f"host: {s.arch or 'not shown by the events'}; recorded era: {s.era.describe() if s.era else '-'}",
           "", "events:"]
    out += [f"  {name:<40} {n:>10,}" for name, n in s.events.most_common()]
    out += ["", "VM exits by reason:"] + [f"  {r:<40} {n:>10,}" for r, n in s.exit_reasons.most_common()]
    out += ["", f"stage-2 faults by kind (EPT violations, #NPF, guest aborts): {s.faults:,}"]
    out += [f"  {k:<40} {s.fault_kinds.get(k, 0):>10,}" for k in KINDS if k != "unknown" or s.fault_kinds[k]]
    out += ["", "notifier protocol:",
            f"  {'MMU-notifier invalidations':<40} {s.notifier_invalidations:>10,}",
            f"  {'SPTEs they removed':<40} {s.notifier_zaps:>10,}",
            f"  {'notifier-induced refaults':<40} {s.notifier_refaults:>10,}",
            f"  {'change_pte calls (kvm_set_spte_hva)':<40} {s.change_pte_calls:>10,}",
            f"  {'KSM merges':<40} {s.ksm_merges:>10,}",
            f"  {'COW breaks (change_pte from a vCPU)':<40} {_cow_text(s):>10}"]
    if s.latency:
        out += ["", "exit latency, kvm_exit to the thread's next kvm_entry (as perf kvm stat reports it):",
                f"  {'reason':<28} {'exits':>9} {'time%':>7} {'min us':>9} {'max us':>10} {'mean us':>9}"]
        whole = sum(total for _, total, _, _ in s.latency.values()) or 1.0
        for reason, (n, total, lo, hi) in sorted(s.latency.items(), key=lambda kv: -kv[1][1]):
            out.append(f"  {reason:<28} {int(n):>9,} {100 * total / whole:>6.2f}% {lo * 1e6:>9.2f} {hi * 1e6:>10.2f} "
                       f"{total / n * 1e6:>9.2f}")
    if s.per_vcpu:
        out += ["", "per vCPU thread (VM: the thread's process id; - when the trace does not print it):"]
        width = max(len(t.label) for t in s.per_vcpu)
        for t in s.per_vcpu:
            vcpu = f"vcpu {t.vcpu_id}" if t.vcpu_id is not None else "vcpu -"
            out.append(f"  {t.label:<{width}}  VM {t.vm:>7}  {vcpu:<8} "
                       + ", ".join(f"{k} {v:,}" for k, v in sorted(t.counts.items())))
    if s.windows:
        out += ["", f"per {window:g} s window (events):"]
        for w, counts in sorted(s.windows.items())[:50]:
            out.append(f"  {w * window:>10.3f} s  " + ", ".join(f"{k} {v:,}" for k, v in counts.most_common(6)))
    return "\n".join(out)


def _cow_text(s: TraceStats) -> str:
    """COW breaks show only as change_pte from a vCPU; a kernel without change_pte does not trace them."""
    dated = [version(c) for c in (s.era.candidates if s.era else ()) if c[0].isdigit()]
    if dated and min(dated) >= (6, 10) and not s.change_pte_calls:
        return "not traced"
    return f"{s.cow_breaks:,}"


SCHEMA = "mmuspec.trace-stats/1"


def stats_json(s: TraceStats, window: float) -> dict[str, Any]:
    """``trace stats --json``; docs/json.md documents every field."""
    return {"schema": SCHEMA, **s.to_json(window)}


def stats_plots(s: TraceStats, window: float, out: Path) -> list[Drawn]:
    """Events per second over the trace's own clock, and counts per vCPU."""
    from mmuspec.report.plots import Drawn, bar_plot, series_plot

    drawn: list[Drawn] = []

    names = [name for name, _ in s.events.most_common(6)]
    windows = list(range(max(s.windows) + 1)) if s.windows else []  # quiet windows are zeros, not gaps
    series: dict[str, dict[str, list[float]]] = {}
    for name in names:
        event = name.rpartition(":")[2]
        series[event] = {"t": [w * window for w in windows], "n": [s.windows[w].get(event, 0) / window for w in windows]}
    if series:
        start = f"{s.first_ts:.6f}" if s.first_ts is not None else "?"
        drawn.append(series_plot(series, "n", f"events per second ({window:g} s windows)", "events over time",
                                 out / "events_per_second.png",
                                 xlabel=f"trace time (s) since the first event (timestamp {start} s); window start"))
    if s.per_vcpu:
        threads = s.per_vcpu
        keys = sorted({k for t in threads for k in t.counts})
        bar_plot([f"{t.label}\nVM {t.vm}" for t in threads], {k: [t.counts.get(k, 0) for t in threads] for k in keys},
                 "count", "per vCPU thread", out / "per_vcpu.png")
        drawn.append(Drawn(out / "per_vcpu.png"))
    return drawn


def whatif_text(path: str, w: WhatIf) -> str:
    recorded, results = w.recorded, w.results
    labels = [f"{label} (recorded)" if label == w.recorded_label and not label.startswith("recorded") else label
              for label in results]
    rows = [("VM exits from stage-2 faults", [f"{w.estimates[label]:,}" for label in results]),
            ("  model replay of the schedule", [f"{r['exits_total']:,}" for r in results.values()])]
    rows += [(f"    {c}", [f"{r['exits'][c]:,}" for r in results.values()]) for c in CAUSES
             if c != "refault_after_reclaim"]  # a replayed schedule does not reclaim
    rows += [("faults that broke COW", [f"{r['cow_faults']:,}" for r in results.values()]),
             ("change_pte calls", [f"{r['change_pte_calls']:,}" for r in results.values()]),
             ("  that installed an SPTE", [f"{r['change_pte_installed_spte']:,}" for r in results.values()]),
             ("  that re-pointed an SPTE", [f"{r['change_pte_repointed_spte']:,}" for r in results.values()]),
             ("  that removed an SPTE", [f"{r['change_pte_removed_spte']:,}" for r in results.values()]),
             ("SPTE zaps", [f"{r['spte_zaps']:,}" for r in results.values()]),
             ("TLB flushes", [f"{r['tlb_flushes']:,}" for r in results.values()])]
    width = max(len(n) for n, _ in rows)
    col = [max(len(label), *(len(cells[i]) for _, cells in rows)) for i, label in enumerate(labels)]
    unplaced = recorded.faults - recorded.placed
    out = [f"mmuspec trace whatif: {path}",
           f"recorded: {recorded.faults:,} stage-2 faults ({recorded.placed:,} with a guest address, "
           f"{recorded.refaults:,} on a page whose SPTE an invalidation removed), "
           f"{recorded.exits:,} VM exits, {recorded.merges:,} SPTEs removed by ksmd's invalidations, "
           f"{recorded.zaps:,} by other invalidations, {recorded.pages:,} pages",
           f"recorded era: {recorded.era.describe()}",
           "", " " * width + "  " + "  ".join(label.rjust(c) for label, c in zip(labels, col, strict=True))]
    out += [name.ljust(width) + "  " + "  ".join(c.rjust(n) for c, n in zip(cells, col, strict=True))
            for name, cells in rows]
    out += ["",
            f"VM exits from stage-2 faults: the recorded era's figure is the trace's own count ({recorded.faults:,}, "
            "as 'trace stats' counts it); every other era's is that count plus the difference the model finds "
            "between that era and the recorded one when it replays the same faults and invalidations.",
            "Bound: accesses that did not fault under the recorded kernel are not in the trace, so faults another "
            "era would take on them are not counted; each other era's figure is a lower bound on its exits, exact "
            "only for what the recorded faults themselves cost. The rows below the first are the model's replay, "
            "not calibrated."]
    if unplaced:
        out.append(f"{unplaced:,} faults have no guest address (no kvm_page_fault/kvm_guest_fault after the exit) "
                   "and are carried unchanged into every era.")
    return "\n".join(out)
