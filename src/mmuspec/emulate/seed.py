"""The seed's claim on a real kernel: change_pte on each KSM merge, no SPTE from it, a refault.

c13fda237f08 says that on x86 ``.change_pte()`` never changed an SPTE because the
``invalidate_range_start()`` around it had zapped the SPTE already; v6.10 removed the
callback.  Inside an emulated kernel the lab's VMM runs ``ksm-merge`` and ``cow-break``
under that kernel's own KVM with every kvm, kvmmmu (and, from 6.4, ksm) tracepoint on.
``summarize`` reads one run: the merged pages (data gfns whose host pfn is shared at the
end, from the VMM's ``pfn`` lines), the ``kvm_set_spte_hva`` calls, the SPTE changes made
inside them (``kvm_tdp_mmu_spte_changed`` by the same task after its ``kvm_set_spte_hva``
and before its next notifier event), and the merged gfns the guest faulted on again after
a notifier zapped them.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from mmuspec.emulate.boot import Job
from mmuspec.traces.reader import Record, parse_line
from mmuspec.traces.stats import StatsBuilder

WORKLOADS = ("ksm-merge", "cow-break")
NOTIFIER_EVENTS = frozenset(("kvm_unmap_hva_range", "kvm_set_spte_hva", "kvm_age_hva", "kvm_test_age_hva"))
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
        if item.event in NOTIFIER_EVENTS:
            if item.event == "kvm_set_spte_hva":
                inside.add(item.pid)
            else:
                inside.discard(item.pid)
        elif item.event in SPTE_EVENTS and item.pid in inside:
            spte_changes += 1
    stats = builder.finish()
    return SeedSummary(
        workload=workload, kernel=kernel, vmm_status=vmm_status(vmm_text), merged_pages=len(merged),
        change_pte_calls=stats.change_pte_calls, change_pte_spte_changes=spte_changes,
        notifier_zaps=stats.notifier_zaps, notifier_refaults=stats.notifier_refaults,
        merged_refaulted=len(refaulted), cow_breaks=stats.cow_breaks, faults=stats.faults,
        events=dict(sorted(stats.events.items())),
        recorded_era=stats.era.era if stats.era else None)
