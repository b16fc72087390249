"""``mmuspec diff`` as text short enough to paste into a reply on a mailing list, as
JSON, and as CI test cases.

Arches whose differences are the same (the same answers changed the same way) share
one entry; each entry shows the witness of its first arch, as a chain of steps, each
with the kernel function it mirrors in that side's era.
"""

from __future__ import annotations

from typing import Any

from mmuspec.diffing import Cell, Difference, Side, Skipped
from mmuspec.explore import Witness
from mmuspec.model import Kernel
from mmuspec.report.ci import FAIL, PASS, SKIP, Case
from mmuspec.report.trace_text import TraceLine, format_trace, trace_lines

SCHEMA = "mmuspec.diff/1"


def _shape(d: Difference) -> tuple[str, str, str]:
    return d.key, d.a.split(" (")[0], d.b.split(" (")[0]


def groups(cells: list[Cell]) -> list[tuple[Cell, list[str]]]:
    """(first cell, its arches) for each scenario and each distinct set of differences."""
    out: dict[tuple[str, tuple[tuple[str, str, str], ...]], tuple[Cell, list[str]]] = {}
    for cell in cells:
        if not cell.differences:
            continue
        key = (cell.scenario, tuple(_shape(d) for d in cell.differences))
        if key in out:
            out[key][1].append(cell.arch)
        else:
            out[key] = (cell, [cell.arch])
    return list(out.values())


def chain(kernel: Kernel, witness: Witness, era: str) -> str:
    """``thread:step (file:function) > ...``: a witness on one line per step group."""
    lines = trace_lines(kernel, witness.actions, era)
    steps = [f"{x.thread}:{x.step}" + (f"({x.arg})" if x.arg else "") for x in lines]
    width = max(len(x) for x in steps)
    legend = ["      (~: the step ran the variant's code)"] if any(x.replaced for x in lines) else []
    return "\n".join(legend + [f"      {n:>2}.{'~' if x.replaced else ' '}{step:<{width}}  {_where(x)}".rstrip()
                               for n, (step, x) in enumerate(zip(steps, lines, strict=True), start=1)])


def _where(line: TraceLine) -> str:
    """Where the step's code is: the kernel's, and the variant's where it ran (marked ``~``)."""
    ran = ", ".join(f"{name}() at {where}" for name, where, _ in line.replaced)
    return "; ".join(x for x in (line.where, f"variant: {ran}" if ran else "") if x)


def _witness_text(cell: Cell, d: Difference, full: bool, shown: dict[tuple[str, tuple[int, ...]], str]) -> list[str]:
    """The witness of one difference; one already shown in this entry is named, not repeated."""
    if d.witness is None or d.side is None:
        return []
    kernel, spec = (cell.a_kernel, cell.a_spec) if d.side == "A" else (cell.b_kernel, cell.b_spec)
    seen = shown.get((d.side, d.witness.actions))
    if seen is not None:
        return [f"    witness on {d.side}: the same {d.witness.length} steps as {seen}"]
    shown[(d.side, d.witness.actions)] = d.key
    head = f"    witness on {d.side} ({spec.era}, {cell.arch}, {d.witness.length} steps):"
    if full:
        body = format_trace(trace_lines(kernel, d.witness.actions, spec.era), show_observations=True)
        return [head, *("      " + x for x in body.splitlines())]
    return [head, chain(kernel, d.witness, spec.era)]


