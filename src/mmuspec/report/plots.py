"""PNG plots of simulations and sweeps (matplotlib, no screen needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def series_plot(series: dict[str, dict[str, list[float]]], key: str, ylabel: str, title: str, path: Path,
                *, smooth: int = 1) -> None:
    """One line per era of ``series[era][key]`` over time."""
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=110)
    for label, data in series.items():
        y = data[key]
        if smooth > 1:
            y = [sum(y[max(0, i - smooth + 1) : i + 1]) / len(y[max(0, i - smooth + 1) : i + 1]) for i in range(len(y))]
        ax.plot(data["t"], y, label=label, linewidth=1.4)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


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
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def heat_map(rows: Sequence[Any], cols: Sequence[Any], values: Sequence[Sequence[float]], row_label: str,
             col_label: str, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(1.2 * len(cols) + 3, 0.6 * len(rows) + 2.5), dpi=110)
    image = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(cols)), [str(c) for c in cols])
    ax.set_yticks(range(len(rows)), [str(r) for r in rows])
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", color="white", fontsize=8)
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
