"""One check, end to end: a specification in, a search result and its traces out.

``CheckSpec`` names everything that determines a model (scenario, era, switch
overrides, variant, sizes) and can be written into a trace file and read back,
so that ``mmuspec replay`` rebuilds exactly the model that produced a trace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mmuspec.errors import InputError
from mmuspec.explore import Progress, SearchResult, bfs
from mmuspec.model import (
    Config,
    Kernel,
    Scenario,
    Variant,
    era_config,
    parse_assignments,
    parse_scenario,
    parse_variant,
)
from mmuspec.model.switches import Value


@dataclass(frozen=True)
class CheckSpec:
    scenario: Scenario
    era: str
    overrides: dict[str, Value] = field(default_factory=dict)
    variant: Variant | None = None

    @property
    def config(self) -> Config:
        return era_config(self.era, self.overrides)

    def kernel(self) -> Kernel:
        return Kernel(self.scenario, self.config, self.variant)

    def label(self) -> str:
        parts = [self.scenario.name, f"era {self.era}", f"arch {self.config['arch']}"]
        parts += [f"{k}={_text(v)}" for k, v in sorted(self.overrides.items()) if k != "arch"]
        parts.append(f"{self.scenario.vcpus} vCPU x {self.scenario.accesses} accesses")
        if self.variant:
            parts.append(f"variant {self.variant.path}")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": {
                "name": self.scenario.name,
                "source": self.scenario.source,
                "text": self.scenario.text,
            },
            "era": self.era,
            "set": {k: _text(v) for k, v in sorted(self.overrides.items())},
            "vcpus": self.scenario.vcpus,
            "accesses": self.scenario.accesses,
            "variant": None if self.variant is None else {"path": self.variant.path, "text": self.variant.text},
        }

    @staticmethod
    def from_json(data: dict[str, Any], source: str) -> CheckSpec:
        try:
            sc = data["scenario"]
            scenario = parse_scenario(sc["text"], sc.get("source", source), sc["name"])
            scenario = scenario.scaled(int(data["vcpus"]), int(data["accesses"]))
            overrides = parse_assignments(f"{k}={v}" for k, v in data.get("set", {}).items())
            variant_data = data.get("variant")
            variant = parse_variant(variant_data["text"], variant_data["path"]) if variant_data else None
            spec = CheckSpec(scenario, str(data["era"]), overrides, variant)
            _ = spec.config  # validates the era
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(source, None, f"not an mmuspec trace file ({type(exc).__name__}: {exc})") from None
        return spec


def _text(value: Value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_check(
    spec: CheckSpec,
    *,
    stop_on_violation: bool = False,
    exact: bool = False,
    max_states: int | None = None,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[Kernel, SearchResult]:
    kernel = spec.kernel()
    result = bfs(
        kernel,
        stop_on_violation=stop_on_violation,
        exact=exact,
        max_states=max_states,
        progress=progress,
    )
    return kernel, result


@dataclass(frozen=True)
class MatrixCell:
    scenario: str
    era: str
    arch: str
    verdict: str
    property: str | None
    warnings: tuple[str, ...]
    change_pte_called: bool
    change_pte_changed_spte: bool | None
    states: int
    seconds: float


def matrix_cell(spec: CheckSpec) -> MatrixCell:
    """Run one check of the matrix and keep what the table shows."""
    _, result = run_check(spec)
    return MatrixCell(
        scenario=spec.scenario.name,
        era=spec.era,
        arch=str(spec.config["arch"]),
        verdict=result.verdict,
        property=result.violation.event if result.violation else None,
        warnings=tuple(w.event for w in result.warnings),
        change_pte_called=bool(result.reachable("change_pte_called")),
        change_pte_changed_spte=result.reachable("change_pte_changed_spte"),
        states=result.states,
        seconds=result.seconds,
    )


def run_matrix(
    scenarios: list[Scenario],
    eras: list[str],
    arches: list[str],
    overrides: dict[str, Value],
    variant: Variant | None = None,
    on_cell: Callable[[MatrixCell], None] | None = None,
) -> list[MatrixCell]:
    cells: list[MatrixCell] = []
    for scenario in scenarios:
        for era in eras:
            for arch in arches:
                spec = CheckSpec(scenario, era, {**overrides, "arch": arch}, variant)
                cell = matrix_cell(spec)
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    return cells
