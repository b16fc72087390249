"""Re-executing a path of actions on a model, deterministically.

A witness is stored as the list of action numbers from the initial state.
Replaying it asks the model for the successors at each step and follows the one
with the recorded action, so a trace is always a real execution of the model as
it is now (a variant or switch change that disables a step is reported, not
papered over).
"""

from __future__ import annotations

from collections.abc import Sequence
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
