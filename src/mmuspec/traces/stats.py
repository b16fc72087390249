"""What a trace says about the notifier protocol: ``mmuspec trace stats``.

Counts events, VM exits by reason and stage-2 faults by kind (read, write, fetch,
or unknown when the trace does not print the syndrome; see ``traces/exits.py``),
change_pte calls, KSM merges and COW breaks, per vCPU thread and per time window,
and finds notifier-induced refaults: a stage-2 fault on a gfn whose SPTE an
MMU-notifier invalidation removed since the gfn's last fault.  A zap is
attributed to a notifier when it comes from the same task as a
``kvm_unmap_hva_range`` event, within ``notifier_window`` seconds after it (the
zap runs inside the invalidation).  Zaps do not say which VM they hit, so a
refault is matched on the gfn alone [I: exact on a one-VM trace].

One fault is one exit: a fault exit opens it, and the thread's kvm_page_fault or
kvm_guest_fault that follows gives its guest address (and its kind, when the
exit did not print it).  A kvm_page_fault after an exit that is not a stage-2
fault is a shadow-paging guest #PF, which is not counted; one on a thread whose
exits are not traced is a fault of its own.  ``trace whatif`` replays exactly
the faults counted here (``on_fault``), so both commands count the same.

Rows are per vCPU thread (``traces/vcpu.py``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mmuspec.traces.era import EraGuess, infer_era
from mmuspec.traces.exits import KINDS, classify_exit, esr_kind, fault_code_kind
from mmuspec.traces.formats import BY_KEY, SYSTEM
from mmuspec.traces.reader import Malformed, Record, parse_line
from mmuspec.traces.vcpu import Fault, VcpuThread

PRESENT = 1  # bit 0 of an SPTE (present/readable) in the tdp_mmu_spte_changed values
VCPU_EVENTS = frozenset(("kvm_exit", "kvm_entry", "kvm_page_fault", "kvm_guest_fault"))
FaultSink = Callable[[Record, int | None, str], None]  # (record, gfn or None, kind)
ZapSink = Callable[[Record, int, str], None]  # (record, gfn, task that invalidated)


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
    threads: dict[tuple[str, int], VcpuThread] = field(default_factory=dict)
    windows: dict[int, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    formats: Counter[str] = field(default_factory=Counter)
    arch: str | None = None
    arches: set[str] = field(default_factory=set)  # every arch whose vCPU lines the trace holds
    ksmd_invalidations: int = 0  # kvm_unmap_hva_range from ksmd: KSM touched a page a VM maps
    era: EraGuess | None = None
    malformed: list[Malformed] = field(default_factory=list)
    # Exit latency per reason, kvm_exit to the thread's next kvm_entry (as ``perf kvm stat`` measures
    # it): [count, total, min, max] in seconds; exits with no entry after them are not timed.
    latency: dict[str, list[float]] = field(default_factory=dict)
    first_ts: float | None = None
    last_ts: float | None = None

    @property
    def faults(self) -> int:
        """Stage-2 faults (EPT violations, #NPF, guest aborts), as ``trace whatif`` replays them."""
        return sum(self.fault_kinds.values())

    @property
    def per_vcpu(self) -> list[VcpuThread]:
        return sorted(self.threads.values(), key=lambda t: (t.tgid is None, t.tgid or 0, t.comm, t.pid))

    def to_json(self, window: float) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "parsed": self.parsed,
            "unparsed": self.unparsed,
            "unknown": self.unknown,
            "arch": self.arch,
            "recorded_era": self.era.to_json() if self.era else None,
            "events": dict(self.events.most_common()),
            "formats": dict(sorted(self.formats.items())),
            "exit_reasons": dict(self.exit_reasons.most_common()),
            "faults": self.faults,
            "fault_kinds": {k: self.fault_kinds.get(k, 0) for k in KINDS},
            "notifier_invalidations": self.notifier_invalidations,
            "notifier_zaps": self.notifier_zaps,
            "notifier_refaults": self.notifier_refaults,
            "change_pte_calls": self.change_pte_calls,
            "ksm_merges": self.ksm_merges,
            "cow_breaks": self.cow_breaks,
            "per_vcpu": [t.to_json() for t in self.per_vcpu],
            "window_seconds": window,
            "windows": {str(k): dict(v) for k, v in sorted(self.windows.items())},
            "malformed": [{"line": m.line, "reason": m.reason} for m in self.malformed],
            "exit_latency_us": {reason: {"count": int(n), "mean": total / n * 1e6, "min": lo * 1e6,
                                         "max": hi * 1e6, "total": total * 1e6}
                                for reason, (n, total, lo, hi) in sorted(self.latency.items())},
            "duration_s": (self.last_ts - self.first_ts) if self.first_ts is not None and self.last_ts is not None
            else 0.0,
        }


