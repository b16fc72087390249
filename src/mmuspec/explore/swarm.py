"""A swarm of random walks spread over local processes or a Dask/Ray cluster.

The walks are cut into batches; each batch is an independent ``random_walks`` call
that rebuilds the model from its factory, so the merged result is the same however
the batches were scheduled: walk ``i`` is the same walk everywhere.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor

from mmuspec.explore.api import Model
from mmuspec.explore.random_walk import random_walks
from mmuspec.explore.result import SearchResult

ModelFactory = Callable[[], Model]


def _batch(factory: ModelFactory, first: int, count: int, seed: int, max_depth: int) -> SearchResult:
    return random_walks(factory(), walks=count, seed=seed, max_depth=max_depth, first_walk=first)


def merge(results: list[SearchResult], walks: int, seed: int, max_depth: int, seconds: float) -> SearchResult:
    merged = SearchResult(event_kinds=results[0].event_kinds if results else {}, complete=False, mode="random")
    for r in results:
        merged.covered |= r.covered
        merged.transitions += r.transitions
        merged.depth = max(merged.depth, r.depth)
        for event, witness in r.witnesses.items():
            known = merged.witnesses.get(event)
            if known is None or witness.length < known.length:
                merged.witnesses[event] = witness
    merged.states = len(merged.covered)
    merged.seconds = seconds
    merged.stop_reason = f"{walks} random walks of at most {max_depth} steps (seed {seed}): not exhaustive"
    return merged


def swarm(
    factory: ModelFactory,
    *,
    walks: int,
    seed: int,
    max_depth: int,
    workers: int,
    cluster: str | None = None,
    batch: int = 64,
) -> SearchResult:
    start = time.perf_counter()
    batches = [(first, min(batch, walks - first)) for first in range(0, walks, batch)]
    results = list(_run(factory, batches, seed, max_depth, workers, cluster))
    return merge(results, walks, seed, max_depth, time.perf_counter() - start)


def _run(
    factory: ModelFactory, batches: list[tuple[int, int]], seed: int, max_depth: int, workers: int, cluster: str | None
) -> Iterator[SearchResult]:
    if cluster and cluster.startswith("ray"):
        import ray

        ray.init(address="auto" if cluster == "ray:auto" else cluster, ignore_reinit_error=True, log_to_driver=False)
        task = ray.remote(_batch)
        yield from ray.get([task.remote(factory, f, c, seed, max_depth) for f, c in batches])
        return
    if cluster:
        from dask.distributed import Client

        with Client(cluster.removeprefix("dask://"), set_as_default=False) as client:
            futures = [client.submit(_batch, factory, f, c, seed, max_depth, pure=False) for f, c in batches]
            yield from client.gather(futures)
        return
    if workers > 1 and len(batches) > 1:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method)) as pool:
            yield from pool.map(_batch, *zip(*[(factory, f, c, seed, max_depth) for f, c in batches], strict=True))
        return
    for f, c in batches:
        yield _batch(factory, f, c, seed, max_depth)
