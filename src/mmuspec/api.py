"""The Python entry point: ``mmuspec.check(...)`` for notebooks and scripts.

It does what ``mmuspec check`` does and returns the object the command prints: the
search result with its witnesses, the judgements against the scenario's ``[expect]``
table, and coverage when asked.  ``str(result)`` is the command's text and
``result.to_json()`` its ``--json`` document, so a notebook and a terminal see the same
answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mmuspec.checking import CheckSpec, Reductions, run_check
from mmuspec.errors import EXIT_BOUNDED, EXIT_FOUND, EXIT_INTERRUPTED, EXIT_SAFE, UsageError
from mmuspec.expectations import Judgement, judge, judgement_text, status
from mmuspec.explore import SearchResult, Witness
from mmuspec.model import (
    DEFAULT_ERA,
    Kernel,
    Scenario,
    load_scenario,
    load_variant,
    parse_assignments,
)
from mmuspec.report.check_report import exit_status, json_report, text_report
from mmuspec.report.coverage import Coverage, coverage, coverage_text
from mmuspec.report.trace_text import TraceLine, trace_lines


@dataclass
class CheckResult:
    """One check: what was checked, what the search found, and what that means."""

    spec: CheckSpec
    kernel: Kernel
    search: SearchResult
    expectations: list[Judgement] = field(default_factory=list)
    coverage: Coverage | None = None

    @property
    def verdict(self) -> str:
        """``safe``, ``violation``, ``warning`` or ``unknown`` (a bounded search found nothing)."""
        return self.search.verdict

    @property
    def as_expected(self) -> bool | None:
        """Whether the scenario's ``[expect]`` answers for this era hold (None: no
        expectation for this era, or the search cannot tell)."""
        return status(self.expectations) if self.expectations else None

    def reachable(self, event: str) -> bool | None:
        return self.search.reachable(event)

    def witness(self, event: str) -> Witness | None:
        return self.search.witnesses.get(event)

    def trace(self, event: str) -> list[TraceLine]:
        """The shortest witness of ``event``, step by step (empty if it was not reached)."""
        found = self.witness(event)
        return trace_lines(self.kernel, found.actions, self.spec.era) if found else []

    @property
    def exit_status(self) -> int:
        """What ``mmuspec check`` exits with.  With expectations for this era: 0 when they
        all hold (a violation the file expects is not a failure), 1 when one does not,
        4 when the search cannot tell; otherwise the search's own status."""
        if self.search.interrupted:
            return EXIT_INTERRUPTED
        if not self.expectations:
            return exit_status(self.search)
        return {True: EXIT_SAFE, False: EXIT_FOUND, None: EXIT_BOUNDED}[status(self.expectations)]

    def text(self, *, witnesses: bool = False) -> str:
        out = [text_report(self.spec, self.kernel, self.search, all_observations=witnesses)]
        if self.expectations:
            out += ["", judgement_text(self.expectations, self.spec.scenario.source, self.spec.era)]
        if self.coverage is not None:
            out += ["", coverage_text(self.coverage)]
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the report
        printer.text(self.text())

    def to_json(self, *, witnesses: bool = False) -> dict[str, Any]:
        data = json_report(self.spec, self.kernel, self.search, all_observations=witnesses)
        config = data.pop("config")
        data["expect"] = None if not self.expectations else {
            "source": self.spec.scenario.source, "era": self.spec.era, "matches": status(self.expectations),
            "checks": [j.to_json() for j in self.expectations]}
        if self.coverage is not None:
            data["coverage"] = self.coverage.to_json()
        data["config"] = config
        return data


def finish(spec: CheckSpec, kernel: Kernel, search: SearchResult, *, with_coverage: bool = False) -> CheckResult:
    """Judge a finished search against its scenario's expectations, add coverage."""
    expected = spec.scenario.expect.for_era(spec.era)
    judgements = judge(kernel, search, expected) if expected and not search.interrupted else []
    cov = coverage(spec, kernel, search) if with_coverage and search.action_counts is not None else None
    return CheckResult(spec, kernel, search, judgements, cov)


def check(
    scenario: str | Scenario,
    era: str = DEFAULT_ERA,
    *,
    arch: str | None = None,
    sets: Iterable[str] = (),
    variant: str | None = None,
    vcpus: int | None = None,
    accesses: int | None = None,
    coverage: bool = False,
    max_states: int | None = None,
    max_seconds: float | None = None,
    reductions: Reductions | None = None,
) -> CheckResult:
    """Check ``scenario`` (a built-in name, a TOML path or a ``Scenario``) in ``era``, as
    ``mmuspec check`` does: an exhaustive search with every exact reduction, in this
    process.  ``sets`` are ``"NAME=VALUE"`` switch overrides; ``max_states`` and
    ``max_seconds`` bound the search (then it proves nothing)."""
    loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
    overrides = parse_assignments(list(sets))
    if arch is not None:
        if overrides.get("arch", arch) != arch:
            raise UsageError(f"arch={arch!r} contradicts the set arch={overrides['arch']}")
        overrides["arch"] = arch
    spec = CheckSpec(loaded.scaled(vcpus, accesses), era, overrides, load_variant(variant) if variant else None)
    _ = spec.config  # an unknown era or switch fails here, before any search
    kernel, search = run_check(spec, reductions=reductions or Reductions(), max_states=max_states,
                               max_seconds=max_seconds, coverage=coverage)
    return finish(spec, kernel, search, with_coverage=coverage)
