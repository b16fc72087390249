"""What ``mmuspec lab`` and ``mmuspec trace validate`` print and write."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmuspec.simulate.costs import COSTS
from mmuspec.simulate.profile import STATISTICS, profile_text
from mmuspec.traces.conformance import Verdict

if TYPE_CHECKING:
    from mmuspec.lab.run import LabResult

LAB_SCHEMA = "mmuspec.lab/1"
VALIDATE_SCHEMA = "mmuspec.validate/1"
# Costs a lab run does not measure, and why.
NOT_MEASURED = {
    "vm_exit_us": "an exit alone has no tracepoint pair here (kvm_exit/kvm_entry do not fire under kvm_pvm); "
                  "fault_us includes it",
    "retry_us": "a retried fault prints no tracepoint",
    "tlb_flush_us": "the flush has no tracepoint; only KVM's remote_tlb_flush count",
    "invalidate_start_us": "invalidate_range_start's end has no tracepoint",
    "invalidate_end_us": "invalidate_range_end has no tracepoint",
    "change_pte_us": "no change_pte since 6.10",
    "aging_us": "ageing one page has no tracepoint pair",
}


def verdict_lines(v: Verdict, source: str) -> list[str]:
    lines = [f"{source}: {v.events:,} page events on {v.pages:,} pages read against era {v.era}'s model "
             f"({v.workload})",
             f"admitted: {v.admitted:,} of {v.pages:,} page sequences" + (
                 f"; NOT admitted: {v.rejected_pages:,}" if v.rejected_pages else "")]
    if v.labels:
        lines.append("events by kind: " + ", ".join(f"{k} {n:,}" for k, n in sorted(v.labels.items())))
    if v.ksmd and not v.merge_outcomes_checked:
        lines.append("ksmd's merge outcomes not checked: the trace has no ksm event (a kernel before v6.4 "
                     "prints none, or they were not enabled)")
    if v.unattributed_merges:
        lines.append(f"{v.unattributed_merges:,} ksm_merge_with_ksm_page events followed no unmap of a guest page "
                     "(another process's pages)")
    for r in v.rejections[:1]:
        lines += [f"first sequence not admitted: {r.name}, line {r.line}: {r.label}", f"  {r.text}",
                  "  the page's events before it:"]
        lines += [f"    {b}" for b in r.before] or ["    (none)"]
        lines.append("  the model states the page could be in there (first 4):")
        lines += [f"    {s}" for s in r.states] or ["    (none)"]
    return lines


def validate_json(v: Verdict, source: str) -> dict[str, Any]:
    return {"schema": VALIDATE_SCHEMA, "file": source, "ok": v.ok, **v.to_json()}


def _fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2f}"


def lab_text(r: LabResult, out: Path) -> str:
    o, run, m, v = r.options, r.run, r.measurement, r.verdict
    reads, writes = run.guest_total("reads"), run.guest_total("writes")
    lines = [f"mmuspec lab {o.workload}: {o.pages} pages, {o.vcpus} vCPU(s), {o.seconds:g} s on {r.kernel} "
             f"({r.host}); model era {r.era}"]
    lines += [f"note: {n}" for n in r.notes]
    lines.append(f"guest: {reads:,} reads, {writes:,} writes, {run.guest_total('unstable'):,} overlapped a host "
                 f"action (not checked), {len(run.acts):,} host actions")
    if run.mismatches:
        lines.append(f"integrity: {len(run.mismatches)} VIOLATIONS")
        for mm in m.integrity[:3]:
            lines.append(f"  gfn {mm['gfn']:#x} at trace time {mm['trace_ts']}: read {mm['got']:#x}, expected "
                         f"{mm['expected']:#x}; events on the page within 2 ms:")
            lines += [f"    {e}" for e in mm["events_around"]] or ["    (none)"]
    else:
        lines.append("integrity: 0 violations (every checked read returned the last value written)")
    lines += verdict_lines(v, "trace")
    if r.lost_events:
        lines.append(f"the trace buffer overflowed: {r.lost_events:,} events lost; conformance is not decided")
    fired = {e: v.seen.get(e, 0) for e in ("kvm_exit", "kvm_page_fault", "kvm_entry", "kvm_set_spte_hva",
                                          "kvm_mmu_spte_requested", "kvm_unmap_hva_range", "kvm_age_hva",
                                          "ksm_merge_with_ksm_page")}
    lines.append("tracepoints that fired: " + ", ".join(f"{e} {n:,}" for e, n in fired.items() if n))
    enabled = {e.split(":", 1)[1] for e in r.events_enabled}
    silent = [e for e, n in fired.items() if not n and (not r.events_enabled or e in enabled or e.startswith("ksm"))]
    if silent:
        lines.append(("enabled, did not fire: " if r.events_enabled else "did not fire: ") + ", ".join(silent))
    absent = [e for e, n in fired.items() if not n and r.events_enabled and e not in enabled and not e.startswith("ksm")]
    if absent:
        lines.append("not in this kernel's tracefs: " + ", ".join(absent))
    c = m.counts
    lines.append(f"KVM stats: exits {c.get('exits', 0):,}, pf_taken {c.get('pf_taken', 0):,}, pf_fixed "
                 f"{c.get('pf_fixed', 0):,}, remote_tlb_flush {c.get('remote_tlb_flush', 0):,}; guest-timed slow "
                 f"accesses {c.get('guest_slow_accesses', 0):,}")
    if r.ksm_after:
        lines.append("KSM after the run: " + ", ".join(f"{k} {n:,}" for k, n in r.ksm_after.items()))
    lines += ["", "measured costs (µs):"]
    for key, s in m.costs.items():
        value, taken = s.value(), s.taken()
        lines.append(f"  {key:<16} {_fmt(value) if value is not None else 'not measured':>12}  "
                     f"({STATISTICS[taken] + ' of ' if taken else ''}{len(s.values):,} samples; default {COSTS[key].value:g}"
                     f"{', assumed' if COSTS[key].assumed else ''})")
    lines += ["", f"predicted ({r.era}, simulator) and measured:",
              f"  {'':<42} {'predicted':>10} {'measured':>10} {'ratio':>7}"]
    for row in r.rows:
        ratio = "n/a" if row.ratio is None else f"{row.ratio:.2f}"
        flag = "" if row.ratio is None or 0.5 <= row.ratio <= 2 else "  (outside 0.5-2: see README)"
        lines.append(f"  {row.what:<42} {_fmt(row.predicted):>10} {_fmt(row.measured):>10} {ratio:>7}{flag}"
                     + (f"  {row.note}" if row.note and row.predicted is None else ""))
    lines.append("")
    if r.restore_problems:
        lines.append("host NOT fully restored: " + "; ".join(r.restore_problems))
    else:
        lines.append("host restored: KSM and tracefs as they were" + (", merged pages unmerged"
                                                                     if o.workload in ("ksm-merge", "cow-break") else ""))
    verdict = "OK" if r.ok else "INCOMPLETE (events lost)" if r.integrity_ok and r.verdict.ok else "FAILED"
    lines.append(f"verdict: {verdict} ({r.wall_seconds:.1f} s); wrote {out}/result.json, "
                 f"trace.txt, vmm.txt, timeline.png, costs.toml")
    return "\n".join(lines)


def lab_json(r: LabResult) -> dict[str, Any]:
    o = r.options
    return {
        "schema": LAB_SCHEMA, "ok": r.ok, "workload": o.workload, "options": o.__dict__, "kernel": r.kernel,
        "host": r.host, "era": r.era, "notes": r.notes, "integrity_ok": r.integrity_ok,
        "vmm": r.run.to_json(), "measurement": r.measurement.to_json(),
        "conformance": validate_json(r.verdict, "trace.txt"),
        "prediction": {"rows": [row.to_json() for row in r.rows], **r.prediction},
        "events_enabled": r.events_enabled, "lost_events": r.lost_events,
        "ksm_before": r.ksm_before, "ksm_after": r.ksm_after, "restore_problems": r.restore_problems,
        "wall_seconds": round(r.wall_seconds, 3),
    }


def lab_profile(r: LabResult, date: str) -> str:
    m = r.measurement
    values = m.cost_values()
    samples = {k: len(s.values) for k, s in m.costs.items() if s.values}
    taken = {k: t for k, s in m.costs.items() if (t := s.taken())}
    not_measured = {k: NOT_MEASURED.get(k, "no sample in this run") for k in COSTS if k not in values}
    return profile_text(values, samples, taken, kernel=r.kernel, host=r.host, workload=r.options.workload, date=date,
                        not_measured=not_measured)


def timeline_plot(r: LabResult, path: Path) -> None:
    """Merges, unmaps, refaults and ageing per page over the run's time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"unmap": ("|", "tab:orange", "unmap (kvm_unmap_hva_range)"),
              "merge": ("o", "tab:green", "KSM merge"),
              "refault": ("x", "tab:red", "refault (SPTE installed after an invalidation)"),
              "age": (".", "tab:blue", "ageing (kvm_age_hva)")}
    fig, ax = plt.subplots(figsize=(9, 4.5))
    drawn = 0
    for kind, (marker, colour, label) in styles.items():
        pts = [(t, p) for t, p, k in r.measurement.timeline if k == kind]
        if pts:
            ax.scatter([t for t, _ in pts], [p for _, p in pts], marker=marker, s=14, color=colour,
                       label=f"{label}: {len(pts):,}")
            drawn += 1
    ax.set_xlabel("seconds since the guest started")
    ax.set_ylabel("guest page (gfn - first data gfn)")
    ax.set_title(f"lab {r.options.workload} on {r.kernel}: events per page")
    if drawn:
        ax.legend(loc="upper right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no page events in the trace", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
