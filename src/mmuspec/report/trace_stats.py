"""Text and plots for ``mmuspec trace stats`` and ``mmuspec trace whatif``."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmuspec.simulate.engine import CAUSES
from mmuspec.traces.exits import KINDS
from mmuspec.traces.stats import TraceStats
from mmuspec.traces.tracepoint import version
from mmuspec.traces.whatif import WhatIf
from mmuspec.wording import counted

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
    out += ["", "VM exits by reason:" + ("" if s.traced("kvm_exit") else " not traced (no kvm_exit events)")]
    out += [f"  {r:<40} {n:>10,}" for r, n in s.exit_reasons.most_common()]
    if s.faults_traced:
        out += ["", f"stage-2 faults by kind (EPT violations, #NPF, guest aborts): {s.faults:,}"]
        out += [f"  {k:<40} {s.fault_kinds.get(k, 0):>10,}" for k in KINDS if k != "unknown" or s.fault_kinds[k]]
    else:
        out += ["", "stage-2 faults by kind (EPT violations, #NPF, guest aborts): not traced "
                "(no kvm_exit, kvm_page_fault or kvm_guest_fault events)"]
    out += ["", "notifier protocol:",
            f"  {'MMU-notifier invalidations':<40} {s.notifier_invalidations:>10,}",
            f"  {'SPTEs they removed':<40} {_count(s.notifier_zaps, s.zaps_traced):>10}",
            f"  {'notifier-induced refaults':<40} {_count(s.notifier_refaults, s.zaps_traced and s.faults_traced):>10}",
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
        width = min(MAX_LABEL, max(len(t.label) for t in s.per_vcpu))
        for t in s.per_vcpu:
            vcpu = f"vcpu {t.vcpu_id}" if t.vcpu_id is not None else "vcpu -"
            out.append(f"  {t.label:<{width}}  VM {t.vm:>7}  {vcpu:<8} "
                       + ", ".join(f"{k} {v:,}" for k, v in sorted(t.counts.items())))
    if s.windows:
        out += ["", f"per {window:g} s window (events):"]
        for w, counts in sorted(s.windows.items())[:50]:
            out.append(f"  {w * window:>10.3f} s  " + ", ".join(f"{k} {v:,}" for k, v in counts.most_common(6)))
    return "\n".join(out)


def _count(n: int, traced: bool) -> str:
    return f"{n:,}" if traced else "not traced"


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


MAX_POINTS = 5_000  # windows drawn in the events-per-second plot: more are merged
PAUSE = 3_600.0  # seconds without events after which the rest of a trace is not drawn
MAX_LABEL = 40  # characters of a task or event name in a plot or a text column
MAX_THREADS = 40  # vCPU threads drawn in the per-thread plot: the busiest ones


def clipped(label: str, limit: int = MAX_LABEL) -> str:
    """``label`` cut to ``limit`` characters, with an ellipsis when it was cut."""
    return label if len(label) <= limit else label[: limit - 1] + "\u2026"


@dataclass
class PlotWindows:
    """The windows the events plot draws: at most ``MAX_POINTS`` of them, ``merged``
    trace windows each, up to the first pause longer than ``PAUSE`` s (a clock jump, or
    one damaged timestamp far in the future, would otherwise draw a window per second up
    to it); ``notes`` says what was merged or left out."""

    window: float
    starts: list[float]
    counts: dict[str, list[float]]
    notes: list[str]


def plot_windows(s: TraceStats, window: float, events: list[str]) -> PlotWindows:
    filled = sorted(w for w in s.windows if w >= 0)
    notes: list[str] = []
    before = sum(sum(c.values()) for w, c in s.windows.items() if w < 0)
    if before:
        notes.append(f"{before:,} events stamped before the first event are not drawn")
    end = filled[-1] if filled else -1
    for prev, here in itertools.pairwise(filled):
        if (here - prev) * window > max(PAUSE, 10 * (prev - filled[0]) * window):
            end = prev
            left = sum(sum(c.values()) for w, c in s.windows.items() if w > end)
            notes.append(f"{left:,} events after a pause of {(here - prev) * window:,.0f} s at "
                         f"{(prev + 1) * window:,.6g} s are not drawn (the last at {filled[-1] * window:,.6g} s)")
            break
    merged = max(1, math.ceil((end + 1) / MAX_POINTS))
    if merged > 1:
        notes.append(f"drawn in {window * merged:g} s windows ({merged:,} windows of {window:g} s each), "
                     f"at most {MAX_POINTS:,} points")
    points = (end + 1 + merged - 1) // merged
    counts = {event: [0.0] * points for event in events}
    for w, found in s.windows.items():
        if 0 <= w <= end:
            for event, line in counts.items():
                line[w // merged] += found.get(event, 0)
    wide = window * merged
    return PlotWindows(wide, [i * wide for i in range(points)],
                       {event: [n / wide for n in line] for event, line in counts.items()}, notes)


def stats_plots(s: TraceStats, window: float, out: Path) -> tuple[list[Drawn], list[str]]:
    """Events per second over the trace's own clock, and counts per vCPU; with what was
    merged, clipped or left out of them, to say next to the plots."""
    from mmuspec.report.plots import Drawn, bar_plot, series_plot

    drawn: list[Drawn] = []
    names = [name.rpartition(":")[2] for name, _ in s.events.most_common(6)]
    shown = plot_windows(s, window, names)  # quiet windows are zeros, not gaps
    notes = list(shown.notes)
    if any(len(name) > MAX_LABEL for name in names):
        notes.append(f"event names longer than {MAX_LABEL} characters are cut in the legend")
    series = {clipped(name): {"t": shown.starts, "n": shown.counts[name]} for name in names}
    if series and len(shown.starts) > 1:  # one window is a point, not a line over time
        start = f"{s.first_ts:.6f}" if s.first_ts is not None else "?"
        drawn.append(series_plot(series, "n", f"events per second ({shown.window:g} s windows)", "events over time",
                                 out / "events_per_second.png", log=None, merge=False,
                                 xlabel=f"trace time (s) since the first event (timestamp {start} s); window start"))
    if s.per_vcpu:
        threads = sorted(s.per_vcpu, key=lambda t: -sum(t.counts.values()))[:MAX_THREADS]
        threads = [t for t in s.per_vcpu if t in threads]
        if len(s.per_vcpu) > MAX_THREADS:
            notes.append(f"per_vcpu.png shows the {MAX_THREADS} busiest of {len(s.per_vcpu):,} vCPU threads")
        if any(len(t.label) > MAX_LABEL for t in threads):
            notes.append(f"task names longer than {MAX_LABEL} characters are cut in per_vcpu.png")
        keys = sorted({k for t in threads for k in t.counts})
        bar_plot([f"{clipped(t.label)}\nVM {clipped(t.vm)}" for t in threads],
                 {k: [t.counts.get(k, 0) for t in threads] for k in keys}, "count", "per vCPU thread",
                 out / "per_vcpu.png")
        drawn.append(Drawn(out / "per_vcpu.png"))
    return drawn, notes


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
           f"recorded: {counted(recorded.faults, 'stage-2 fault')} ({recorded.placed:,} with a guest address, "
           f"{recorded.refaults:,} on a page whose SPTE an invalidation removed), "
           f"{counted(recorded.exits, 'VM exit')}, {counted(recorded.merges, 'SPTE')} removed by ksmd's "
           f"invalidations, {recorded.zaps:,} by other invalidations, {counted(recorded.pages, 'page')}",
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
