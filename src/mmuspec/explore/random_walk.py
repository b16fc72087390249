"""Random walks: for state spaces too large to finish, sample executions instead.

Walk ``i`` of a run with seed ``S`` draws its choices from ``Random(f"{S}:{i}")``, so
any walk can be re-run alone and every witness it finds is an ordinary path that
``replay`` re-executes.  What the walks covered (distinct states, steps, depth) is
reported with the result, which is never a proof of safety.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from mmuspec.explore.api import Model
from mmuspec.explore.bfs import Progress, fingerprint
from mmuspec.explore.result import SearchResult, Witness


def walk_seed(seed: int, walk: int) -> str:
    return f"{seed}:{walk}"


def random_walks(
    model: Model,
    *,
    walks: int,
    seed: int,
    max_depth: int = 1000,
    first_walk: int = 0,
    stop_on_violation: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> SearchResult:
    """Run ``walks`` walks (numbered from ``first_walk``) of at most ``max_depth`` steps."""
    start = time.perf_counter()
    events = list(model.events)
    result = SearchResult(event_kinds={e.id: e.kind for e in events}, complete=False, mode="random")
    covered: set[int] = set()
    steps = deepest = 0
    property_bits = sum(1 << i for i, e in enumerate(events) if e.kind == "property")
    for walk in range(first_walk, first_walk + walks):
        rng = random.Random(walk_seed(seed, walk))
        state = model.initial()
        covered.add(fingerprint(state))
        path: list[int] = []
        for _ in range(max_depth):
            choices = model.successors(state)
            if not choices:
                break
            action, state, ev = choices[rng.randrange(len(choices))]
            path.append(action)
            steps += 1
            covered.add(fingerprint(state))
            if ev:
                for i, event in enumerate(events):
                    if ev >> i & 1:
                        known = result.witnesses.get(event.id)
                        if known is None or len(path) < known.length:
                            result.witnesses[event.id] = Witness(event.id, event.kind, tuple(path))
            if ev & property_bits and stop_on_violation:
                break
        deepest = max(deepest, len(path))
        if progress is not None:
            progress(Progress(len(covered), steps, deepest, first_walk + walks - walk - 1, time.perf_counter() - start))
        if stop_on_violation and result.violation is not None:
            break
    result.covered = covered
    result.states = len(covered)
    result.transitions = steps
    result.depth = deepest
    result.seconds = time.perf_counter() - start
    result.stop_reason = f"{walks} random walks of at most {max_depth} steps (seed {seed}): not exhaustive"
    return result
