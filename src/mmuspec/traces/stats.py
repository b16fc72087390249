"""What a trace says about the notifier protocol: ``mmuspec trace stats``.

Counts events, VM exits by reason, EPT violations and stage-2 faults by kind (read,
write, fetch: bits 0-2 of the VMX exit qualification, or the #NPF / ESR write and
fetch bits), change_pte calls, KSM merges and COW breaks, per vCPU and per time
window; and finds notifier-induced refaults: a page fault on a gfn whose SPTE an
MMU-notifier invalidation removed since the gfn's last fault.  A zap is
attributed to a notifier when it comes from the same task as a
``kvm_unmap_hva_range`` event, within ``notifier_window`` seconds after it (the
zap runs inside the invalidation).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import IO, Any

from mmuspec.traces.formats import SYSTEM
from mmuspec.traces.reader import Malformed, Record, parse_line

FAULT_REASONS = {"EPT_VIOLATION": "vmx", "EXIT_NPF": "svm", "NPF": "svm"}
PRESENT = 1  # bit 0 of an SPTE (present/readable) in the tdp_mmu_spte_changed values


@dataclass
class TraceStats:
    lines: int = 0
    parsed: int = 0
    unparsed: int = 0
    unknown: int = 0
    events: Counter[str] = field(default_factory=Counter)
    exit_reasons: Counter[str] = field(default_factory=Counter)
    fault_kinds: Counter[str] = field(default_factory=Counter)
    notifier_invalidations: int = 0
    notifier_zaps: int = 0
    notifier_refaults: int = 0
    change_pte_calls: int = 0
    ksm_merges: int = 0
    cow_breaks: int = 0
    per_vcpu: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    windows: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    malformed: list[Malformed] = field(default_factory=list)
    first_ts: float | None = None
    last_ts: float | None = None

    def to_json(self, window: float) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "parsed": self.parsed,
            "unparsed": self.unparsed,
            "unknown": self.unknown,
            "events": dict(self.events.most_common()),
            "exit_reasons": dict(self.exit_reasons.most_common()),
            "fault_kinds": dict(self.fault_kinds),
            "notifier_invalidations": self.notifier_invalidations,
            "notifier_zaps": self.notifier_zaps,
            "notifier_refaults": self.notifier_refaults,
            "change_pte_calls": self.change_pte_calls,
            "ksm_merges": self.ksm_merges,
            "cow_breaks": self.cow_breaks,
            "per_vcpu": {k: dict(v) for k, v in sorted(self.per_vcpu.items())},
            "window_seconds": window,
            "windows": {str(k): dict(v) for k, v in sorted(self.windows.items())},
            "malformed": [{"line": m.line, "reason": m.reason} for m in self.malformed],
            "duration_s": (self.last_ts - self.first_ts) if self.first_ts is not None and self.last_ts is not None
            else 0.0,
        }


def fault_kind(isa: str, code: int) -> str:
    """read/write/fetch of a fault, from the VMX exit qualification or the #NPF error code."""
    if isa == "svm":
        return "fetch" if code & 0x10 else "write" if code & 0x2 else "read"
    return "fetch" if code & 0x4 else "write" if code & 0x2 else "read"


def vcpu_of(record: Record) -> str:
    if record.fields and "vcpu" in record.fields:
        return f"vcpu{record.fields['vcpu']}"
    return record.comm


class StatsBuilder:
    """Feeds records one by one; keeps only counters and per-gfn last states."""

    def __init__(self, window: float = 1.0, notifier_window: float = 0.001, keep_malformed: int = 1000) -> None:
        self.s = TraceStats()
        self.window = window
        self.notifier_window = notifier_window
        self.keep_malformed = keep_malformed
        self.isa = "vmx"
        self.last_unmap: dict[int, float] = {}  # pid -> time of its last kvm_unmap_hva_range
        self.zapped: set[int] = set()  # gfns whose SPTE a notifier removed since their last fault

    def feed(self, number: int, text: str) -> None:
        s = self.s
        s.lines = number
        item = parse_line(number, text)
        if item is None:
            return
        if isinstance(item, Malformed):
            s.unparsed += 1
            if len(s.malformed) < self.keep_malformed:
                s.malformed.append(item)
            return
        s.parsed += 1
        if s.first_ts is None:
            s.first_ts = item.ts
        s.last_ts = item.ts
        system = item.system or SYSTEM.get(item.event, "")
        name = f"{system}:{item.event}" if system else item.event
        s.events[name] += 1
        if item.fields is None:
            s.unknown += 1
            return
        s.windows[int((item.ts - s.first_ts) // self.window)][item.event] += 1
        self._event(item)

    def _event(self, r: Record) -> None:
        s, f = self.s, r.fields or {}
        if r.event == "kvm_exit":
            reason = str(f["reason"])
            s.exit_reasons[reason] += 1
            s.per_vcpu[vcpu_of(r)]["exits"] += 1
            if reason in FAULT_REASONS:
                self.isa = FAULT_REASONS[reason]
                if "info1" in f and self.isa == "vmx":
                    s.fault_kinds[fault_kind("vmx", int(f["info1"]))] += 1
                    s.per_vcpu[vcpu_of(r)]["ept_violations"] += 1
        elif r.event == "kvm_page_fault":
            gfn = int(f["address"]) >> 12
            if self.isa == "svm":
                s.fault_kinds[fault_kind("svm", int(f["error_code"]))] += 1
            s.per_vcpu[vcpu_of(r)]["page_faults"] += 1
            if gfn in self.zapped:
                self.zapped.discard(gfn)
                s.notifier_refaults += 1
                s.per_vcpu[vcpu_of(r)]["notifier_refaults"] += 1
        elif r.event == "kvm_guest_fault":
            esr = int(f["hsr"])
            s.fault_kinds["fetch" if (esr >> 26) == 0x20 else "write" if esr & (1 << 6) else "read"] += 1
        elif r.event == "kvm_unmap_hva_range":
            s.notifier_invalidations += 1
            self.last_unmap[r.pid] = r.ts
        elif r.event in ("kvm_tdp_mmu_spte_changed", "kvm_mmu_prepare_zap_page"):
            removed = r.event == "kvm_mmu_prepare_zap_page" or (
                int(f["old_spte"]) & PRESENT and not int(f["new_spte"]) & PRESENT)
            started = self.last_unmap.get(r.pid)
            if removed and started is not None and r.ts - started <= self.notifier_window:
                s.notifier_zaps += 1
                self.zapped.add(int(f["gfn"]))
        elif r.event == "kvm_set_spte_hva":
            s.change_pte_calls += 1
            # change_pte from a vCPU thread is a COW break in its fault (do_wp_page); from ksmd a merge.
            if "ksmd" not in r.comm:
                s.cow_breaks += 1
        elif r.event in ("ksm_merge_with_ksm_page", "ksm_merge_one_page") and int(f["error"]) == 0:
            s.ksm_merges += 1


def trace_stats(stream: IO[str], *, window: float = 1.0) -> TraceStats:
    builder = StatsBuilder(window)
    for number, text in enumerate(stream, start=1):
        builder.feed(number, text)
    return builder.s