def diff_text(cells: list[Cell], a: Side, b: Side, *, witnesses: bool = False,
              skipped: list[Skipped] | None = None) -> str:
    scenarios = list(dict.fromkeys(c.scenario for c in cells))
    arches = list(dict.fromkeys(c.arch for c in cells))
    sizes = ", ".join(dict.fromkeys(f"{c.a_spec.scenario.name} {c.a_spec.scenario.vcpus}x{c.a_spec.scenario.accesses}"
                                    for c in cells))
    differ = [c for c in cells if c.differences]
    verdicts = [c for c in differ if any(d.key == "verdict" for d in c.differences)]
    out = [
        f"mmuspec diff: A = {a.label()}, B = {b.label()}",
        f"scenarios {sizes} (vCPUs x accesses); arches {', '.join(arches)}; exhaustive search",
        f"{len(differ)} of {len(cells)} scenario x arch checks differ"
        + (f", {len(verdicts)} in their verdict" if differ else "") + ".",
    ]
    for cell, where in groups(cells):
        out.append("")
        out.append(f"{cell.scenario} ({', '.join(where)}):")
        width = max(len(d.key) for d in cell.differences)
        events = {d.key for d in cell.differences}
        shown: dict[tuple[str, tuple[int, ...]], str] = {}
        for d in cell.differences:
            out.append(f"  {d.key:<{width}}  A: {d.a:<22}  B: {d.b}")
            if d.key == "verdict" and d.witness is not None and d.witness.event in events:
                continue  # its event is a difference of its own, with this witness
            out += _witness_text(cell, d, witnesses, shown)
    open_ = sorted({f"{c.scenario} {c.arch}" for c in cells if c.undetermined})
    if open_:
        out += ["", f"not determined (a search stopped early): {', '.join(open_)}"]
    reasons = {s.scenario: s.reason for s in skipped or []}
    if reasons:
        out += ["", "not run:"] + [f"  {name}: {reason}" for name, reason in reasons.items()]
    if not differ and not open_:
        out += ["", f"identical: every verdict and reachability answer is the same in {len(scenarios)} scenarios."]
    return "\n".join(out)


def _side_json(side: Side) -> dict[str, Any]:
    return {"label": side.label(), "era": side.era,
            "set": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in sorted(side.overrides.items())},
            "variant": side.variant.path if side.variant else None}


def diff_json(cells: list[Cell], a: Side, b: Side, skipped: list[Skipped] | None = None) -> dict[str, Any]:
    def result(c: Cell, which: str) -> dict[str, Any]:
        r = c.a if which == "A" else c.b
        return {"verdict": r.verdict, "states": r.states, "complete": r.complete}

    def difference(c: Cell, d: Difference) -> dict[str, Any]:
        witness = None
        if d.witness is not None and d.side is not None:
            kernel, spec = (c.a_kernel, c.a_spec) if d.side == "A" else (c.b_kernel, c.b_spec)
            witness = {"side": d.side, "event": d.witness.event, "length": d.witness.length,
                       "trace": [x.to_json() for x in trace_lines(kernel, d.witness.actions, spec.era)]}
        return {"key": d.key, "kind": d.kind, "a": d.a, "b": d.b, "witness": witness}

    return {
        "schema": SCHEMA,
        "a": _side_json(a),
        "b": _side_json(b),
        "identical": not any(c.differences for c in cells),
        "cells": [{"scenario": c.scenario, "arch": c.arch, "a": result(c, "A"), "b": result(c, "B"),
                   "differences": [difference(c, d) for d in c.differences],
                   "undetermined": list(c.undetermined), "seconds": round(c.seconds, 4)} for c in cells],
        "skipped": [{"scenario": x.scenario, "arch": x.arch, "reason": x.reason} for x in skipped or []],
    }


def diff_cases(cells: list[Cell]) -> list[Case]:
    cases = []
    for c in cells:
        name = f"{c.scenario} {c.arch}: A and B agree"
        if c.differences:
            details = "\n".join(f"{d.key}: A {d.a}, B {d.b}" for d in c.differences)
            cases.append(Case(name, FAIL, f"{len(c.differences)} answers differ", details, c.seconds))
        elif c.undetermined:
            cases.append(Case(name, SKIP, "a search stopped early", "", c.seconds))
        else:
            cases.append(Case(name, PASS, seconds=c.seconds))
    return cases


def diff_status(cells: list[Cell]) -> int:
    if any(c.differences for c in cells):
        return 1
    return 4 if any(c.undetermined for c in cells) else 0
