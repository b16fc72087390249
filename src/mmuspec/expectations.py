"""Judging a search against a scenario's ``[expect]`` table (``model/expect.py``).

A reachable event is ``Always`` when no execution can finish without it and
``Sometimes`` when one can: that takes one more search of the state graph, with the
transitions that raise the event removed, looking for a state where every thread has
finished.  It runs only for events the table names, and only after an exhaustive
search (a bounded one leaves every answer but "found" undetermined).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from mmuspec.explore import SearchResult
from mmuspec.model import EVENTS, Kernel
from mmuspec.model.expect import FAILURE_IDS

AVOID_MAX_STATES = 2_000_000
_BIT = {e.id: 1 << i for i, e in enumerate(EVENTS)}


@dataclass(frozen=True)
class Judgement:
    key: str
    expected: str
    got: str | None  # None: the search cannot tell
    detail: str = ""

    @property
    def matches(self) -> bool | None:
        return None if self.got is None else self.got == self.expected

    def line(self, width: int) -> str:
        mark = {True: "ok      ", False: "MISMATCH", None: "?       "}[self.matches]
        got = self.got if self.got is not None else "not determined"
        more = f" ({self.detail})" if self.detail else ""
        return f"  {mark}  {self.key:<{width}}  expected {self.expected}, got {got}{more}"

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "expected": self.expected, "got": self.got, "matches": self.matches,
                "detail": self.detail or None}


def avoidable(kernel: Kernel, event: str, max_states: int = AVOID_MAX_STATES) -> bool | None:
    """Whether some execution finishes (every thread done) without raising ``event``;
    None if the search of the graph without it exceeds ``max_states``."""
    bit = _BIT[event]
    start = kernel.representative(kernel.initial())
    seen = {start}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        if kernel.all_done(state):
            return True
        for _action, nxt, ev in kernel.canonical_successors(state):
            if ev & bit or nxt in seen:
                continue
            seen.add(nxt)
            queue.append(nxt)
        if len(seen) > max_states:
            return None
    return False


def judge(kernel: Kernel, result: SearchResult, expected: dict[str, str]) -> list[Judgement]:
    """One judgement per expected key, ``verdict`` first."""
    exhaustive = result.complete and not result.interrupted
    out = []
    for key in sorted(expected, key=lambda k: (k != "verdict", k)):
        want = expected[key]
        if key == "verdict":
            out.append(_verdict(result, want, exhaustive))
            continue
        witness = result.witnesses.get(key)
        if witness is None:
            out.append(Judgement(key, want, "Never" if exhaustive else None,
                                 "" if exhaustive else "search incomplete"))
            continue
        if not exhaustive:
            # Found, so not Never; Always and Sometimes need the whole graph.
            got = None if want != "Never" else "Sometimes"
            out.append(Judgement(key, want, got, f"reachable in {witness.length} steps; search incomplete"))
            continue
        escape = avoidable(kernel, key)
        got = None if escape is None else ("Sometimes" if escape else "Always")
        out.append(Judgement(key, want, got, f"shortest witness {witness.length} steps"))
    return out


def _verdict(result: SearchResult, want: str, exhaustive: bool) -> Judgement:
    found = [w.event for w in result.failures]
    shown = result.verdict + (f" ({', '.join(found)})" if found else "")
    if want in FAILURE_IDS:
        if want in result.witnesses:
            return Judgement("verdict", want, want, shown)
        return Judgement("verdict", want, shown if exhaustive or found else None)
    if result.verdict in ("violation", "warning") or exhaustive:
        got = result.verdict
        return Judgement("verdict", want, got, ", ".join(found))
    return Judgement("verdict", want, None, "search incomplete")


def status(judgements: list[Judgement]) -> bool | None:
    """True if every expectation holds, False if one does not, None if some are open."""
    if any(j.matches is False for j in judgements):
        return False
    return None if any(j.matches is None for j in judgements) else True


def judgement_text(judgements: list[Judgement], source: str, era: str) -> str:
    ok = sum(1 for j in judgements if j.matches)
    word = {True: "as expected", False: "NOT as expected", None: "not determined"}[status(judgements)]
    width = max(len(j.key) for j in judgements)
    head = f"expected results ([expect] of {source}, era {era}): {word}, {ok} of {len(judgements)} hold"
    return "\n".join([head, *(j.line(width) for j in judgements)])
