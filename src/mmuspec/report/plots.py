"""PNG plots of simulations, sweeps and traces (matplotlib, no screen needed).

A plot should not need checking against the numbers: lines that coincide are drawn
once and the legend says so ("5.13 = 6.10 (identical)"), since otherwise the line
drawn last hides the others; the time axis says whose clock it is; heat maps have
labelled colour bars with units and share one scale across eras, so that equal
colours mean equal values in every map.  Legends sit below the axes, never on the data; a
spike (a boot, a first scan) that would flatten the rest of a line to the axis turns the
axis logarithmic, and the axis label says why.  Lines of different things (a trace's
events) are never merged: equal lines are told apart by their dashes instead.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import Normalize

SIMULATED_TIME = "simulated time (s)"


@dataclass(frozen=True)
class Drawn:
    """What a plot shows, for callers (and tests) that do not look at the PNG."""

    path: Path
    legend: tuple[str, ...] = ()
    panels: tuple[str, ...] = ()
    xlabel: str = ""
    yscale: str = "linear"
    limits: tuple[float, float] | None = None
    colorbar: str = ""
    legend_clear: bool = True  # the legend overlaps no axes' plotting area


def smoothed(y: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` points (the first points average fewer)."""
    if window <= 1:
        return list(y)
    out = []
    for i in range(len(y)):
        part = y[max(0, i - window + 1) : i + 1]
        out.append(sum(part) / len(part))
    return out


