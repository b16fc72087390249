"""Is a recorded trace a behaviour of the model?  Per page, event by event.

Each event that concerns a guest page becomes a label of ``page_model`` (an unmap from
ksmd or from the mm, an SPTE installed, a KSM merge, an ageing call, a change_pte, a
shadow page zapped), and each page's labels, in trace order, are run through the page
automaton of the era: the set of model states the page may be in is carried from event
to event, and the first event that leaves it empty is a sequence the model does not
admit.  The sets are interned and each (set, label) step computed once, so a trace is
checked in one pass at the speed of reading it, in memory proportional to the pages.

Which page an event concerns: unmap and ageing events print host virtual addresses,
``kvm_mmu_spte_requested`` and ``kvm_mmu_prepare_zap_page`` guest frame numbers, and
``ksm_merge_with_ksm_page`` only a pfn, so a merge belongs to the page ksmd unmapped last
(it traces at the end of ``try_to_merge_with_ksm_page()``, after the unmaps of that page's
``write_protect_page()`` and ``replace_page()``).  ``Mapping`` says where guest memory
is: a lab trace carries it in its first line (``# mmuspec-lab ...``); for other traces
``--hva``/``--gfn``/``--pages`` give it, and without a gfn base the gfn-keyed events are
left out and treated as unseen.  So are ksmd's merge outcomes until the trace shows that it
records ksm events (``MERGE_LABELS``): a 6.1 kernel has no such event, and a page whose merge
attempt failed is tried again in a later scan with nothing printed in between.
"""

from __future__ import annotations

import re
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from mmuspec.traces.formats import FORMATS
from mmuspec.traces.page_model import PageAutomaton
from mmuspec.traces.reader import parse_line

PAGE = 4096
HEADER = "# mmuspec-lab "
# <comm>-<pid> [(<tgid>)] [<cpu>] [<flags>] <secs.usecs>: <event>: <fields>; the general
# reader (reader.parse_line) takes any line this does not match.
PREFIX = r"\s*(.*?)-(\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[\d+\]\s+(?:[A-Za-z.0-9]{4,5}\s+)?(\d+\.\d+): "
FAST = re.compile(PREFIX + r"(?:\w+:)?(\w+): ?(.*)")
WANTED = {"kvm_unmap_hva_range", "kvm_age_hva", "kvm_test_age_hva", "kvm_set_spte_hva", "ksm_merge_with_ksm_page",
          "kvm_mmu_spte_requested", "kvm_mmu_prepare_zap_page", "tracing_mark_write", "print", "ksm_start_scan",
          "ksm_stop_scan"}
CONTEXT = 6
# ksmd's merge outcomes (``ksm_merge_with_ksm_page``), and every event of include/trace/events/ksm.h
# that page_events reads.  A trace shows the outcomes only if it records ksm events: a kernel
# before v6.4 [I] has none (6.1.192 has no include/trace/events/ksm.h), and a host may not enable
# them.  So the outcomes are invisible until the trace shows a ksm event, and seen from then on.
MERGE_LABELS = frozenset({"merge", "merge-in-place", "merge-failed"})
KSM_LABELS = MERGE_LABELS | {"merge-elsewhere", "ksm_start_scan", "ksm_stop_scan"}
# The two events that make up nearly every line of a long run, in the text 6.x prints
# (include/trace/events/kvm.h, arch/x86/kvm/mmu/mmutrace.h), read with one match of the
# whole line instead of FAST and the format table; any other line goes the general way.
HOT = re.compile(PREFIX + r"(?:kvm_unmap_hva_range: mmu notifier unmap range: (0x[0-9a-fA-F]+) -- (0x[0-9a-fA-F]+)"
                 r"|kvm_mmu_spte_requested: gfn ([0-9a-fA-F]+) pfn ([0-9a-fA-F]+) level \d+)\s*$")


