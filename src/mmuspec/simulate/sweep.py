"""Sweeping a workload over a grid of parameters, era by era.

Every point of the grid is an independent simulation with the same seed, so the
table is the same whether the points run here, on local worker processes, or on a
Dask or Ray cluster.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from mmuspec.errors import UsageError
from mmuspec.explore.cluster import dask_client, ray_init
from mmuspec.explore.interrupt import ignore_interrupts
from mmuspec.model import Config
from mmuspec.simulate.engine import PAGE
from mmuspec.simulate.run import simulate_era
from mmuspec.simulate.workload import Workload

METRICS = ("exits_total", "exits_per_s", "change_pte_installed_spte", "change_pte_repointed_spte", "change_pte_removed_spte", "cow_faults", "saved_mib",
           "guest_time_lost_s", "host_cpu_s")


def parse_grid(texts: list[str]) -> dict[str, list[float]]:
    """``--grid 'ksm.pages_to_scan=100,1000,4000'`` (repeatable)."""
    grid: dict[str, list[float]] = {}
    for text in texts:
        key, sep, values = text.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--grid {text!r}: expected NAME=V1,V2,...")
        try:
            grid[key.strip()] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise UsageError(f"--grid {text!r}: values must be numbers") from None
        if not grid[key.strip()]:
            raise UsageError(f"--grid {text!r}: no values")
    if not grid:
        raise UsageError("sweep needs at least one --grid NAME=V1,V2,...")
    return grid


def points(workload: Workload, grid: dict[str, list[float]]) -> list[tuple[dict[str, float], Workload]]:
    out = []
    for values in itertools.product(*grid.values()):
        assignment = dict(zip(grid, values, strict=True))
        out.append((assignment, workload.with_values(assignment)))
    return out


def _one(job: tuple[dict[str, float], Workload, str, str, Config, int]) -> dict[str, Any]:
    assignment, workload, label, era, config, seed = job
    r = simulate_era(workload, label, era, config, seed)
    return {
        **assignment,
        "era": label,
        "exits_total": r.exits_total,
        "exits_per_s": r.exits_total / workload.duration,
        "change_pte_installed_spte": r.change_pte_installed_spte,
        "change_pte_repointed_spte": r.change_pte_repointed_spte,
        "change_pte_removed_spte": r.change_pte_removed_spte,
        "cow_faults": r.cow_faults,
        "saved_mib": r.ksm["pages_sharing"] * PAGE / 2**20,
        "guest_time_lost_s": r.guest_time_lost_s,
        "host_cpu_s": r.host_cpu_s,
        **{f"ksm_{k}": v for k, v in r.ksm.items()},
    }


def sweep(
    workload: Workload,
    grid: dict[str, list[float]],
    eras: list[tuple[str, str, Config]],
    seed: int,
    *,
    workers: int = 1,
    cluster: str | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    jobs = [(a, w, label, era, config, seed) for a, w in points(workload, grid) for label, era, config in eras]
    rows = []
    for row in _run(jobs, workers, cluster):
        rows.append(row)
        if on_row is not None:
            on_row(row)
    return rows


def _run(jobs: list[Any], workers: int, cluster: str | None) -> Iterator[dict[str, Any]]:
    if cluster and cluster.startswith("ray"):
        ray = ray_init(cluster)
        task = ray.remote(_one)
        refs = [task.remote(job) for job in jobs]
        for ref in refs:
            yield ray.get(ref)
        return
    if cluster:
        with dask_client(cluster) as client:
            futures = [client.submit(_one, job, pure=False) for job in jobs]
            for future in futures:
                yield future.result()
        return
    if workers > 1 and len(jobs) > 1:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                                   initializer=ignore_interrupts)
        try:
            pending = [pool.submit(_one, job) for job in jobs]
            for future in pending:
                yield future.result()
        finally:
            pool.shutdown(cancel_futures=True)  # on Ctrl-C or an error: start no more points
        return
    for job in jobs:
        yield _one(job)
