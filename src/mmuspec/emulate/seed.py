"""The seed's claim on a real kernel: change_pte on each KSM merge, no SPTE from it, a refault.

c13fda237f08 says that on x86 ``.change_pte()`` never changed an SPTE because the
``invalidate_range_start()`` around it had zapped the SPTE already; v6.10 removed the
callback.  Inside an emulated kernel the lab's VMM runs ``ksm-merge`` and ``cow-break``
under that kernel's own KVM with every kvm, kvmmmu (and, from 6.4, ksm) tracepoint on.
``summarize`` reads one run: the merged pages (data gfns whose host pfn is shared at the
end, from the VMM's ``pfn`` lines), the ``kvm_set_spte_hva`` calls, the SPTE changes made
inside them (SPTE events by the same task right after its ``kvm_set_spte_hva``, before any
other event of that task: a vCPU that breaks COW in its own fault retries the fault and
maps the new page after a ``kvm_entry``/``kvm_exit``), and the merged gfns the guest faulted on again after
a notifier zapped them.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mmuspec.emulate import serial
from mmuspec.emulate.boot import Job
from mmuspec.lab.run import kernel_era
from mmuspec.lab.vmm_output import parse_vmm_output
from mmuspec.traces.conformance import Mapping, validate
from mmuspec.traces.page_model import ModelTooLarge, automaton
from mmuspec.traces.reader import Record, parse_line
from mmuspec.traces.stats import StatsBuilder

WORKLOADS = ("ksm-merge", "cow-break")
SPTE_EVENTS = frozenset(("kvm_tdp_mmu_spte_changed", "kvm_mmu_set_spte", "kvm_mmu_prepare_zap_page"))

SEED_SCRIPT = r"""
seed() {
    T=/sys/kernel/tracing; K=/sys/kernel/mm/ksm
    echo 0 > $T/tracing_on; echo > $T/trace; echo 8192 > $T/buffer_size_kb; echo > $T/set_event
    for s in kvm kvmmmu ksm; do [ -d $T/events/$s ] && echo "$s:*" >> $T/set_event; done
    echo 1000 > $K/pages_to_scan; echo 20 > $K/sleep_millisecs; echo 1 > $K/run
    echo 1 > $T/tracing_on
    section seed-$1.vmm mmuspec-vmm $1 --pages $2 --seconds $3 --marker $T/trace_marker
    echo 0 > $T/tracing_on
    section seed-$1.ksm grep -H . $K/pages_shared $K/pages_sharing $K/full_scans
    section seed-$1.trace cat $T/trace
    echo 2 > $K/run
}
"""


def seed_job(workloads: tuple[str, ...] = WORKLOADS, pages: int = 64, seconds: int = 6) -> Job:
    calls = "".join(f"seed {w} {pages} {seconds}\n" for w in workloads)
    return Job("seed", SEED_SCRIPT + calls, needs_kvm=True)


@dataclass
class SeedSummary:
    workload: str
    kernel: str | None
    vmm_status: str | None  # the VMM's "done status=..." value
    merged_pages: int  # data gfns sharing a host pfn at the end of the run
    change_pte_calls: int  # kvm_set_spte_hva events
    change_pte_spte_changes: int  # SPTE events inside a change_pte call
    notifier_zaps: int  # SPTEs removed inside an invalidation
    notifier_refaults: int  # stage-2 faults on a gfn a notifier zapped since its last fault
    merged_refaulted: int  # merged gfns the guest faulted on after a notifier zapped them
    cow_breaks: int  # change_pte from a vCPU thread (do_wp_page in a fault)
    faults: int
    events: dict[str, int]
    recorded_era: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def vmm_pfns(vmm_text: str, at: str = "end") -> dict[int, int]:
    """gfn -> pfn from the VMM's ``pfn at=... gfn=... pfn=...`` lines."""
    pfns: dict[int, int] = {}
    for line in vmm_text.splitlines():
        if not line.startswith("pfn "):
            continue
        fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
        if fields.get("at") == at and "gfn" in fields and "pfn" in fields:
            pfns[int(fields["gfn"], 0)] = int(fields["pfn"], 0)
    return pfns


