"""Counterexamples that read like a kernel trace: one numbered line per step.

Each line names the thread, the model step and the kernel function it mirrors,
the lock it holds, and what changed; events the step raised follow it, marked
``!`` for a violated property, ``W`` for a kernel warning and ``*`` for an
observation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mmuspec.explore import ReplayError
from mmuspec.model import EVENTS, Kernel

_MARK = {"property": "!", "warning": "W", "observation": "*"}


@dataclass(frozen=True)
class TraceLine:
    number: int
    thread: str
    step: str
    arg: str
    kernel: str
    lock: str
    changes: str
    notes: tuple[tuple[str, str, str], ...]  # (event id, kind, text)

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.number,
            "thread": self.thread,
            "step": self.step + (f"({self.arg})" if self.arg else ""),
            "kernel": self.kernel,
            "lock": self.lock,
            "changes": self.changes,
            "events": [{"id": e, "kind": k, "text": t} for e, k, t in self.notes],
        }


def trace_lines(kernel: Kernel, actions: Sequence[int]) -> list[TraceLine]:
    """Re-execute ``actions`` on ``kernel`` and describe every step."""
    state = kernel.initial()
    lines: list[TraceLine] = []
    for position, action in enumerate(actions):
        try:
            nxt, _, notes = kernel.explain_action(state, action)
        except KeyError:
            raise ReplayError(position, action) from None
        thread, name, arg = kernel.action_parts(action)
        info = kernel.step_info(action)
        described = tuple(
            (EVENTS[bit.bit_length() - 1].id, EVENTS[bit.bit_length() - 1].kind, text) for bit, text in notes if bit
        )
        said = "; ".join(text for bit, text in notes if not bit)
        lines.append(
            TraceLine(
                number=position + 1,
                thread=thread,
                step=name,
                arg=arg,
                kernel=info.kernel if info else "no thread can take a step",
                lock=info.lock if info else "-",
                changes="; ".join(x for x in (said, kernel.diff_text(state, nxt)) if x) or "(no change)",
                notes=described,
            )
        )
        state = nxt
    return lines


def format_trace(lines: Sequence[TraceLine], *, show_observations: bool = False) -> str:
    out: list[str] = []
    width = len(str(len(lines)))
    for line in lines:
        step = line.step + (f"({line.arg})" if line.arg else "")
        out.append(f"{line.number:>{width}}  {line.thread:<8} {step}")
        out.append(f"{'':>{width}}  {'':<8}   {line.kernel}   [lock: {line.lock}]")
        out.append(f"{'':>{width}}  {'':<8}   => {line.changes}")
        for event, kind, text in line.notes:
            if kind == "observation" and not show_observations:
                continue
            out.append(f"{'':>{width}}  {'':<8}   {_MARK[kind]} {event}: {text}")
    return "\n".join(out)
