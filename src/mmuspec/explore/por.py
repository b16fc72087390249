"""Partial-order reduction with persistent sets, from the footprints a model declares.

A model may offer ``footprints()``, which returns, for its threads:

* where each thread's program counter lives in a state, and the pc of a finished thread;
* for each thread and pc, what the thread's steps at that pc (guards included) may read
  and write, as bit masks over groups of shared variables (one bit per group);
* for each thread, the same for its whole program.

In a state, thread T's steps form a *persistent set* when no other unfinished thread can
ever do anything that conflicts with them: nothing in its whole program writes what T's
steps read or write, or reads what they write.  Whatever the others do before T moves
commutes with T's steps (same states, same events), so exploring T's steps alone keeps
every reachable event, every deadlock and every final state.  Two further conditions:

* T must have an enabled step (a persistent set of waiting steps proves nothing);
* the *cycle proviso*: the reduced expansion is used only if every successor has made
  progress, i.e. a larger sum of program counters.  A cycle must come back to the same
  sum, so some step on it does not increase it, and the state it leaves was expanded in
  full: no step is ignored forever around a cycle.  The sum does not change when a
  symmetry reduction permutes threads, so the proviso holds on representatives too.

Declared footprints are coarse (groups, whole programs), which keeps the test cheap: a
table lookup per thread.  When no thread at any pc can be alone, the reduction is off
and costs nothing.  ``benchmarks/por_bound.py`` measures how much more field-precise
footprints could save on the model (little: its threads share one page's PTE, SPTE and
notifier counters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

Masks = tuple[int, int]  # (reads, writes) over groups of shared variables
Declaration = tuple[Sequence[int], Sequence[int], Sequence[Sequence[Masks]], Sequence[Masks]]
Transitions = list[tuple[int, bytes, int]]


def conflict(a: Masks, b: Masks) -> bool:
    """Whether steps with footprints ``a`` and ``b`` may fail to commute."""
    return bool(a[1] & (b[0] | b[1]) or b[1] & a[0])


class PersistentSets:
    """Chooses, state by state, a thread whose steps alone are a persistent set."""

    def __init__(self, declaration: Declaration) -> None:
        pcs, done, now, program = declaration
        self.pc_at = tuple(pcs)
        self.done = tuple(done)
        threads = range(len(self.pc_at))
        # For each thread and pc: the other threads whose programs conflict with its steps
        # there; the thread is alone once all of those have finished.
        self.blockers = tuple(
            tuple(tuple(u for u in threads if u != t and conflict(masks, program[u])) for masks in now[t])
            for t in threads
        )
        others = len(self.pc_at) - 1
        self.useful = any(
            len(blocking) < others
            for t in threads
            for pc, blocking in enumerate(self.blockers[t])
            if pc != self.done[t]
        )

    def candidates(self, state: bytes) -> Iterator[int]:
        """Threads whose steps at their pc conflict with nothing another thread may do."""
        pc_at, done = self.pc_at, self.done
        for t, at in enumerate(pc_at):
            pc = state[at]
            if pc == done[t]:
                continue
            if all(state[pc_at[u]] == done[u] for u in self.blockers[t][pc]):
                yield t

    def progress(self, state: bytes) -> int:
        return sum(state[at] for at in self.pc_at)

    def reduced(self, state: bytes, successors_of: Callable[[bytes, int], Transitions]) -> Transitions | None:
        """One alone thread's transitions, if some thread is alone, can move, and every one
        of its steps makes progress; else None (expand in full)."""
        before = -1
        for t in self.candidates(state):
            if before < 0:
                before = self.progress(state)
            steps = successors_of(state, t)
            if steps and all(self.progress(nxt) > before for _action, nxt, _ev in steps):
                return steps
        return None


def persistent_sets(model: Any) -> PersistentSets | None:
    """The reduction for ``model``, or None if it declares no footprints or nothing could
    ever be reduced with them."""
    declare = getattr(model, "footprints", None)
    declaration = declare() if declare is not None else None
    if declaration is None:
        return None
    sets = PersistentSets(declaration)
    return sets if sets.useful else None
