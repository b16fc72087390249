"""What a search returns: figures, and a witness path for every event it saw."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Witness:
    """The shortest path the search found to a transition carrying ``event``; for a
    progress violation, a lasso whose steps from ``loop_start`` on repeat forever, a
    ``cycle`` that is a "livelock" (real steps that never bring the end nearer) or a
    "deadlock" (no thread can move)."""

    event: str
    kind: str
    actions: tuple[int, ...]
    loop_start: int | None = None
    cycle: str | None = None

    @property
    def length(self) -> int:
        return len(self.actions)


@dataclass
class SearchResult:
    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    complete: bool = True
    stop_reason: str = ""
    witnesses: dict[str, Witness] = field(default_factory=dict)
    event_kinds: dict[str, str] = field(default_factory=dict)
    bytes_per_state: float | None = None
    collision_probability: float | None = None
    mode: str = "bfs"
    progress_states: int | None = None  # states of the progress (liveness) search, if one ran
    engine: str = "interpreted"  # which engine searched: "compiled" or "interpreted"
    engine_note: str = ""  # why the interpreter ran when the compiled core could not
    interrupted: bool = False  # stopped by Ctrl-C: the figures are those reached so far
    notes: list[str] = field(default_factory=list)  # what the report must say about how it was searched
    covered: set[int] = field(default_factory=set, repr=False)
    # With coverage counting (``coverage.CountingModel``): transitions taken per action
    # number, and a sample of the states expanded; None and empty otherwise.
    action_counts: dict[int, int] | None = None
    sampled: list[bytes] = field(default_factory=list, repr=False)

    def found(self, kind: str) -> list[Witness]:
        return [w for w in self.witnesses.values() if w.kind == kind]

    @property
    def violation(self) -> Witness | None:
        """The property violation to report: the shortest one."""
        found = self.found("property")
        return min(found, key=lambda w: (w.length, w.event)) if found else None

    @property
    def warnings(self) -> list[Witness]:
        return sorted(self.found("warning"), key=lambda w: w.event)

    @property
    def failures(self) -> list[Witness]:
        """Every violated property, then every WARN that fired, each with its own shortest
        witness: the properties shortest first (so ``failures[0]`` is ``violation``), then
        the warnings in the same order."""
        order = {"property": 0, "warning": 1}
        found = [w for w in self.witnesses.values() if w.kind in order]
        return sorted(found, key=lambda w: (order[w.kind], w.length, w.event))

    def reachable(self, event: str) -> bool | None:
        """True if seen; False if not seen in a complete search; None if the search
        stopped early and did not see it."""
        if event in self.witnesses:
            return True
        return False if self.complete else None

    @property
    def verdict(self) -> str:
        if self.violation is not None:
            return "violation"
        if self.warnings:
            return "warning"
        return "safe" if self.complete else "unknown"
