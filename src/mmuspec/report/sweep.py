"""``mmuspec sweep``'s text: each point's figures with their spread over seeds, and the frontier
of memory saved against guest time lost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mmuspec.simulate.run import LOST_UNIT
from mmuspec.simulate.sweep import frontier


def _spread(row: dict[str, Any], metric: str, fmt: str, seeds: int) -> str:
    text = format(row[metric], fmt)
    return f"{text} ± {format(row[f'{metric}_sd'], fmt)}" if seeds > 1 else text


def _point(row: dict[str, Any], keys: Sequence[str]) -> str:
    return ", ".join(f"{k}={row[k]:g}" for k in keys)


def summary_text(summary: list[dict[str, Any]], keys: Sequence[str], seeds: int) -> str:
    """One line per point and era (mean ± standard deviation over the seeds when there are several)."""
    out = [f"per point (mean over {seeds} seeds ± their standard deviation):" if seeds > 1 else "per point:"]
    for row in summary:
        out.append(f"  {_point(row, keys)}, {row['era']}: {_spread(row, 'exits_per_s', ',.1f', seeds)} exits/s, "
                   f"{_spread(row, 'saved_mib_mean', ',.1f', seeds)} MiB saved on average "
                   f"(peak {_spread(row, 'saved_mib_peak', ',.1f', seeds)}), "
                   f"{_spread(row, 'guest_time_lost_pct', '.5f', seeds)} {LOST_UNIT} lost")
    return "\n".join(out)


def frontier_text(summary: list[dict[str, Any]], keys: Sequence[str], eras: Sequence[str]) -> str:
    """Per era, the points no other point beats on both MiB saved (mean over the run) and guest time
    lost, cheapest first: the rest save less for as much lost time, or lose more for as much saved."""
    out = [f"\nfrontier: MiB saved (mean over the run) against guest time lost ({LOST_UNIT}); "
           "every other point saves less for as much lost, or loses more for as much saved:"]
    for era in eras:
        best = frontier(summary, era)
        out.append(f"  {era}: " + "; ".join(
            f"{_point(r, keys)} -> {r['saved_mib_mean']:,.1f} MiB, {r['guest_time_lost_pct']:.5f}%" for r in best))
    return "\n".join(out)
