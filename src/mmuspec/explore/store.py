"""Visited-state stores: 64-bit fingerprints in a flat numpy table, or whole states.

``FingerprintSet`` is an open-addressing hash set (linear probing, load factor at
most 0.7) over one ``uint64`` array: 8 bytes per slot, no Python object per state.
Insertion is batched and vectorised: a whole expansion's fingerprints go in at
once and the set says which were new, the first occurrence in batch order winning,
so the result does not depend on how the batch was produced.  A model with a compiled
core may lend the set a faster ``inserter`` for the same table layout.  ``ExactSet`` keeps
whole states (``--exact``) behind the same interface.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

# (table, fingerprints) -> (first occurrences not seen before, how many went in)
Inserter = Callable[[NDArray[np.uint64], NDArray[np.uint64]], tuple[NDArray[np.bool_], int]]

MAX_LOAD = 0.7
HARD_LOAD = 0.9
EMPTY = np.uint64(0)


class FingerprintSet:
    exact = False

    def __init__(self, capacity: int = 64) -> None:
        size = 1 << max(6, (capacity - 1).bit_length())
        self.table: NDArray[np.uint64] = np.zeros(size, dtype=np.uint64)
        self.count = 0
        self.inserter: Inserter | None = None

    def __len__(self) -> int:
        return self.count

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def add_batch(self, fps: NDArray[np.uint64]) -> NDArray[np.bool_]:
        """Insert ``fps``; True at the first occurrence of each fingerprint not seen before."""
        if self.inserter is not None:
            if self.count + len(fps) > HARD_LOAD * len(self.table):
                self._grow(self.count + len(fps), HARD_LOAD)
            fresh, added = self.inserter(self.table, fps)
            self.count += added
            if self.count > MAX_LOAD * len(self.table):
                self._grow(self.count, MAX_LOAD)
            return fresh
        fps = np.where(fps == EMPTY, np.uint64(1), fps)  # 0 marks an empty slot
        keys, first = np.unique(fps, return_index=True)
        fresh = np.zeros(len(fps), dtype=bool)
        if len(keys) == 0:
            return fresh
        # Room for every key in the worst case, then back under MAX_LOAD once the new
        # ones are known: most keys of a batch are usually states seen before.
        if self.count + len(keys) > HARD_LOAD * len(self.table):
            self._grow(self.count + len(keys), HARD_LOAD)
        won = self._insert(keys)
        fresh[first[won]] = True
        self.count += int(won.sum())
        if self.count > MAX_LOAD * len(self.table):
            self._grow(self.count, MAX_LOAD)
        return fresh

    def _insert(self, keys: NDArray[np.uint64]) -> NDArray[np.bool_]:
        """Insert distinct keys; True where the key was not already present."""
        table = self.table
        mask = np.uint64(len(table) - 1)
        slots = keys & mask
        pending = np.arange(len(keys))
        won = np.zeros(len(keys), dtype=bool)
        while len(pending):
            cur = table[slots]
            k = keys[pending]
            present = cur == k
            empty = cur == EMPTY
            taken = np.zeros(len(pending), dtype=bool)
            empty_at = np.nonzero(empty)[0]
            if len(empty_at):
                _, winners = np.unique(slots[empty_at], return_index=True)
                claim = empty_at[winners]
                table[slots[claim]] = k[claim]
                taken[claim] = True
                won[pending[claim]] = True
            keep = ~(present | taken)
            bump = keep & ~empty
            slots[bump] = (slots[bump] + np.uint64(1)) & mask
            pending, slots = pending[keep], slots[keep]
        return won

    def growth_bytes(self) -> int:
        """What growing adds at its peak: the new table (twice the old) and the copy of the old
        keys, and, without a compiled inserter, numpy's temporaries for reinserting them
        (about ten arrays of a key each: 9.2 times the old table, measured at 2^21 slots)."""
        return (3 if self.inserter is not None else 10) * self.nbytes

    def _grow(self, needed: int, load: float) -> None:
        size = len(self.table)
        while needed > load * size:
            size *= 2
        old = self.table[self.table != EMPTY]
        self.table = np.zeros(size, dtype=np.uint64)
        if self.inserter is not None:
            self.inserter(self.table, old)
        else:
            self._insert(old)

    def __getstate__(self) -> dict[str, object]:
        # A checkpoint keeps the table; the inserter belongs to the process that lent it.
        return {**self.__dict__, "inserter": None}

    def state(self) -> dict[str, NDArray[np.uint64]]:
        return {"table": self.table}

    @classmethod
    def restore(cls, saved: dict[str, NDArray[np.uint64]]) -> FingerprintSet:
        store = cls(16)
        store.table = np.array(saved["table"], dtype=np.uint64)
        store.count = int(np.count_nonzero(store.table))
        return store


class ExactSet:
    """Whole states as keys: no collisions, about 100 bytes per state."""

    exact = True

    def __init__(self) -> None:
        self.seen: set[bytes] = set()

    def __len__(self) -> int:
        return len(self.seen)

    @property
    def nbytes(self) -> int:
        # set slot + bytes object; an estimate, reported as such.
        width = len(next(iter(self.seen))) if self.seen else 0
        return len(self.seen) * (33 + width + 16)

    def add_states(self, states: Sequence[bytes]) -> NDArray[np.bool_]:
        fresh = np.zeros(len(states), dtype=bool)
        seen = self.seen
        for i, s in enumerate(states):
            if s not in seen:
                seen.add(s)
                fresh[i] = True
        return fresh
