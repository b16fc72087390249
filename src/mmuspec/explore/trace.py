"""Re-executing a path of actions on a model, deterministically.

A witness is stored as the list of action numbers from the initial state.
Replaying it asks the model for the successors at each step and follows the one
with the recorded action, so a trace is always a real execution of the model as
it is now (a variant or switch change that disables a step is reported, not
papered over).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mmuspec.explore.api import Model


class ReplayError(Exception):
    """The recorded action is not enabled where the trace says it was taken."""

    def __init__(self, position: int, action: int) -> None:
        self.position = position
        self.action = action
        super().__init__(f"step {position + 1}: action {action} is not enabled in this model")


@dataclass(frozen=True)
class Step:
    action: int
    before: bytes
    after: bytes
    events: int


def replay(model: Model, actions: Sequence[int]) -> list[Step]:
    state = model.initial()
    steps: list[Step] = []
    for position, wanted in enumerate(actions):
        for action, nxt, events in model.successors(state):
            if action == wanted:
                steps.append(Step(action, state, nxt, events))
                state = nxt
                break
        else:
            raise ReplayError(position, wanted)
    return steps


def concretize(model: Model, actions: Sequence[int], representative: Callable[[bytes], bytes]) -> list[int]:
    """Turn a path found over representatives into a path of the model itself.

    At each step, follow the concrete successor whose representative is the next
    representative on the path (with the same events), preferring the recorded action,
    so that thread names change only where symmetry made them arbitrary.
    """
    canon = representative(model.initial())
    state = model.initial()
    out: list[int] = []
    for position, wanted in enumerate(actions):
        for action, nxt, events in model.successors(canon):
            if action == wanted:
                target, target_events = representative(nxt), events
                break
        else:
            raise ReplayError(position, wanted)
        choices = [
            (action != wanted, action, nxt)
            for action, nxt, events in model.successors(state)
            if events == target_events and representative(nxt) == target
        ]
        if not choices:
            raise ReplayError(position, wanted)
        _, action, state = min(choices, key=lambda c: (c[0], c[1]))
        out.append(action)
        canon = target
    return out