class StatsBuilder:
    """Feeds records one by one; keeps only counters, per-thread state and per-gfn last states."""

    def __init__(self, window: float = 1.0, notifier_window: float = 0.001, keep_malformed: int = 1000, *,
                 on_fault: FaultSink | None = None, on_zap: ZapSink | None = None) -> None:
        self.s = TraceStats()
        self.window = window
        self.notifier_window = notifier_window
        self.keep_malformed = keep_malformed
        self.on_fault = on_fault
        self.on_zap = on_zap
        self.isa = ""  # the last fault exit's vendor, for page faults on threads whose exits are not traced
        self.last_unmap: dict[int, tuple[float, str]] = {}  # pid -> (time, task) of its last invalidation
        self.zapped: set[int] = set()  # gfns whose SPTE a notifier removed since their last fault
        self.exited: dict[tuple[str, int], tuple[float, str]] = {}  # thread -> (time, reason) of its open exit

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
        s.events[f"{system}:{item.event}" if system else item.event] += 1
        if item.fields is None:
            s.unknown += 1
            return
        s.formats[item.format] += 1
        if item.event in VCPU_EVENTS:
            s.arch = BY_KEY[item.format].arch or s.arch
            if BY_KEY[item.format].arch:
                s.arches.add(BY_KEY[item.format].arch)
        s.windows[int((item.ts - s.first_ts) // self.window)][item.event] += 1
        self._event(item)

    def finish(self) -> TraceStats:
        """Count the faults still open at the end of the trace and date the trace."""
        for thread in self.s.threads.values():
            self._close(thread)
        s = self.s
        events = {name.rpartition(":")[2] for name in s.events}
        silent = s.ksm_merges if s.ksmd_invalidations and not s.change_pte_calls else 0
        s.era = infer_era(s.formats, events, s.arch, merges_without_change_pte=silent, arches=s.arches)
        return self.s

    # -- vCPU threads and their faults ------------------------------------------------

    def _thread(self, r: Record) -> VcpuThread:
        key = (r.comm, r.pid)
        thread = self.s.threads.get(key)
        if thread is None:
            thread = self.s.threads[key] = VcpuThread(r.comm, r.pid)
        if r.tgid is not None:
            thread.tgid = r.tgid
        if r.fields and "vcpu" in r.fields:
            thread.vcpu_id = int(r.fields["vcpu"])
        return thread

    def _count(self, thread: VcpuThread, fault: Fault) -> None:
        s = self.s
        fault.counted = True
        kind = fault.kind or "unknown"
        s.fault_kinds[kind] += 1
        thread.counts["faults"] += 1
        if fault.gfn is not None and fault.gfn in self.zapped:
            self.zapped.discard(fault.gfn)
            s.notifier_refaults += 1
            thread.counts["notifier_refaults"] += 1
        if self.on_fault is not None:
            self.on_fault(fault.record, fault.gfn, kind)

    def _close(self, thread: VcpuThread) -> None:
        if thread.fault is not None and not thread.fault.counted:
            self._count(thread, thread.fault)
        thread.fault = None

    def _exit(self, r: Record, f: dict[str, Any]) -> None:
        thread = self._thread(r)
        self._close(thread)
        ex = classify_exit(f, BY_KEY[r.format])
        self.s.exit_reasons[ex.reason] += 1
        self.exited[(r.comm, r.pid)] = (r.ts, ex.reason)
        thread.counts["exits"] += 1
        thread.exit = ex
        if ex.fault:
            self.isa = ex.isa
            thread.fault = Fault(r, ex.isa, ex.kind, ex.gfn)

    def _fault_report(self, r: Record, gfn: int, code: int) -> None:
        """A kvm_page_fault (``code``: its error code) or kvm_guest_fault (``code``: the ESR): the guest
        address of the thread's open fault, or a fault of its own when the thread's exits are not traced."""
        thread = self._thread(r)
        thread.counts["page_faults"] += 1
        fault = thread.fault
        if fault is not None and not fault.counted:
            fault.gfn = gfn
            if fault.kind is None:
                fault.kind = self._kind(r, fault.isa, code)
            self._count(thread, fault)
        elif r.event == "kvm_guest_fault" or thread.exit is None or thread.exit.fault is None:
            # arm64 prints kvm_guest_fault only in kvm_handle_guest_abort(), so it is a stage-2 fault
            # wherever it stands; x86's kvm_page_fault after a non-fault exit is a guest #PF.
            self._count(thread, Fault(r, self.isa, self._kind(r, self.isa, code), gfn))

    @staticmethod
    def _kind(r: Record, isa: str, code: int) -> str:
        if r.event == "kvm_guest_fault":
            return esr_kind(code) or "unknown"
        if not isa and code >> 32 & 0x3:  # EXITINFO1 bits 32/33 (final/table walk): only an #NPF sets them
            isa = "svm"
        return fault_code_kind(isa, code)

    # -- events -----------------------------------------------------------------------

    def _event(self, r: Record) -> None:
        s, f = self.s, r.fields or {}
        if r.event == "kvm_exit":
            self._exit(r, f)
        elif r.event == "kvm_entry":
            self._close(self._thread(r))
            self._time_exit(r)
        elif r.event == "kvm_page_fault":
            self._fault_report(r, int(f["address"]) >> 12, int(f["error_code"]))
        elif r.event == "kvm_guest_fault":
            self._fault_report(r, int(f["ipa"]) >> 12, int(f["esr"]))
        elif r.event in ("kvm_unmap_hva_range", "kvm_unmap_hva"):
            s.notifier_invalidations += 1
            s.ksmd_invalidations += "ksmd" in r.comm
            self.last_unmap[r.pid] = (r.ts, r.comm)
        elif r.event in ("kvm_tdp_mmu_spte_changed", "kvm_mmu_prepare_zap_page"):
            self._zap(r, f)
        elif r.event == "kvm_set_spte_hva":
            s.change_pte_calls += 1
            # change_pte from a vCPU thread is a COW break in its fault (do_wp_page); from ksmd a merge.
            if "ksmd" not in r.comm:
                s.cow_breaks += 1
        elif r.event in ("ksm_merge_with_ksm_page", "ksm_merge_one_page") and int(f["error"]) == 0:
            s.ksm_merges += 1

    def _time_exit(self, r: Record) -> None:
        opened = self.exited.pop((r.comm, r.pid), None)
        if opened is None or r.ts < opened[0]:
            return
        took = r.ts - opened[0]
        row = self.s.latency.setdefault(opened[1], [0, 0.0, took, took])
        row[0] += 1
        row[1] += took
        row[2], row[3] = min(row[2], took), max(row[3], took)

    def _zap(self, r: Record, f: dict[str, Any]) -> None:
        if "gfn" not in f:  # libtraceevent's rendering of kvm_mmu_prepare_zap_page has no gfn
            return
        removed = r.event == "kvm_mmu_prepare_zap_page" or (
            int(f["old_spte"]) & PRESENT and not int(f["new_spte"]) & PRESENT)
        started = self.last_unmap.get(r.pid)
        if removed and started is not None and r.ts - started[0] <= self.notifier_window:
            self.s.notifier_zaps += 1
            self.zapped.add(int(f["gfn"]))
            if self.on_zap is not None:
                self.on_zap(r, int(f["gfn"]), started[1])


def trace_stats(stream: Iterable[str], *, window: float = 1.0) -> TraceStats:
    builder = StatsBuilder(window)
    for number, text in enumerate(stream, start=1):
        builder.feed(number, text)
    return builder.finish()
