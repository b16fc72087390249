"""``mmuspec diff``: what a change does to the protocol, scenario by scenario, arch by arch.

Two sides, A and B, are two configurations: two eras, an era and the same era with
switches set (``--set``), or an era and the same era with a variant (a patch under
review).  Every scenario is searched exhaustively on both sides for every arch, and
every answer is compared: the verdict, and for every event (property, warning,
observation) whether it is reachable.  A difference comes with the shortest witness of
the side where the event is reached, so a reviewer sees the execution the change
allows or removes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mmuspec.checking import CheckSpec, Reductions, run_check
from mmuspec.errors import UsageError
from mmuspec.explore import SearchResult, Witness
from mmuspec.model import ERAS, EVENTS, Kernel, Scenario, Variant
from mmuspec.model.switches import Value
from mmuspec.suggest import did_you_mean


@dataclass(frozen=True)
class Side:
    era: str
    overrides: dict[str, Value] = field(default_factory=dict)
    variant: Variant | None = None

    def label(self) -> str:
        sets = "".join(f" {k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(self.overrides.items()))
        return self.era + sets + (f" +{self.variant.path}" if self.variant else "")

    def spec(self, scenario: Scenario, arch: str) -> CheckSpec:
        return CheckSpec(scenario, self.era, {**self.overrides, "arch": arch}, self.variant)


def check_era(name: str) -> str:
    if name not in ERAS:
        raise UsageError(f"unknown era {name!r}{did_you_mean(name, ERAS)}; known eras: {', '.join(ERAS)}")
    return name


@dataclass(frozen=True)
class Difference:
    key: str  # "verdict" or an event id
    kind: str  # "verdict", "property", "warning" or "observation"
    a: str
    b: str
    side: str | None  # "A" or "B": the side whose witness is shown
    witness: Witness | None


@dataclass
class Cell:
    scenario: str
    arch: str
    a: SearchResult
    b: SearchResult
    a_kernel: Kernel
    b_kernel: Kernel
    a_spec: CheckSpec
    b_spec: CheckSpec
    differences: list[Difference]
    undetermined: list[str]
    seconds: float


def _answer(result: SearchResult, event: str) -> str:
    reach = result.reachable(event)
    if reach is None:
        return "not determined"
    witness = result.witnesses.get(event)
    return f"reachable ({witness.length} steps)" if reach and witness else "unreachable"


def compare(a: SearchResult, b: SearchResult) -> tuple[list[Difference], list[str]]:
    """The answers that differ, and the events one side could not determine."""
    out: list[Difference] = []
    open_: list[str] = []
    if a.verdict != b.verdict and "unknown" not in (a.verdict, b.verdict):
        side, result = ("A", a) if a.failures else ("B", b)
        head = result.failures[0] if result.failures else None
        out.append(Difference("verdict", "verdict", a.verdict, b.verdict, side if head else None, head))
    for event in EVENTS:
        ra, rb = a.reachable(event.id), b.reachable(event.id)
        if ra is None or rb is None:
            if ra != rb or ra is None:
                open_.append(event.id)
            continue
        if ra == rb:
            continue
        side, result = ("A", a) if ra else ("B", b)
        out.append(Difference(event.id, event.kind, _answer(a, event.id), _answer(b, event.id), side,
                              result.witnesses.get(event.id)))
    return out, open_


@dataclass(frozen=True)
class Skipped:
    """A scenario one side's kernel cannot run (a secondary MMU that era does not have)."""

    scenario: str
    arch: str
    reason: str


def run_diff(
    scenarios: list[Scenario],
    arches: list[str],
    a: Side,
    b: Side,
    *,
    max_seconds: float | None = None,
    on_cell: Callable[[Cell], None] | None = None,
    skip_unrunnable: bool = False,
) -> tuple[list[Cell], list[Skipped]]:
    """Every scenario x arch on both sides.  With ``skip_unrunnable`` (the default scenario
    list, not one the user named), a scenario that a side's kernel refuses is skipped and
    listed instead of ending the run."""
    cells: list[Cell] = []
    skipped: list[Skipped] = []
    for scenario in scenarios:
        for arch in arches:
            started = time.perf_counter()
            sa, sb = a.spec(scenario, arch), b.spec(scenario, arch)
            try:
                ka, ra = run_check(sa, reductions=Reductions(), max_seconds=max_seconds)
                kb, rb = run_check(sb, reductions=Reductions(), max_seconds=max_seconds)
            except UsageError as exc:
                if not skip_unrunnable:
                    raise
                skipped.append(Skipped(scenario.name, arch, str(exc)))
                continue
            if ra.interrupted or rb.interrupted:
                raise KeyboardInterrupt
            differences, open_ = compare(ra, rb)
            cell = Cell(scenario.name, arch, ra, rb, ka, kb, sa, sb, differences, open_,
                        time.perf_counter() - started)
            cells.append(cell)
            if on_cell is not None:
                on_cell(cell)
    return cells, skipped