def vmm_status(vmm_text: str) -> str | None:
    for line in vmm_text.splitlines():
        if line.startswith("done "):
            return dict(p.split("=", 1) for p in line.split()[1:] if "=" in p).get("status")
    return None


def summarize(workload: str, kernel: str | None, vmm_text: str, trace_text: str) -> SeedSummary:
    pfns = vmm_pfns(vmm_text)
    shared = Counter(pfn for pfn in pfns.values() if pfn)
    merged = {gfn for gfn, pfn in pfns.items() if pfn and shared[pfn] > 1}
    zapped_merged: set[int] = set()
    refaulted: set[int] = set()

    def on_zap(record: Record, gfn: int, task: str) -> None:
        if gfn in merged:
            zapped_merged.add(gfn)

    def on_fault(record: Record, gfn: int | None, kind: str) -> None:
        if gfn is not None and gfn in zapped_merged:
            zapped_merged.discard(gfn)
            refaulted.add(gfn)

    # An emulated CPU is slower: a zap may come more than the default 1 ms after its
    # kvm_unmap_hva_range, still inside the same invalidation.
    builder = StatsBuilder(notifier_window=0.01, on_fault=on_fault, on_zap=on_zap)
    inside: set[int] = set()  # tasks whose last notifier event is kvm_set_spte_hva
    spte_changes = 0
    for number, line in enumerate(io.StringIO(trace_text), 1):
        builder.feed(number, line)
        item = parse_line(number, line)
        if not isinstance(item, Record):
            continue
        if item.event == "kvm_set_spte_hva":
            inside.add(item.pid)
        elif item.event in SPTE_EVENTS:
            spte_changes += item.pid in inside
        else:  # the call returned: a COW break's retried fault maps its SPTE after kvm_entry/kvm_exit
            inside.discard(item.pid)
    stats = builder.finish()
    return SeedSummary(
        workload=workload, kernel=kernel, vmm_status=vmm_status(vmm_text), merged_pages=len(merged),
        change_pte_calls=stats.change_pte_calls, change_pte_spte_changes=spte_changes,
        notifier_zaps=stats.notifier_zaps, notifier_refaults=stats.notifier_refaults,
        merged_refaulted=len(refaulted), cow_breaks=stats.cow_breaks, faults=stats.faults,
        events=dict(sorted(stats.events.items())),
        recorded_era=stats.era.era if stats.era else None)


def lab_trace(workload: str, kernel: str, vmm_text: str, trace_text: str) -> tuple[str, str]:
    """The trace behind the lab's header (where guest memory is, the vCPU threads, the era of
    the kernel), as ``mmuspec lab`` writes it, so that ``mmuspec trace validate`` reads it
    alone; and that era."""
    run = parse_vmm_output(vmm_text, f"the {workload} VMM output")
    era, _ = kernel_era(kernel)
    mapping = Mapping(run.hva, run.gfn_base, run.pages, frozenset(run.vcpu_tids.values()))
    return mapping.header(workload=workload, era=era, kernel=kernel) + "\n" + trace_text, era


# Fixes a stable series took after its era's mainline release: (series, first stable
# release with it) -> switch settings.  6.1.50 took "KVM: x86/mmu: Fix an sign-extension bug
# with mmu_seq that hangs vCPUs" (Debian's linux 6.1 changelog, ChangeLog-6.1.50; corpus B6),
# so 6.1.192's struct kvm_page_fault keeps an unsigned long mmu_seq (mmu_internal.h).
STABLE_FIXES: dict[tuple[str, int], dict[str, str]] = {
    ("6.1", 50): {"kvm.mmu_seq_snapshot": "unsigned_long"},
}


