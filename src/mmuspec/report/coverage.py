"""Coverage of one search: which steps fired and how often, which never did, and which
switches mattered on the states the search reached.

The explorer counts transitions by action number (``explore/coverage.py``); here the
numbers become step names.  A step of the model that never fired is never enabled in
this scenario, era and size: a check that cannot exercise the code it was written for.

For switches, the question is whether the search reached the code that reads them.
Each other value of each switch is tried on a sample of the states the search
expanded: if some step from some sampled state does something else under that value
(another successor, another event, another step enabled), the switch was exercised
and that alternative would change the run.  A switch whose alternatives change
nothing on any sampled state is not exercised by this check (its value cannot matter
there, as far as the sample shows).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from mmuspec.checking import CheckSpec
from mmuspec.errors import MmuspecError
from mmuspec.explore import SearchResult
from mmuspec.model import SWITCHES, Kernel
from mmuspec.model.registry import STEPS


@dataclass(frozen=True)
class SwitchUse:
    name: str
    value: str
    changes: tuple[tuple[str, int], ...]  # (other value, sampled states where it differs)

    @property
    def exercised(self) -> bool:
        return any(n for _, n in self.changes)


@dataclass(frozen=True)
class Coverage:
    fired: dict[str, int]  # step name -> transitions taken, in the order of the model's steps
    never: tuple[str, ...]  # steps of this model's programs that never fired
    absent: tuple[str, ...]  # registered steps this configuration has no use for
    switches: tuple[SwitchUse, ...]
    sampled: int

    def to_json(self) -> dict[str, Any]:
        return {
            "steps": dict(self.fired),
            "never_enabled": list(self.never),
            "not_in_model": list(self.absent),
            "sampled_states": self.sampled,
            "switches": {s.name: {"value": s.value, "exercised": s.exercised,
                                  "alternatives": {v: n for v, n in s.changes}} for s in self.switches},
        }


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def coverage(spec: CheckSpec, kernel: Kernel, result: SearchResult) -> Coverage:
    counts = result.action_counts or {}
    fired: Counter[str] = Counter()
    for action, n in counts.items():
        fired[kernel.action_parts(action)[1]] += n
    in_model = list(dict.fromkeys(name for name, _ in kernel.step_keys))
    ordered = {name: fired.get(name, 0) for name in in_model}
    never = tuple(name for name, n in ordered.items() if n == 0)
    absent = tuple(name for name in STEPS if name not in ordered)
    return Coverage(ordered, never, absent, switch_uses(spec, kernel, result.sampled), len(result.sampled))


def switch_uses(spec: CheckSpec, kernel: Kernel, states: list[bytes]) -> tuple[SwitchUse, ...]:
    config = spec.config
    here = {s: _fingerprint(kernel, s) for s in states}
    uses = []
    for switch in SWITCHES.values():
        value = config[switch.name]
        changes = []
        for other in switch.choices:
            if other == value:
                continue
            try:
                alt = Kernel(spec.scenario, config.with_values({switch.name: other}), spec.variant)
            except MmuspecError:
                continue
            differ = sum(1 for s in states if _fingerprint(alt, s) != here[s])
            changes.append((_text(other), differ))
        uses.append(SwitchUse(switch.name, _text(value), tuple(changes)))
    return tuple(uses)


def _fingerprint(kernel: Kernel, state: bytes) -> frozenset[tuple[str, bytes, int]] | str:
    """What every enabled step does from ``state``, by step text (action numbers differ
    between configurations); a model error is an answer too."""
    try:
        return frozenset((kernel.action_text(a), nxt, ev) for a, nxt, ev in kernel.successors(state))
    except (MmuspecError, IndexError, KeyError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def coverage_text(cov: Coverage) -> str:
    width = max((len(n) for n in cov.fired), default=10)
    out = ["coverage (transitions taken per step):"]
    out += [f"  {name:<{width}}  {n:>9,}" for name, n in cov.fired.items()]
    out.append("never enabled: " + (", ".join(cov.never) if cov.never else "none (every step of this model fired)"))
    exercised = [s for s in cov.switches if s.exercised]
    idle = [s.name for s in cov.switches if not s.exercised]
    out.append(f"switches exercised (another value changes a step on some of {cov.sampled} sampled states):")
    for s in exercised:
        alts = ", ".join(f"{v} on {n}" for v, n in s.changes if n)
        out.append(f"  {s.name} = {s.value}: {alts}")
    out.append("switches not exercised: " + (", ".join(idle) if idle else "none"))
    return "\n".join(out)
