"""How many states a search will meet, guessed from a short random sample.

Before a long run one wants its size.  Random walks from the initial state visit some
states many times and some once; the states never visited are estimated from how many
were seen exactly once (f1) and exactly twice (f2), with Chao's estimator
``S + f1² / (2 f2)`` (Chao 1984), the lower-bound estimator ecologists use for species
never caught.  Walks are not uniform samples: states near the start are met by every
walk and deep ones by few, which makes one estimate over all states far too low.  So
the states are counted per step of the walk (the k-th state of every walk is one
sample, a stratum), Chao1 is taken in each stratum and the strata are added up.  The
figure stays rough; ``benchmarks/estimate_accuracy.py`` measures it against exhaustive
counts.  Walk ``i`` of seed ``S`` is the same walk as in ``random_walk.py``.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass

from mmuspec.explore.api import Model
from mmuspec.explore.bfs import fingerprint
from mmuspec.explore.random_walk import walk_seed


def chao1(visits: Counter[int]) -> float:
    """The species seen plus those estimated unseen (bias-corrected when f2 = 0)."""
    freq = Counter(visits.values())
    once, twice = freq[1], freq[2]
    return len(visits) + (once * once / (2 * twice) if twice else once * (once - 1) / 2)


@dataclass(frozen=True)
class Estimate:
    walks: int
    steps: int
    seen: int  # distinct states the walks met: a lower bound
    states: int  # the estimate: Chao1 per walk step, added up
    seconds: float


WALKS = 1000


def estimate(model: Model, *, walks: int = WALKS, seed: int = 0, max_depth: int = 200) -> Estimate:
    """Run ``walks`` random walks on ``model`` (representatives if it has them) and
    estimate the size of its reachable state space."""
    start = time.perf_counter()
    rep = getattr(model, "representative", None)
    seen: set[int] = set()
    strata: list[Counter[int]] = []
    steps = 0
    for walk in range(walks):
        rng = random.Random(walk_seed(seed, walk))
        state = model.initial()
        for depth in range(max_depth + 1):
            fp = fingerprint(rep(state) if rep else state)
            seen.add(fp)
            if depth == len(strata):
                strata.append(Counter())
            strata[depth][fp] += 1
            choices = model.successors(state) if depth < max_depth else []
            if not choices:
                break
            _, state, _ = choices[rng.randrange(len(choices))]
            steps += 1
    guess = round(sum(chao1(s) for s in strata))
    return Estimate(walks, steps, len(seen), max(guess, len(seen)), time.perf_counter() - start)