def stable_settings(release: str) -> dict[str, str]:
    """The switches a stable kernel's backports set on top of its era."""
    match = re.match(r"(\d+\.\d+)\.(\d+)", release)
    settings: dict[str, str] = {}
    if match:
        for (series, first), values in STABLE_FIXES.items():
            if match.group(1) == series and int(match.group(2)) >= first:
                settings.update(values)
    return settings


def conformance(workload: str, kernel: str, vmm_text: str, trace_text: str) -> dict[str, Any]:
    """The lab's conformance check of one emulated run against its kernel's era, with the
    switches of the stable fixes the kernel has.  A model too large for the page automaton
    is said so (no verdict), never taken for one."""
    text, era = lab_trace(workload, kernel, vmm_text, trace_text)
    settings = stable_settings(kernel)
    base = {"era": era, "set": [f"{k}={v}" for k, v in sorted(settings.items())]}
    try:
        model = automaton(era, workload, settings=tuple(sorted(settings.items())))
    except ModelTooLarge as err:
        return {**base, "workload": workload, "not_checked": str(err)}
    return {**base, **validate(io.StringIO(text), model).to_json()}


def analyse(data_text: str, out: Path | None = None) -> dict[str, Any]:
    """Everything one seed boot printed on its data port: per workload the summary and the
    conformance verdict.  With ``out``, each workload's VMM output and trace (behind the lab's
    header) are written there first, so a failing analysis loses nothing."""
    output = serial.parse(data_text)
    kernel = output.kernel or "?"
    runs: list[tuple[str, str, str, bool]] = []
    for workload in WORKLOADS:
        vmm = output.sections.get(f"seed-{workload}.vmm")
        trace = output.sections.get(f"seed-{workload}.trace")
        if vmm is None or trace is None:
            continue
        started = "hva" in parse_vmm_output(vmm.text, f"the {workload} VMM output").header
        runs.append((workload, vmm.text, trace.text, started))
        if out is not None:
            (out / f"{workload}.vmm").write_text(vmm.text)
            (out / f"{workload}.trace").write_text(
                lab_trace(workload, kernel, vmm.text, trace.text)[0] if started else trace.text)
    rows = []
    for workload, vmm_text, trace_text, started in runs:
        row = summarize(workload, kernel, vmm_text, trace_text).to_json()
        if started:
            row["conformance"] = conformance(workload, kernel, vmm_text, trace_text)
        else:  # the VMM stopped before it had a guest: no page to check
            row["conformance"] = {"era": kernel_era(kernel)[0], "not_checked": "the VMM did not start its guest: "
                                  + next((x for x in vmm_text.splitlines() if x.startswith("done ")), "no output")}
        rows.append(row)
    return {"kernel": kernel, "guest_kvm": output.facts.get("guest_kvm"), "complete": output.complete,
            "workloads": rows}


def report(summary: dict[str, Any]) -> str:
    """The text ``mmuspec kernels run SERIES seed`` prints."""
    lines = [f"{summary['kernel']} ({summary.get('accel', '?')}, {summary.get('wall_seconds', '?')} s wall, "
             f"guest /dev/kvm: {summary['guest_kvm']})"]
    for row in summary["workloads"]:
        lines.append(f"  {row['workload']}: VMM {row['vmm_status']}, merged {row['merged_pages']}, change_pte "
                     f"{row['change_pte_calls']}, SPTE changes in change_pte {row['change_pte_spte_changes']}, "
                     f"notifier zaps {row['notifier_zaps']}, merged pages refaulted {row['merged_refaulted']}, "
                     f"refaults {row['notifier_refaults']}, COW breaks {row['cow_breaks']}")
        c = row["conformance"]
        era = " ".join([c["era"], *c.get("set", [])])
        if "not_checked" in c:
            lines.append(f"    conformance with era {era}: not checked ({c['not_checked']})")
        else:
            first = c["first_rejection"]
            lines.append(f"    conformance with era {era}: {c['admitted']} of {c['pages']} pages admitted"
                         + (f"; first rejected: {first['event']}" if first else ""))
    if not summary["workloads"]:
        lines.append("  no workload finished (see console.log and data.log)")
    return "\n".join(lines)
