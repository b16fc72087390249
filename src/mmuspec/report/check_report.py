"""The outcome of one check, as text for people and as JSON for programs."""

from __future__ import annotations

from typing import Any

from mmuspec.checking import CheckSpec
from mmuspec.errors import EXIT_BOUNDED, EXIT_FOUND, EXIT_INTERRUPTED, EXIT_SAFE
from mmuspec.explore import SearchResult, Witness
from mmuspec.model import EVENTS, Kernel
from mmuspec.report.trace_text import TraceLine, format_trace, trace_lines

OBSERVATIONS = [e.id for e in EVENTS if e.kind == "observation"]


SCHEMA = "mmuspec.check/1"


def exit_status(result: SearchResult) -> int:
    """What ``mmuspec check`` exits with: 1 when something was found, 0 when an exhaustive
    search found nothing, 4 when a bounded, random or stopped one found nothing (not a
    proof), 130 when Ctrl-C stopped it (whatever it had found by then)."""
    if result.interrupted:
        return EXIT_INTERRUPTED
    if result.failures:
        return EXIT_FOUND
    return EXIT_SAFE if result.complete else EXIT_BOUNDED


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
        f"in {result.seconds:.2f} s ({result.engine} engine, {store})"
    )
    if not result.complete:
        text += f"; search incomplete: {result.stop_reason}"
    return text


def verdict_text(result: SearchResult) -> str:
    """One line that names every violated property and every WARN that fired."""
    violation = result.violation
    warned = ", ".join(f"{w.event} ({w.length} steps)" for w in result.warnings)
    if violation is not None:
        text = f"verdict: VIOLATION of {violation.event} (shortest trace: {violation.length} steps)"
        others = [w for w in result.failures if w.kind == "property" and w is not violation]
        if others:
            text += "; also " + ", ".join(f"{w.event} ({w.length} steps)" for w in others)
        return text + (f"; WARN fired: {warned}" if warned else "")
    if result.warnings:
        names = ", ".join(w.event for w in result.warnings)
        return f"verdict: WARNING: the kernel's assertion fired: {names}"
    if result.interrupted:
        return "verdict: interrupted (Ctrl-C) before any violation was found (not a proof)"
    if not result.complete:
        return "verdict: no violation found before the search stopped (not a proof)"
    return "verdict: safe: every property holds in every interleaving, and no WARN fired"


def text_report(spec: CheckSpec, kernel: Kernel, result: SearchResult, *, all_observations: bool = False) -> str:
    out = [f"mmuspec check: {spec.label()}", verdict_text(result), figures_text(result),
           *(f"note: {note}" for note in result.notes), ""]
    shown: set[str] = set()
    for witness in result.failures:
        if witness.kind == "property":
            out.append(f"counterexample ({witness.event}, {witness.length} steps):")
        else:
            out.append(f"warning {witness.event} fired; shortest trace ({witness.length} steps):")
        out += [format_trace(trace_lines(kernel, witness.actions, spec.era))]
        if witness.loop_start is not None:
            out.append(loop_text(witness))
        out.append("")
        shown.add(witness.event)
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
                        format_trace(trace_lines(kernel, seen.actions, spec.era), show_observations=True)]
    return "\n".join(out)


CYCLES = {
    "livelock": "a livelock: threads keep taking steps (a retry loop), none of which brings the end nearer",
    "deadlock": "a deadlock: no thread can move",
}


def loop_text(witness: Witness) -> str:
    """What a lasso's steps mean: from its loop on, the threads cycle and never all finish;
    a livelock or a deadlock."""
    first = (witness.loop_start or 0) + 1
    kind = f"; {CYCLES[witness.cycle]}" if witness.cycle in CYCLES else ""
    return (f"  ^ steps {first}-{witness.length} repeat forever: from the state before step {first}, no schedule "
            f"lets every thread finish ({witness.event}{kind})")


def witness_json(kernel: Kernel, witness: Witness, era: str | None = None) -> dict[str, Any]:
    return {"event": witness.event, "kind": witness.kind, "length": witness.length,
            "loop_start": witness.loop_start, "cycle": witness.cycle,
            "trace": [line.to_json() for line in trace_lines(kernel, witness.actions, era)]}


def json_report(spec: CheckSpec, kernel: Kernel, result: SearchResult, *,
                all_observations: bool = False) -> dict[str, Any]:
    """The check as one JSON object; docs/json.md documents every field."""
    headline = headline_witness(result)
    trace: list[TraceLine] = trace_lines(kernel, headline.actions, spec.era) if headline else []
    extra: dict[str, Any] = {}
    if all_observations:
        extra["observation_witnesses"] = [witness_json(kernel, result.witnesses[e], spec.era) for e in OBSERVATIONS
                                          if e in result.witnesses]
    return {
        "schema": SCHEMA,
        "verdict": result.verdict,
        "property": result.violation.event if result.violation else None,
        "violations": [witness_json(kernel, w, spec.era) for w in result.failures],
        "states": result.states,
        "transitions": result.transitions,
        "depth": result.depth,
        "seconds": round(result.seconds, 4),
        "complete": result.complete,
        "interrupted": result.interrupted,
        "stop_reason": result.stop_reason or None,
        "collision_probability": result.collision_probability,
        "bytes_per_state": round(result.bytes_per_state, 1) if result.bytes_per_state else None,
        "mode": result.mode,
        "engine": result.engine,
        "engine_note": result.engine_note or None,
        "notes": list(result.notes),
        "warnings": [w.event for w in result.warnings],
        "reachable": {event: result.reachable(event) for event in OBSERVATIONS},
        "trace_event": headline.event if headline else None,
        "trace": [line.to_json() for line in trace],
        **extra,
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
        "loop_start": witness.loop_start,
        "lines": [line.to_json() for line in trace_lines(kernel, witness.actions, spec.era)],
    }