@dataclass(frozen=True)
class Mapping:
    """Where the guest's pages are: ``pages`` pages from ``hva`` (host) and ``gfn`` (guest)."""

    hva: int | None = None
    gfn: int | None = None
    pages: int | None = None
    vcpu_tids: frozenset[int] = frozenset()  # empty: a map event of any thread counts
    ksmd: str = "ksmd"

    @staticmethod
    def from_header(line: str) -> Mapping | None:
        if not line.startswith(HEADER):
            return None
        kv = dict(part.split("=", 1) for part in line[len(HEADER):].split() if "=" in part)
        tids = frozenset(int(t) for t in kv.get("vcpu_tids", "").split(",") if t)
        return Mapping(int(kv["hva"], 0) if "hva" in kv else None, int(kv["gfn"], 0) if "gfn" in kv else None,
                       int(kv["pages"]) if "pages" in kv else None, tids)

    def header(self, **extra: object) -> str:
        parts = [f"hva={self.hva:#x}" if self.hva is not None else "", f"gfn={self.gfn:#x}" if self.gfn is not None else "",
                 f"pages={self.pages}" if self.pages is not None else "",
                 "vcpu_tids=" + ",".join(map(str, sorted(self.vcpu_tids))) if self.vcpu_tids else ""]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return HEADER + " ".join(p for p in parts if p)

    def hva_pages(self, start: int, end: int) -> range:
        """The page indexes (or, with no base, page numbers of the hva) that [start, end) covers."""
        if self.hva is None:
            return range(start // PAGE, (end + PAGE - 1) // PAGE)
        first = max(start - self.hva, 0) // PAGE
        last = (end - self.hva + PAGE - 1) // PAGE
        if self.pages is not None:
            last = min(last, self.pages)
        return range(first, max(last, first))

    def gfn_page(self, gfn: int) -> int | None:
        if self.gfn is None:
            return None
        page = gfn - self.gfn
        return page if page >= 0 and (self.pages is None or page < self.pages) else None

    def page_name(self, page: int) -> str:
        if self.gfn is not None:
            return f"gfn {self.gfn + page:#x}"
        return f"hva {page * PAGE:#x}" if self.hva is None else f"hva {self.hva + page * PAGE:#x}"


@dataclass
class Rejection:
    page: int
    name: str  # "gfn 0x1001"
    line: int
    label: str
    text: str
    states: list[str]  # the model states the page could be in before the event
    before: list[str]  # the page's events before it (trace lines)


@dataclass
class Verdict:
    era: str
    workload: str
    events: int = 0  # labelled page events checked
    pages: int = 0
    admitted: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    rejected_pages: int = 0
    labels: Counter[str] = field(default_factory=Counter)
    seen: Counter[str] = field(default_factory=Counter)  # every event name read, ours or not
    unattributed_merges: int = 0
    outside: int = 0  # events on memory that is not the guest's
    merge_outcomes_checked: bool = False  # the trace showed ksm events (MERGE_LABELS)
    ksmd: bool = False  # the model has ksmd, whose merge outcomes a trace may show
    lines: int = 0
    window: tuple[float | None, float | None] = (None, None)

    @property
    def ok(self) -> bool:
        return not self.rejections

    def to_json(self) -> dict[str, Any]:
        return {
            "era": self.era, "workload": self.workload, "events": self.events, "pages": self.pages,
            "admitted": self.admitted, "rejected": self.rejected_pages,
            "labels": dict(sorted(self.labels.items())), "seen": dict(sorted(self.seen.items())),
            "unattributed_merges": self.unattributed_merges, "outside": self.outside,
            "merge_outcomes_checked": self.merge_outcomes_checked,
            "first_rejection": None if not self.rejections else {
                "page": self.rejections[0].name, "line": self.rejections[0].line, "label": self.rejections[0].label,
                "event": self.rejections[0].text, "model_states": self.rejections[0].states,
                "before": self.rejections[0].before},
        }


class _Runner:
    """The page automaton as a deterministic one over interned state sets."""

    def __init__(self, automaton: PageAutomaton, hidden: frozenset[str]) -> None:
        self.a = automaton
        self.hidden = hidden
        self.sets: list[frozenset[int]] = []
        self.ids: dict[frozenset[int], int] = {}
        self.memo: dict[tuple[int, str], int] = {}
        self.start = self._intern(self._closure(automaton.starts))

    def _closure(self, nodes: Iterable[int]) -> frozenset[int]:
        seen = set(nodes)
        todo = list(seen)
        edges = self.a.edges
        while todo:
            e = edges[todo.pop()]
            for label in (None, *self.hidden):
                for m in e.get(label, ()):
                    if m not in seen:
                        seen.add(m)
                        todo.append(m)
        return frozenset(seen)

    def showing(self, labels: frozenset[str], state: dict[int, int]) -> _Runner:
        """The runner in which ``labels`` are seen, each page of ``state`` moved to it.  A
        page's set, closed under the labels hidden here, stays a set of states it may be in."""
        runner = _Runner(self.a, self.hidden - labels)
        for page, n in state.items():
            state[page] = runner._intern(self.sets[n])
        return runner

    def _intern(self, nodes: frozenset[int]) -> int:
        n = self.ids.get(nodes)
        if n is None:
            n = self.ids[nodes] = len(self.sets)
            self.sets.append(nodes)
        return n

    def step(self, state: int, label: str) -> int:
        key = (state, label)
        n = self.memo.get(key)
        if n is None:
            out: set[int] = set()
            edges = self.a.edges
            for node in self.sets[state]:
                out.update(edges[node].get(label, ()))
            n = self.memo[key] = self._intern(self._closure(out))
        return n

    def empty(self, state: int) -> bool:
        return not self.sets[state]


def _fields(event: str, text: str) -> dict[str, Any] | None:
    for f in FORMATS.get(event, ()):
        parsed = f.parse(text.strip())
        if parsed is not None:
            return parsed
    return None


@dataclass(slots=True)
class PageEvent:
    """One event on one guest page (``page`` None for ksmd's scan events)."""

    line: int
    ts: float
    page: int | None
    label: str
    pid: int
    text: str
    fields: dict[str, Any]


@dataclass
class Reading:
    """What reading the trace saw besides the page events."""

    seen: Counter[str] = field(default_factory=Counter)
    unattributed_merges: int = 0
    outside: int = 0
    lines: int = 0
    window: tuple[float | None, float | None] = (None, None)
    markers: dict[str, tuple[float, int]] = field(default_factory=dict)  # start/end -> (ts, tsc)


def read_header(lines: Iterator[str]) -> tuple[Mapping | None, list[str]]:
    """The lab header of a trace, if its first line is one, and the lines to read again."""
    first = next(lines, "")
    header = Mapping.from_header(first.strip())
    return header, ([] if header is not None or not first else [first])


def page_events(lines: Iterable[str], mapping: Mapping, reading: Reading, *, markers: bool,
                first_line: int = 1) -> Iterator[PageEvent]:
    """The trace's events on guest pages, in trace order (see the module doc)."""
    seen: dict[str, int] = {}
    try:
        yield from _page_events(lines, mapping, reading, markers, first_line, seen)
    finally:
        reading.seen.update(seen)


def _general(lineno: int, text: str, fast: Any, seen: dict[str, int],
             wanted: set[str]) -> tuple[str, str, str, str, str] | None:
    """(comm, pid, timestamp, event, fields text) of a line that is not a hot one, counted in
    ``seen``; None for a line that is no event or one this module does not read."""
    m = fast(text)
    if m is not None:
        comm, pid_text, ts_text, event, rest = m.groups()
    else:
        rec = parse_line(lineno, text)
        if rec is None or not hasattr(rec, "event"):
            return None
        comm, pid_text, ts_text, event = rec.comm, str(rec.pid), str(rec.ts), rec.event  # type: ignore[union-attr]
        rest = text.split(f"{event}:", 1)[-1]
    seen[event] = seen.get(event, 0) + 1
    return (comm, pid_text, ts_text, event, rest) if event in wanted else None


def _page_events(lines: Iterable[str], mapping: Mapping, reading: Reading, markers: bool, first_line: int,
                 seen: dict[str, int]) -> Iterator[PageEvent]:
    last_ksmd_page: dict[int, int | None] = {}
    started = not markers
    gfns = mapping.gfn is not None
    gfn0, top = mapping.gfn or 0, (mapping.gfn or 0) + (mapping.pages if mapping.pages is not None else 1 << 62)
    vcpu_tids = mapping.vcpu_tids
    fast, hot, wanted = FAST.match, HOT.match, WANTED
    for lineno, text in enumerate(lines, start=first_line):
        reading.lines += 1
        h = hot(text)
        if h is not None:
            comm, pid_text, ts_text, start_hex, end_hex, gfn_hex, pfn_hex = h.groups()
            if start_hex is not None:
                event, f = "kvm_unmap_hva_range", {"start": int(start_hex, 16), "end": int(end_hex, 16)}
            else:
                event, f = "kvm_mmu_spte_requested", {"gfn": int(gfn_hex, 16), "pfn": int(pfn_hex, 16)}
            seen[event] = seen.get(event, 0) + 1
            if not started:
                continue
            ts = float(ts_text)
        else:
            parsed = _general(lineno, text, fast, seen, wanted)
            if parsed is None:
                continue
            comm, pid_text, ts_text, event, rest = parsed
            ts = float(ts_text)
            if event in ("tracing_mark_write", "print"):
                for what in ("start", "end"):
                    if f"mmuspec-lab {what}" in rest:
                        tsc = rest.rsplit("tsc=", 1)[-1].strip()
                        reading.markers[what] = (ts, int(tsc) if tsc.isdigit() else 0)
                if "mmuspec-lab start" in rest:
                    started = True
                    reading.window = (ts, reading.window[1])
                elif "mmuspec-lab end" in rest and markers:
                    reading.window = (reading.window[0], ts)
                    return
                continue
            if not started:
                continue
            parsed_fields = _fields(event, rest)
            if parsed_fields is None:
                continue
            f = parsed_fields
        pid = int(pid_text)
        if event == "kvm_unmap_hva_range":
            pages = mapping.hva_pages(f["start"], f["end"])
            is_ksmd = comm == mapping.ksmd
            if not pages:
                reading.outside += 1
                if is_ksmd:
                    last_ksmd_page[pid] = None
                continue
            label = "unmap:ksmd" if is_ksmd else "unmap:mm"
            for page in pages:
                yield PageEvent(lineno, ts, page, label, pid, text, f)
            if is_ksmd:
                last_ksmd_page[pid] = pages[0] if len(pages) == 1 else None
        elif event == "ksm_merge_with_ksm_page":
            merged = last_ksmd_page.get(pid)
            if merged is None:
                reading.unattributed_merges += 1
                yield PageEvent(lineno, ts, None, "merge-elsewhere", pid, text, f)  # another process's page
                continue
            last_ksmd_page[pid] = None
            label = "merge-failed" if f.get("error") else ("merge" if f.get("ksm") else "merge-in-place")
            yield PageEvent(lineno, ts, merged, label, pid, text, f)
        elif event in ("kvm_age_hva", "kvm_test_age_hva", "kvm_set_spte_hva"):
            start = f.get("start", f.get("hva", 0))
            pages = mapping.hva_pages(start, f.get("end", start + 1))
            if not pages:
                reading.outside += 1
                continue
            label = {"kvm_age_hva": "age", "kvm_test_age_hva": "test-age", "kvm_set_spte_hva": "change-pte"}[event]
            for page in pages:
                yield PageEvent(lineno, ts, page, label, pid, text, f)
        elif gfns and event == "kvm_mmu_spte_requested":
            gfn = f["gfn"]
            if not gfn0 <= gfn < top or (vcpu_tids and pid not in vcpu_tids):
                reading.outside += 1
                continue
            yield PageEvent(lineno, ts, gfn - gfn0, "map", pid, text, f)
        elif gfns and event == "kvm_mmu_prepare_zap_page":
            if " direct " not in f" {f.get('role', '')} " or mapping.gfn is None:
                continue
            span = 512 ** int(f["level"])
            zap_end = mapping.gfn + (mapping.pages or 0)
            for gfn in range(max(f["gfn"], mapping.gfn), min(f["gfn"] + span, zap_end)):
                one = mapping.gfn_page(gfn)
                if one is not None:
                    yield PageEvent(lineno, ts, one, "zap-shadow", pid, text, f)
        elif event in ("ksm_start_scan", "ksm_stop_scan"):
            yield PageEvent(lineno, ts, None, event, pid, text, f)


def validate(stream: Iterable[str], automaton: PageAutomaton, mapping: Mapping | None = None, *,
             max_rejections: int = 1) -> Verdict:
    """Check every page's events in ``stream`` against ``automaton`` (see the module doc)."""
    lines_in = iter(stream)
    header, again = read_header(lines_in)
    mapping = mapping or header or Mapping()
    hidden = frozenset({"map", "zap-shadow"}) if mapping.gfn is None else frozenset()
    runner = _Runner(automaton, hidden | MERGE_LABELS)
    verdict = Verdict(automaton.era, automaton.workload)
    reading = Reading()
    state: dict[int, int] = {}
    recent: dict[int, deque[tuple[int, str]]] = {}  # formatted only for a rejection
    rejected: set[int] = set()
    labels: dict[str, int] = {}
    start = runner.start
    memo, sets = runner.memo, runner.sets
    lines = _chain(again, lines_in)
    for ev in page_events(lines, mapping, reading, markers=header is not None, first_line=1 if again else 2):
        page = ev.page
        label = ev.label
        if label in KSM_LABELS and runner.hidden >= MERGE_LABELS:
            runner = runner.showing(MERGE_LABELS, state)
            start, memo, sets = runner.start, runner.memo, runner.sets
        if page is None or page in rejected:
            continue
        labels[label] = labels.get(label, 0) + 1
        cur = state.get(page, start)
        nxt = memo.get((cur, label))
        if nxt is None:
            nxt = runner.step(cur, label)
        if not sets[nxt]:
            rejected.add(page)
            if len(verdict.rejections) < max_rejections:
                nodes = sorted(runner.sets[cur])[:4]
                verdict.rejections.append(Rejection(
                    page, mapping.page_name(page), ev.line, label, ev.text.strip(),
                    [automaton.describe(n) for n in nodes], [f"{n}: {t.strip()}" for n, t in recent.get(page, ())]))
            continue
        state[page] = nxt
        ring = recent.get(page)
        if ring is None:
            ring = recent[page] = deque(maxlen=CONTEXT)
        ring.append((ev.line, ev.text))
    verdict.labels = Counter(labels)
    verdict.events = sum(labels.values())
    verdict.seen, verdict.unattributed_merges, verdict.outside = reading.seen, reading.unattributed_merges, reading.outside
    verdict.lines, verdict.window = reading.lines, reading.window
    verdict.merge_outcomes_checked = not runner.hidden >= MERGE_LABELS
    verdict.ksmd = any(k.scenario.merge for k in automaton.kernels)
    verdict.pages = len(state.keys() | rejected)
    verdict.rejected_pages = len(rejected)
    verdict.admitted = verdict.pages - verdict.rejected_pages
    return verdict


def _chain(first: list[str], rest: Iterable[str]) -> Iterable[str]:
    yield from first
    yield from rest
