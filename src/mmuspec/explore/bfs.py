"""Exhaustive breadth-first search over every interleaving of a model's steps.

Breadth first, so the first transition found that carries an event ends the
shortest path to it: each violation, warning and observation gets its own
shortest witness.  States are numbered in discovery order; a parent index and an
action per state are all that is kept to rebuild a path (the path is re-executed
on the model to show it, see ``trace.py``).
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass

import xxhash

from mmuspec.explore.api import Model
from mmuspec.explore.result import SearchResult, Witness


@dataclass(frozen=True)
class Progress:
    states: int
    transitions: int
    depth: int
    queue: int
    seconds: float


ProgressFn = Callable[[Progress], None]


def fingerprint(state: bytes) -> int:
    """A stable 64-bit fingerprint of a state (xxh3, independent of PYTHONHASHSEED)."""
    return xxhash.xxh3_64_intdigest(state)


def collision_probability(states: int) -> float:
    """Chance that two of ``states`` distinct states share a 64-bit fingerprint (birthday
    bound, as SPIN's hash-compact and TLC report it): n(n-1)/2 / 2**64."""
    return states * (states - 1) / 2 / 2.0**64


def bfs(
    model: Model,
    *,
    stop_on_violation: bool = False,
    exact: bool = False,
    max_states: int | None = None,
    max_depth: int | None = None,
    progress: ProgressFn | None = None,
    progress_every: float = 0.5,
) -> SearchResult:
    """Explore every reachable state of ``model``.

    ``exact`` keeps whole states as visited-set keys instead of 64-bit fingerprints.
    ``stop_on_violation`` ends the search at the first property violation (the verdict
    is then known, but reachability of events not yet seen is not).
    """
    start = time.perf_counter()
    events = list(model.events)
    bit_event = [(1 << i, e.id, e.kind) for i, e in enumerate(events)]
    property_bits = sum(1 << i for i, e in enumerate(events) if e.kind == "property")
    key: Callable[[bytes], object] = (lambda s: s) if exact else fingerprint

    init = model.initial()
    visited: dict[object, int] = {key(init): 0}
    parent = array("q", [-1])
    action = array("l", [-1])
    witness_at: dict[int, tuple[int, int]] = {}
    seen = 0
    transitions = 0
    depth = 0
    frontier: list[tuple[bytes, int]] = [(init, 0)]
    result = SearchResult(event_kinds={e.id: e.kind for e in events})
    next_report = start + progress_every
    stop = ""

    while frontier and not stop:
        if max_depth is not None and depth >= max_depth:
            stop = f"depth bound {max_depth} reached"
            break
        nxt: list[tuple[bytes, int]] = []
        for s, si in frontier:
            for a, n, ev in model.successors(s):
                transitions += 1
                if ev & ~seen:
                    for bit, _, _ in bit_event:
                        if ev & bit & ~seen:
                            witness_at[bit] = (si, a)
                    seen |= ev
                    if stop_on_violation and ev & property_bits:
                        stop = "stopped at the first violation"
                k = key(n)
                if k not in visited:
                    visited[k] = len(parent)
                    nxt.append((n, len(parent)))
                    parent.append(si)
                    action.append(a)
            if stop:
                break
            if max_states is not None and len(parent) >= max_states:
                stop = f"state bound {max_states} reached"
                break
            if progress is not None and (now := time.perf_counter()) >= next_report:
                next_report = now + progress_every
                progress(Progress(len(parent), transitions, depth, len(nxt), now - start))
        frontier = nxt
        if nxt:
            depth += 1

    def path_to(index: int) -> list[int]:
        out: list[int] = []
        while index > 0:
            out.append(action[index])
            index = parent[index]
        out.reverse()
        return out

    for bit, event_id, kind in bit_event:
        if bit in witness_at:
            si, a = witness_at[bit]
            result.witnesses[event_id] = Witness(event_id, kind, (*path_to(si), a))
    result.states = len(parent)
    result.transitions = transitions
    result.depth = depth
    result.seconds = time.perf_counter() - start
    result.complete = not stop
    result.stop_reason = stop
    if not exact:
        result.collision_probability = collision_probability(len(parent))
    if progress is not None:
        progress(Progress(len(parent), transitions, depth, 0, result.seconds))
    return result
