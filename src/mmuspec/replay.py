"""``mmuspec replay``: re-run a counterexample saved by ``check --trace-out``.

A trace file is JSON and data only: the scenario's TOML text, the era, the switches,
the sizes, the steps by name, and for a lasso (a progress violation) where its loop
starts.  A trace found with a variant also carries the variant's source and its
SHA-256, but that source is Python: replaying never runs it unless asked.  The user
gives the variant file (``--variant FILE``, which must have the recorded hash), or says
that they trust the trace's author (``--trust-embedded-variant``).

Every field is checked before use; a file that is not a trace, or one whose fields have
the wrong types, is refused in one line naming the file and the line of the field.

A lasso replays in two parts: its steps up to the loop, then the loop, which must come
back to the state where it started without every thread having finished on the way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from mmuspec.checking import CheckSpec
from mmuspec.errors import InputError, UsageError
from mmuspec.explore import ReplayError
from mmuspec.inputs import read_text
from mmuspec.model import Variant, load_variant, parse_variant
from mmuspec.model.variant import sha256_text


@dataclass(frozen=True)
class TraceFile:
    path: str
    text: str
    data: dict[str, Any]

    def line_of(self, key: str) -> int | None:
        """The line of the first ``"key":`` in the file (where a field is, for messages)."""
        match = re.search(rf'"{re.escape(key)}"\s*:', self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def fail(self, key: str, problem: str) -> InputError:
        return InputError(self.path, self.line_of(key), problem)

    def field(self, key: str, kind: type | tuple[type, ...], what: str, *, required: bool = True) -> Any:
        if key not in self.data:
            if required:
                raise InputError(self.path, None, f"no \"{key}\" in the trace file ({what})")
            return None
        value = self.data[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.fail(key, f"\"{key}\" must be {what}, not {json.dumps(value)}")
        if not isinstance(value, kind):
            raise self.fail(key, f"\"{key}\" must be {what}, not {json.dumps(value)[:40]}")
        return value


def read_trace_file(path: str) -> TraceFile:
    text = read_text(path, "trace file")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(path, exc.lineno, f"not JSON: {exc.msg}") from None
    except RecursionError:
        raise InputError(path, None, "not an mmuspec trace file (nested too deeply)") from None
    if not isinstance(data, dict) or data.get("mmuspec_trace") != 1:
        raise InputError(path, None, "not an mmuspec trace file (no \"mmuspec_trace\": 1)")
    return TraceFile(path, text, data)


def trace_variant(trace: TraceFile, given: str | None, trust: bool) -> Variant | None:
    """The variant to rebuild the model with: the user's file, checked against the trace's
    hash, or the embedded source when the user trusts it; never the embedded source alone."""
    recorded = trace.field("variant", (dict, type(None)), "an object or null", required=False)
    if recorded is None:
        if given is not None:
            raise UsageError(f"{trace.path} was found without a variant: replay it without --variant")
        return None
    text, where = recorded.get("text"), recorded.get("path")
    if not isinstance(text, str) or not isinstance(where, str):
        raise trace.fail("variant", "\"variant\" must hold the variant's \"path\" and \"text\" as strings")
    digest = recorded.get("sha256", sha256_text(text))
    if not isinstance(digest, str):
        raise trace.fail("variant", "\"variant\".\"sha256\" must be a string")
    if given is not None:
        variant = load_variant(given)
        if sha256_text(variant.text) != digest:
            raise UsageError(f"--variant {given}: not the variant {trace.path} was found with "
                             f"(sha256 {sha256_text(variant.text)[:12]}, the trace has {digest[:12]})")
        return variant
    if not trust:
        raise UsageError(f"{trace.path} was found with the variant {where}, whose Python source it embeds: "
                         "replay with --variant FILE (checked against the trace's hash), or with "
                         "--trust-embedded-variant to run the embedded source")
    if sha256_text(text) != digest:
        raise trace.fail("variant", "the embedded variant does not match its recorded sha256")
    return parse_variant(text, f"{trace.path}:{where}")


def trace_spec(trace: TraceFile, variant: Variant | None) -> CheckSpec:
    scenario = trace.field("scenario", dict, "an object with the scenario's name and TOML text")
    if not isinstance(scenario.get("text"), str) or not isinstance(scenario.get("name"), str):
        raise trace.fail("scenario", "\"scenario\" must hold \"name\" and \"text\" as strings")
    trace.field("era", str, "an era name")
    for key in ("vcpus", "accesses"):
        trace.field(key, int, "an integer")
    sets = trace.field("set", dict, "an object of switch values", required=False) or {}
    if not all(isinstance(v, str | int | float | bool) for v in sets.values()):
        raise trace.fail("set", "\"set\" must map switch names to values")
    if "subscriber" in trace.data:
        trace.field("subscriber", str, "kvm, hmm or both")
    return CheckSpec.from_json(trace.data, trace.path, variant)


def trace_steps(trace: TraceFile) -> tuple[list[str], int | None]:
    steps = trace.field("steps", list, "the list of steps to replay")
    if not steps:
        raise trace.fail("steps", "\"steps\" is empty: nothing to replay")
    for step in steps:
        if not isinstance(step, str):
            raise trace.fail("steps", f"\"steps\" must be step names, not {json.dumps(step)[:40]}")
    loop = trace.field("loop_start", (int, type(None)), "a step number or null", required=False)
    if loop is not None and not 0 <= loop < len(steps):
        raise trace.fail("loop_start", f"\"loop_start\" {loop} is not a step of the trace (0..{len(steps) - 1})")
    for key in ("event", "kind"):
        trace.field(key, str, "a string", required=False)
    return steps, loop


def closes_loop(kernel: Any, actions: list[int], loop_start: int) -> tuple[bool, str]:
    """Whether ``actions`` from ``loop_start`` on come back to the state they started from,
    without every thread having finished on the way (a lasso the model still has)."""
    state = kernel.initial()
    start = state
    for position, action in enumerate(actions):
        if position == loop_start:
            start = state
        if position >= loop_start and kernel.quiescent(state):
            return False, f"every thread has finished before step {position + 1}"
        state = kernel.explain_action(state, action)[0]
    if state != start:
        return False, f"the steps from {loop_start + 1} on no longer come back to where they started"
    return True, ""


def replay_trace(path: str, variant_path: str | None, trust: bool) -> dict[str, Any]:
    """Replay the trace in ``path``: the spec, its trace lines, and whether it reproduced."""
    from mmuspec.report.trace_text import trace_lines

    trace = read_trace_file(path)
    steps, loop = trace_steps(trace)
    spec = trace_spec(trace, trace_variant(trace, variant_path, trust))
    kernel = spec.kernel()
    try:
        actions = [kernel.action_by_text(text) for text in steps]
    except KeyError as exc:
        raise trace.fail("steps", f"step {exc.args[0]!r} does not exist in this model") from None
    try:
        lines = trace_lines(kernel, actions, spec.era)
    except ReplayError as exc:
        raise trace.fail("steps", f"step {exc.position + 1} ({steps[exc.position]}) is not enabled when "
                         "replayed: the model differs from the one that wrote the trace") from None
    event = trace.data.get("event")
    if loop is not None:
        reached, why = closes_loop(kernel, actions, loop)
    else:
        reached = any(e == event for line in lines[-1:] for e, _, _ in line.notes)
        why = f"the last step no longer reaches {event}"
    return {"spec": spec, "lines": lines, "event": event, "kind": trace.data.get("kind", "event"),
            "loop_start": loop, "reproduced": reached, "why": why}
