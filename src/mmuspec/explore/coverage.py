"""Counting the transitions a search takes, per action number.

Coverage asks which steps fired and how often, and which never did.  The count is
kept by a wrapper around the model rather than inside the search, so a search
without it pays nothing.  The wrapper counts the transitions the search expands:
with partial-order reduction, the expander may ask for one thread's transitions,
find them unusable and ask for another's or for all; only the set it keeps is counted
(the last set asked for a state is the one kept).  Counting needs the expansion to
run in this process: the search must be serial.  The wrapper also keeps a sample
of the states expanded (reservoir sampling with a fixed seed, so the same search
keeps the same sample), for questions asked of reached states afterwards.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from mmuspec.explore.api import EventLike, Model

Transitions = list[tuple[int, bytes, int]]


class CountingModel:
    """``model`` with its transitions counted by action (``counts()``)."""

    def __init__(self, model: Model, sample_size: int = 512) -> None:
        self.model = model
        self._counts: Counter[int] = Counter()
        self._sample: list[bytes] = []
        self._seen = 0
        self._size = sample_size
        self._rng = random.Random(0)
        self._pending: tuple[bytes, Transitions] | None = None
        fast = getattr(model, "canonical_successors", None)
        if fast is not None:
            self.canonical_successors = self._counting(fast)
        self.successors = self._counting(model.successors)

    @property
    def events(self) -> Sequence[EventLike]:
        return self.model.events

    def initial(self) -> bytes:
        return self.model.initial()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def _counting(self, successors: Callable[..., Transitions]) -> Callable[..., Transitions]:
        def counted(state: bytes, thread: int | None = None) -> Transitions:
            out = successors(state) if thread is None else successors(state, thread)
            pending = self._pending
            if pending is not None and pending[0] != state:
                self._commit(pending[1])  # a later state: the last set for that state was kept
            self._pending = None
            if thread is None:
                self._keep(state)
                self._commit(out)
            else:
                self._pending = (state, out)
            return out

        return counted

    def _keep(self, state: bytes) -> None:
        self._seen += 1
        if len(self._sample) < self._size:
            self._sample.append(state)
        else:
            slot = self._rng.randrange(self._seen)
            if slot < self._size:
                self._sample[slot] = state

    def sample(self) -> list[bytes]:
        """Up to ``sample_size`` of the states expanded in full, uniformly chosen."""
        return list(self._sample)

    def _commit(self, transitions: Transitions) -> None:
        self._counts.update(action for action, _, _ in transitions)

    def counts(self) -> Counter[int]:
        """Transitions taken so far, by action number."""
        if self._pending is not None:
            self._commit(self._pending[1])
            self._pending = None
        return self._counts
