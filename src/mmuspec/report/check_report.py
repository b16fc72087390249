"""The outcome of one check, as text for people and as JSON for programs."""

from __future__ import annotations

from typing import Any

from mmuspec.checking import CheckSpec
from mmuspec.explore import SearchResult, Witness
from mmuspec.model import EVENTS, Kernel
from mmuspec.report.trace_text import TraceLine, format_trace, trace_lines

OBSERVATIONS = [e.id for e in EVENTS if e.kind == "observation"]


def exit_status(result: SearchResult) -> int:
    """0 when every property holds and no WARN fired, 1 when something was found."""
    return 0 if result.verdict in ("safe", "unknown") else 1


def headline_witness(result: SearchResult) -> Witness | None:
    """The trace a reader should see first: the violation, else the first warning."""
    if result.violation is not None:
        return result.violation
    return result.warnings[0] if result.warnings else None


def figures_text(result: SearchResult) -> str:
    if result.mode == "random":
        return (
            f"covered {result.states:,} distinct states in {result.transitions:,} random steps, deepest walk "
            f"{result.depth}, in {result.seconds:.2f} s; {result.stop_reason}"
        )
    store = "whole states" if result.collision_probability is None else (
        f"64-bit fingerprints, {result.bytes_per_state:.0f} bytes per state, "
        f"collision probability {result.collision_probability:.1e}"
    )
    text = (
        f"explored {result.states:,} states, {result.transitions:,} transitions, depth {result.depth}, "
        f"in {result.seconds:.2f} s ({store})"
    )
    if not result.complete:
        text += f"; search incomplete: {result.stop_reason}"
    return text


def verdict_text(result: SearchResult) -> str:
    violation = result.violation
    if violation is not None:
        return f"verdict: VIOLATION of {violation.event} (shortest trace: {violation.length} steps)"
    if result.warnings:
        names = ", ".join(w.event for w in result.warnings)
        return f"verdict: WARNING: the kernel's assertion fired: {names}"
    if not result.complete:
        return "verdict: no violation found before the search stopped (not a proof)"
    return "verdict: safe: every property holds in every interleaving, and no WARN fired"


def text_report(spec: CheckSpec, kernel: Kernel, result: SearchResult, *, all_observations: bool = False) -> str:
    out = [f"mmuspec check: {spec.label()}", verdict_text(result), figures_text(result), ""]
    shown: set[str] = set()
    violation = result.violation
    if violation is not None:
        out += [f"counterexample ({violation.event}, {violation.length} steps):",
                format_trace(trace_lines(kernel, violation.actions)), ""]
        shown.add(violation.event)
    for warning in result.warnings:
        out += [f"warning {warning.event} fired; shortest trace ({warning.length} steps):",
                format_trace(trace_lines(kernel, warning.actions)), ""]
        shown.add(warning.event)
    out.append("reachability:")
    for event in OBSERVATIONS:
        reach = result.reachable(event)
        if reach is True:
            witness = result.witnesses[event]
            out.append(f"  {event:<26} reachable ({witness.length} steps)")
        elif reach is False:
            out.append(f"  {event:<26} unreachable (exhaustive search)")
        else:
            out.append(f"  {event:<26} not determined (search stopped early)")
    if all_observations:
        for event in OBSERVATIONS:
            seen = result.witnesses.get(event)
            if seen is not None and event not in shown:
                out += ["", f"witness for {event} ({seen.length} steps):",
                        format_trace(trace_lines(kernel, seen.actions), show_observations=True)]
    return "\n".join(out)


def json_report(spec: CheckSpec, kernel: Kernel, result: SearchResult) -> dict[str, Any]:
    headline = headline_witness(result)
    trace: list[TraceLine] = trace_lines(kernel, headline.actions) if headline else []
    return {
        "verdict": result.verdict,
        "property": result.violation.event if result.violation else None,
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.depth,
        "seconds": round(result.seconds, 4),
        "complete": result.complete,
        "stop_reason": result.stop_reason or None,
        "collision_probability": result.collision_probability,
        "bytes_per_state": round(result.bytes_per_state, 1) if result.bytes_per_state else None,
        "mode": result.mode,
        "warnings": [w.event for w in result.warnings],
        "reachable": {event: result.reachable(event) for event in OBSERVATIONS},
        "trace_event": headline.event if headline else None,
        "trace": [line.to_json() for line in trace],
        "warning_traces": {
            w.event: [line.to_json() for line in trace_lines(kernel, w.actions)] for w in result.warnings
        },
        "config": {**spec.to_json(), "switches": spec.config.as_dict()},
    }


def trace_file(spec: CheckSpec, kernel: Kernel, witness: Witness) -> dict[str, Any]:
    """What ``--trace-out`` writes and ``mmuspec replay`` reads."""
    return {
        "mmuspec_trace": 1,
        **spec.to_json(),
        "event": witness.event,
        "kind": witness.kind,
        "steps": [kernel.action_text(a) for a in witness.actions],
        "lines": [line.to_json() for line in trace_lines(kernel, witness.actions)],
    }
