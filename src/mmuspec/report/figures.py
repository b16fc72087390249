"""The figures ``simulate`` and ``sweep`` write, with their titles, units and file names.

Kept apart from the drawing (``plots.py``) so that what a figure shows, and in which
unit, is decided in one place for each command.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmuspec.report.plots import Drawn, causes_plot, heat_map, series_plot
from mmuspec.simulate.engine import CAUSES

# What a sweep's heat maps show: metric -> (name, unit).
SWEEP_METRICS = {
    "exits_per_s": ("VM exits per second", "exits/s"),
    "saved_mib_mean": ("memory saved by KSM, mean over the run", "MiB"),
    "guest_time_lost_pct": ("guest time lost", "% of vCPU time"),
}


def simulation_figures(name: str, series: dict[str, dict[str, list[float]]], out: Path, *,
                       exits: str = "total", log: bool = False) -> list[Drawn]:
    """``memory_saved.png`` and ``exits_per_second.png`` (all exits, or one panel per
    cause), one line per era."""
    saved = series_plot(series, "saved_mib", "memory saved by KSM (MiB)", f"{name}: memory saved",
                        out / "memory_saved.png")
    per_second = out / "exits_per_second.png"
    if exits == "by-cause":
        exits_plot = causes_plot(series, "exits_per_s.", CAUSES, "VM exits per second",
                                 f"{name}: VM exits per second, by cause (5 s moving average)", per_second,
                                 smooth=5, log=log)
    else:
        exits_plot = series_plot(series, "exits_per_s", "VM exits per second",
                                 f"{name}: VM exits per second (5 s moving average)", per_second, smooth=5, log=log)
    return [saved, exits_plot]


def _grid(rows: list[dict[str, Any]], era: str, metric: str, row_key: str, row_values: Sequence[float],
          col_key: str | None, col_values: Sequence[Any]) -> list[list[float]]:
    mine = [r for r in rows if r["era"] == era]
    return [[float(next(r[metric] for r in mine if r[row_key] == rv and (col_key is None or r[col_key] == cv)))
             for cv in col_values] for rv in row_values]


def sweep_figures(name: str, grid: dict[str, list[float]], eras: Sequence[str], rows: list[dict[str, Any]],
                  out: Path) -> list[Drawn]:
    """One heat map per era and metric, all eras of a metric on one colour scale, and
    for every era after the first a map of its difference from the first."""
    keys = list(grid)
    row_key, col_key = keys[0], (keys[1] if len(keys) > 1 else None)
    row_values = grid[row_key]
    col_values: Sequence[Any] = grid[col_key] if col_key else [""]
    drawn: list[Drawn] = []
    for metric, (what, unit) in SWEEP_METRICS.items():
        maps = {era: _grid(rows, era, metric, row_key, row_values, col_key, col_values) for era in eras}
        flat = [v for values in maps.values() for row in values for v in row]
        limits = (min(flat), max(flat))
        for era, values in maps.items():
            drawn.append(heat_map(row_values, col_values, values, row_key, col_key or "",
                                  f"{name}, {era}: {what} ({unit})", out / f"heatmap_{era}_{metric}.png",
                                  colorbar_label=f"{what} ({unit}); same scale for every era", limits=limits))
        base = eras[0]
        for era in eras[1:]:
            diff = [[a - b for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(maps[era], maps[base], strict=True)]
            drawn.append(heat_map(row_values, col_values, diff, row_key, col_key or "",
                                  f"{name}: {what}, {era} minus {base} ({unit})",
                                  out / f"heatmap_diff_{era}_minus_{base}_{metric}.png",
                                  colorbar_label=f"{what}: {era} - {base} ({unit})", difference=True))
    return drawn
