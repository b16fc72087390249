"""Context bounding: explore only executions with at most K preemptions.

A preemption is a switch away from a thread that could have taken another step
(as in CHESS, loom and SPIN's ``-bcs``).  Most concurrency bugs need few of them, so
a small bound gives a fast first pass on configurations too large to finish.  The
wrapper adds two bytes to each state (the last thread to move, and the preemptions
used) and hides successors that would exceed the bound; actions are unchanged, so
its witnesses replay on the model itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mmuspec.explore.api import EventLike, Model


class PreemptionBounded:
    def __init__(self, model: Model, bound: int) -> None:
        self.model = model
        self.bound = bound
        self.thread_of: Callable[[int], int] = model.thread_of  # type: ignore[attr-defined]
        rep = getattr(model, "representative", None)
        if rep is not None:
            self.representative = lambda s: rep(s[:-2]) + s[-2:]

    @property
    def events(self) -> Sequence[EventLike]:
        return self.model.events

    def initial(self) -> bytes:
        return self.model.initial() + b"\x00\x00"

    def successors(self, state: bytes) -> list[tuple[int, bytes, int]]:
        last, used = state[-2] - 1, state[-1]
        succ = self.model.successors(state[:-2])
        last_can_move = last >= 0 and any(self.thread_of(a) == last for a, _, _ in succ)
        out = []
        for action, nxt, ev in succ:
            thread = self.thread_of(action)
            cost = used + (1 if last_can_move and thread != last else 0)
            if cost <= self.bound:
                out.append((action, nxt + bytes((thread + 1, cost)), ev))
        return out


def bounded_factory(factory: Callable[[], Model], bound: int) -> PreemptionBounded:
    """Picklable factory for worker processes."""
    return PreemptionBounded(factory(), bound)