def coinciding(lines: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> dict[str, tuple[Sequence[float], Sequence[float]]]:
    """Merge lines with the same points into one, labelled ``"a = b (identical)"``.
    Labels keep their first-seen order."""
    groups: dict[tuple[tuple[float, ...], tuple[float, ...]], list[str]] = {}
    for label, (x, y) in lines.items():
        groups.setdefault((tuple(x), tuple(y)), []).append(label)
    out: dict[str, tuple[Sequence[float], Sequence[float]]] = {}
    for (x, y), labels in groups.items():
        name = labels[0] if len(labels) == 1 else " = ".join(labels) + " (identical)"
        out[name] = (x, y)
    return out


# A peak this many times the median of a line's positive values flattens the rest of the line
# against the axis on a linear scale.
SPIKE = 20.0


def spike(lines: Mapping[str, tuple[Sequence[float], Sequence[float]]]) -> float | None:
    """The peak that hides the steady state, if there is one (the ratio to the median)."""
    values = [v for _, y in lines.values() for v in y if v > 0]
    if len(values) < 3:
        return None
    ratio = max(values) / statistics.median(values)
    return ratio if ratio >= SPIKE else None


def _draw_lines(ax: Axes, lines: Mapping[str, tuple[Sequence[float], Sequence[float]]], log: bool,
                *, merge: bool = True, colours: dict[str, str] | None = None) -> list[str]:
    """``colours`` (label to colour) is shared by the panels of one figure, so that its one
    legend means the same in each."""
    merged = coinciding(lines) if merge else dict(lines)
    styles = ("-", "--", ":", "-.")
    colours = {} if colours is None else colours
    for i, (label, (x, y)) in enumerate(merged.items()):
        colour = colours.setdefault(label, f"C{len(colours) % 10}")
        ax.plot(x, y, label=label, linewidth=1.4, color=colour, linestyle="-" if merge else styles[i % len(styles)])
    positive = [v for _, y in lines.values() for v in y if v > 0]
    if log and positive:
        if any(v == 0 for _, y in lines.values() for v in y):
            # Quiet stretches are zeros, not gaps: logarithmic above the smallest count, linear below.
            ax.set_yscale("symlog", linthresh=min(positive))
        else:
            ax.set_yscale("log", nonpositive="mask")
    ax.grid(True, alpha=0.3)
    return list(merged)


def _legend_below(fig: Any, axes: Sequence[Axes], labels: Sequence[str]) -> bool:
    """One legend for the figure, below every axes, long labels wrapped; True when it covers
    no plotting area."""
    handles: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    if not handles:
        return True
    fig.tight_layout()
    legend = fig.legend(list(handles.values()), [textwrap.fill(label, 90) for label in handles],
                        loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=8, frameon=False,
                        ncol=1 if max(len(x) for x in labels or [""]) > 40 else min(3, len(handles)))
    fig.canvas.draw()
    box = legend.get_window_extent()
    return not any(box.overlaps(ax.get_window_extent()) for ax in axes if ax.get_visible())


def _scale(lines: Mapping[str, tuple[Sequence[float], Sequence[float]]], log: bool | None) -> tuple[bool, str]:
    """Log or linear, and what the axis label adds: ``log`` None chooses (a spike turns it log)."""
    if log is None:
        ratio = spike(lines)
        if ratio is not None:
            return True, f" (log scale: the peak is {ratio:,.0f}x the median)"
        return False, ""
    return log, " (log scale)" if log else ""


def series_plot(series: dict[str, dict[str, list[float]]], key: str, ylabel: str, title: str, path: Path,
                *, smooth: int = 1, xlabel: str = SIMULATED_TIME, log: bool | None = False,
                merge: bool = True) -> Drawn:
    """One line per era of ``series[era][key]`` over ``series[era]["t"]``; ``log`` None lets a
    spike choose the log scale; ``merge`` False keeps equal lines apart (different events)."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    lines = {label: (data["t"], smoothed(data[key], smooth)) for label, data in series.items()}
    use_log, why = _scale(lines, log)
    legend = _draw_lines(ax, lines, use_log, merge=merge)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + why)
    ax.set_title(title)
    clear = _legend_below(fig, [ax], legend)
    fig.savefig(path, bbox_inches="tight")
    scale = ax.get_yscale()
    plt.close(fig)
    return Drawn(path, legend=tuple(legend), xlabel=xlabel, yscale=scale, legend_clear=clear)


def causes_plot(series: dict[str, dict[str, list[float]]], prefix: str, causes: Sequence[str], ylabel: str,
                title: str, path: Path, *, smooth: int = 1, log: bool | None = False) -> Drawn:
    """One panel per cause (``series[era][prefix + cause]``), one line per era in each.
    Causes that are zero in every era get no panel; the title names them."""
    shown = [c for c in causes if any(v for data in series.values() for v in data[prefix + c])]
    empty = [c for c in causes if c not in shown]
    cols = 2 if len(shown) > 1 else 1
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 3.2 * rows + 0.8), dpi=110, squeeze=False,
                             sharex=True)
    legend: list[str] = []
    scales = []
    colours: dict[str, str] = {}
    for ax, cause in zip(axes.flat, shown, strict=False):
        lines = {label: (data["t"], smoothed(data[prefix + cause], smooth)) for label, data in series.items()}
        use_log, why = _scale(lines, log)
        legend += _draw_lines(ax, lines, use_log, colours=colours)
        ax.set_title(cause + why, fontsize=10)
        ax.set_ylabel(ylabel + (" (log)" if use_log else ""), fontsize=9)
        scales.append(ax.get_yscale())
    for ax in list(axes.flat)[len(shown):]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel(SIMULATED_TIME)
    fig.suptitle(title + (f"\n(no exits at all: {', '.join(empty)})" if empty else ""))
    clear = _legend_below(fig, list(axes.flat), legend)
    fig.savefig(path, bbox_inches="tight")
    scale = scales[0] if scales else axes.flat[0].get_yscale()
    plt.close(fig)
    return Drawn(path, legend=tuple(dict.fromkeys(legend)), panels=tuple(shown), xlabel=SIMULATED_TIME, yscale=scale,
                 legend_clear=clear)


def bar_plot(labels: Sequence[str], groups: dict[str, Sequence[float]], ylabel: str, title: str, path: Path) -> None:
    """Grouped bars: one group per label, one bar per series."""
    fig, ax = plt.subplots(figsize=(9, 4.5), dpi=110)
    width = 0.8 / max(1, len(groups))
    for i, (name, values) in enumerate(groups.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    ax.set_xticks([x + width * (len(groups) - 1) / 2 for x in range(len(labels))], labels)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    _legend_below(fig, [ax], list(groups))
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def heat_map(rows: Sequence[Any], cols: Sequence[Any], values: Sequence[Sequence[float]], row_label: str,
             col_label: str, title: str, path: Path, *, colorbar_label: str, limits: tuple[float, float] | None = None,
             difference: bool = False) -> Drawn:
    """A grid of values with each cell's number written in it.  ``limits`` fixes the
    colour scale (to share it between maps); a ``difference`` map uses a diverging
    scale centred on zero, so that the sign reads at a glance."""
    fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 3.5, 0.6 * len(rows) + 2.5), dpi=110)
    flat = [v for row in values for v in row]
    lo, hi = limits if limits is not None else (min(flat), max(flat))
    if difference:
        bound = max(abs(lo), abs(hi)) or 1.0
        lo, hi, cmap = -bound, bound, "RdBu_r"
    else:
        cmap = "viridis"
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
    norm = Normalize(vmin=lo, vmax=hi)
    image = ax.imshow(values, aspect="auto", cmap=cmap, norm=norm)
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            r, g, b, _ = image.cmap(norm(v))
            ink = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
            ax.text(j, i, f"{v:+.3g}" if difference else f"{v:.3g}", ha="center", va="center", color=ink, fontsize=8)
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label=colorbar_label)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Drawn(path, xlabel=col_label, limits=(lo, hi), colorbar=colorbar_label)
