"""Sweeping a workload over a grid of parameters, era by era, seed by seed.

Every point of the grid is an independent simulation with the same seeds, so the
table is the same whether the points run here, on local worker processes, or on a
Dask or Ray cluster.  A cost only prices what happened (``costs.RECOST_KEYS``), so
the points that differ only in such costs share one simulation, priced once per
point.  Several seeds give each point a spread; ``frontier`` keeps the points no
other point beats on both memory saved and guest time lost.
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
from mmuspec.simulate.costs import RECOST_KEYS
from mmuspec.simulate.run import simulate_era
from mmuspec.simulate.workload import Workload

METRICS = ("exits_total", "exits_per_s", "change_pte_installed_spte", "change_pte_repointed_spte", "change_pte_removed_spte", "cow_faults", "saved_mib",
           "saved_mib_peak", "saved_mib_mean", "guest_time_lost_s", "guest_time_lost_pct", "host_cpu_s")


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


def split_grid(grid: dict[str, list[float]]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The grid's axes that need a simulation each, and the costs that only re-price one."""
    recost = {k: v for k, v in grid.items() if k.startswith("costs.") and k.partition(".")[2] in RECOST_KEYS}
    return {k: v for k, v in grid.items() if k not in recost}, recost


Job = tuple[dict[str, float], Workload, str, str, Config, int, list[dict[str, float]]]


def _one(job: Job) -> list[dict[str, Any]]:
    """One simulation, and one row per cost assignment it is priced at."""
    assignment, workload, label, era, config, seed, prices = job
    r = simulate_era(workload, label, era, config, seed)
    rows = []
    for price in prices:
        lost_s, lost_pct, host_s = r.recost({k.partition(".")[2]: v for k, v in price.items()})
        rows.append({
            **assignment,
            **price,
            "era": label,
            "seed": seed,
            "exits_total": r.exits_total,
            "exits_per_s": r.exits_total / workload.duration,
            "change_pte_installed_spte": r.change_pte_installed_spte,
            "change_pte_repointed_spte": r.change_pte_repointed_spte,
            "change_pte_removed_spte": r.change_pte_removed_spte,
            "cow_faults": r.cow_faults,
            "saved_mib": r.saved_mib_end,
            "saved_mib_peak": r.saved_mib_peak,
            "saved_mib_mean": r.saved_mib_mean,
            "guest_time_lost_s": lost_s,
            "guest_time_lost_pct": lost_pct,
            "host_cpu_s": host_s,
            **{f"ksm_{k}": v for k, v in r.ksm.items()},
        })
    return rows


def jobs_of(workload: Workload, grid: dict[str, list[float]], eras: list[tuple[str, str, Config]],
            seeds: list[int]) -> list[Job]:
    simulated, recost = split_grid(grid)
    prices = [dict(zip(recost, values, strict=True)) for values in itertools.product(*recost.values())]
    return [(a, w, label, era, config, seed, prices) for a, w in points(workload, simulated)
            for label, era, config in eras for seed in seeds]


def sweep(
    workload: Workload,
    grid: dict[str, list[float]],
    eras: list[tuple[str, str, Config]],
    seed: int,
    *,
    seeds: int = 1,
    workers: int = 1,
    cluster: str | None = None,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every point of ``grid`` in every era, with ``seeds`` seeds from ``seed`` on; ``on_row`` hears
    of each simulation (with the rows it priced)."""
    keys = list(grid)
    rows = []
    for priced in _run(jobs_of(workload, grid, eras, [seed + i for i in range(seeds)]), workers, cluster):
        rows.extend(priced)
        if on_row is not None:
            on_row(priced[0])
    order = {label: i for i, (label, _, _) in enumerate(eras)}
    return sorted(rows, key=lambda r: (order[r["era"]], *(r[k] for k in keys), r["seed"]))


def summarize(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """One row per point and era: each metric's mean over the seeds, and its standard deviation
    (``<metric>_sd``; 0 with one seed)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["era"], *(r[k] for k in keys)), []).append(r)
    out = []
    for (era, *values), members in groups.items():
        row: dict[str, Any] = {**dict(zip(keys, values, strict=True)), "era": era, "seeds": len(members)}
        for m in METRICS:
            xs = [float(r[m]) for r in members]
            mean = sum(xs) / len(xs)
            row[m] = mean
            row[f"{m}_sd"] = (sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5 if len(xs) > 1 else 0.0
        out.append(row)
    return out


def frontier(summary: list[dict[str, Any]], era: str) -> list[dict[str, Any]]:
    """The points of ``era`` that no other point beats on both memory saved (mean over the run) and
    guest time lost: the choices worth making, cheapest first."""
    mine = [r for r in summary if r["era"] == era]

    def beaten(a: dict[str, Any]) -> bool:
        return any(b["saved_mib_mean"] >= a["saved_mib_mean"] and b["guest_time_lost_pct"] <= a["guest_time_lost_pct"]
                   and (b["saved_mib_mean"] > a["saved_mib_mean"] or b["guest_time_lost_pct"] < a["guest_time_lost_pct"])
                   for b in mine)

    return sorted((a for a in mine if not beaten(a)), key=lambda r: (r["guest_time_lost_pct"], -r["saved_mib_mean"]))


def _run(jobs: list[Any], workers: int, cluster: str | None) -> Iterator[list[dict[str, Any]]]:
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
