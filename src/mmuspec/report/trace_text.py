"""Counterexamples that read like a kernel trace: one numbered entry per step.

Steps are grouped by thread (a header each time another thread takes over).  Each
entry names the model step and the kernel function it mirrors, the lock the step
takes, the locks the thread still holds after it, where the kernel code is in the era
traced (``file:function``, as ``model/sources.py`` locates it; ``[I]`` inferred, ``[U]``
unverified), and what changed; events the step raised follow, marked ``!`` for a violated property, ``W`` for a kernel warning and
``*`` for an observation.  Under a variant, a step that ran any of the variant's functions is
marked ``~`` after its number and says what replaced the upstream code there: the step's own
kernel text is not printed for a step the variant replaced whole, and is called "upstream"
around a replaced helper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mmuspec.explore import ReplayError
from mmuspec.model import EVENTS, Kernel
from mmuspec.model.sources import Location, location

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
    held: tuple[str, ...] = ()
    source: Location | None = None
    replaced: tuple[tuple[str, str, str], ...] = ()  # (function, FILE:LINE, what the variant says)

    @property
    def whole(self) -> bool:
        """The variant replaced this step itself, not only helpers it calls."""
        return any(name == self.step for name, _, _ in self.replaced)

    @property
    def where(self) -> str:
        """``file:function``, with its mark when it is not verified; empty when unknown."""
        if self.source is None or self.whole:
            return ""
        return self.source.text if self.source.status == "V" else self.source.label()

    def to_json(self) -> dict[str, object]:
        return {
            "n": self.number,
            "thread": self.thread,
            "step": self.step + (f"({self.arg})" if self.arg else ""),
            "kernel": self.kernel,
            "source": self.source.to_json() if self.source is not None else None,
            "lock": self.lock,
            "held_after": list(self.held),
            "changes": self.changes,
            "events": [{"id": e, "kind": k, "text": t} for e, k, t in self.notes],
            "variant": [{"function": n, "where": w, "text": t} for n, w, t in self.replaced],
        }


def trace_lines(kernel: Kernel, actions: Sequence[int], era: str | None = None) -> list[TraceLine]:
    """Re-execute ``actions`` on ``kernel`` and describe every step; with ``era``, each
    step also says where its kernel code is in that era."""
    state = kernel.initial()
    lines: list[TraceLine] = []
    for position, action in enumerate(actions):
        try:
            nxt, _, notes, names = kernel.explain_replaced(state, action)
        except KeyError:
            raise ReplayError(position, action) from None
        variant = kernel.variant
        replaced = tuple((n, variant.where(n), variant.says(n)) for n in names) if variant is not None else ()
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
                held=tuple(kernel.locks_held(nxt, kernel.thread_of(action))) if thread != "-" else (),
                source=location(name, era, str(kernel.arch)) if era is not None and info else None,
                replaced=replaced,
            )
        )
        state = nxt
    return lines


def format_trace(lines: Sequence[TraceLine], *, show_observations: bool = False) -> str:
    out: list[str] = []
    width = len(str(len(lines)))
    pad = " " * (width + 4)
    current = None
    if any(line.replaced for line in lines):
        out.append("(~ after a step's number: the step ran the variant's code, not the upstream kernel's)")
    for line in lines:
        if line.thread != current:
            current = line.thread
            run = [x.number for x in lines if x.number >= line.number]
            end = line.number
            for n in run:
                if lines[n - 1].thread != current:
                    break
                end = n
            span = f"step {line.number}" if end == line.number else f"steps {line.number}-{end}"
            out.append(f"{current} ({span}):")
        step = line.step + (f"({line.arg})" if line.arg else "")
        held = ", ".join(line.held) or "nothing"
        where = f"   {line.where}" if line.where else ""
        mark = "~" if line.replaced else " "
        lock = "as the variant does" if line.whole else line.lock
        out.append(f"  {line.number:>{width}}{mark} {step}   [takes: {lock}; holds after: {held}]{where}")
        out += [f"{pad}variant: {name}(): {says}" for name, _, says in line.replaced]
        if not line.whole:
            out.append(f"{pad}{'upstream, around the replaced call: ' if line.replaced else ''}{line.kernel}")
        out.append(f"{pad}=> {line.changes}")
        for event, kind, text in line.notes:
            if kind == "observation" and not show_observations:
                continue
            out.append(f"{pad}{_MARK[kind]} {event}: {text}")
    return "\n".join(out)
