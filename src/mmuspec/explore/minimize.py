"""Shrinking a counterexample: drop steps it does not need, then regroup the rest so
that threads switch as rarely as possible.

Both passes only keep a candidate that still re-executes on the model and still ends
with a step raising the same event, so the result is a real counterexample, never
longer than the one given.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from mmuspec.explore.api import Model


def reaches(model: Model, actions: Sequence[int], bit: int) -> bool:
    """True if ``actions`` re-execute and the last one raises ``bit``."""
    state = model.initial()
    events = 0
    for wanted in actions:
        for action, nxt, ev in model.successors(state):
            if action == wanted:
                state, events = nxt, ev
                break
        else:
            return False
    return bool(actions) and bool(events & bit)


def switches(actions: Sequence[int], thread_of: Callable[[int], int]) -> int:
    return sum(1 for a, b in itertools.pairwise(actions) if thread_of(a) != thread_of(b))


def minimize(model: Model, actions: Sequence[int], bit: int, thread_of: Callable[[int], int]) -> list[int]:
    best = list(actions)
    if not reaches(model, best, bit):
        return best
    shrunk = True
    while shrunk:
        shrunk = False
        for i in range(len(best) - 2, -1, -1):
            candidate = best[:i] + best[i + 1 :]
            if reaches(model, candidate, bit):
                best, shrunk = candidate, True
    improved = True
    while improved:
        improved = False
        for i in range(len(best)):
            thread = thread_of(best[i])
            for j in range(i + 2, len(best)):
                if thread_of(best[j]) != thread:
                    continue
                candidate = [*best[:i + 1], best[j], *best[i + 1:j], *best[j + 1:]]
                if switches(candidate, thread_of) < switches(best, thread_of) and reaches(model, candidate, bit):
                    best, improved = candidate, True
                break
    return best
