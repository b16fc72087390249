"""A swarm of random walks spread over local processes or a Dask/Ray cluster.

The walks are cut into batches; each batch is an independent ``random_walks`` call
that rebuilds the model from its factory, so the merged result is the same however
the batches were scheduled: walk ``i`` is the same walk everywhere.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor

from mmuspec.explore.api import Model
from mmuspec.explore.cluster import dask_client, ray_init
from mmuspec.explore.interrupt import ignore_interrupts, stop_on_interrupt
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
    results: list[SearchResult] = []
    with stop_on_interrupt() as pressed:
        runs = _run(factory, batches, seed, max_depth, workers, cluster)
        try:
            for result in runs:
                results.append(result)
                if pressed():
                    break
        finally:
            runs.close()  # cancels the batches not started
    merged = merge(results, walks, seed, max_depth, time.perf_counter() - start)
    if len(results) < len(batches):
        done = sum(count for _, count in batches[: len(results)])
        merged.interrupted = True
        merged.stop_reason = (f"interrupted (Ctrl-C) after {done} of {walks} random walks of at most "
                              f"{max_depth} steps (seed {seed}): not exhaustive")
    return merged


def _run(
    factory: ModelFactory, batches: list[tuple[int, int]], seed: int, max_depth: int, workers: int, cluster: str | None
) -> Generator[SearchResult, None, None]:
    if cluster and cluster.startswith("ray"):
        ray = ray_init(cluster)
        task = ray.remote(_batch)
        refs = [task.remote(factory, f, c, seed, max_depth) for f, c in batches]
        for ref in refs:
            yield ray.get(ref)
        return
    if cluster:
        with dask_client(cluster) as client:
            futures = [client.submit(_batch, factory, f, c, seed, max_depth, pure=False) for f, c in batches]
            for future in futures:
                yield future.result()
        return
    if workers > 1 and len(batches) > 1:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                                   initializer=ignore_interrupts)
        try:
            pending = [pool.submit(_batch, factory, f, c, seed, max_depth) for f, c in batches]
            for future in pending:
                yield future.result()
        finally:
            pool.shutdown(cancel_futures=True)
        return
    for f, c in batches:
        yield _batch(factory, f, c, seed, max_depth)
