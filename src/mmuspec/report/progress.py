"""Progress on stderr for long runs: searches, simulations and sweeps.

A search's line shows only on a terminal.  Simulations and sweeps also report when
stderr is a pipe or a log file, a line per phase or per job, because they run long
enough that a log without them says nothing about where the time went.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mmuspec.explore import Progress

if TYPE_CHECKING:
    from rich.console import Console


@contextmanager
def search_progress(label: str, enabled: bool = True) -> Iterator[object]:
    """Yields a callback for ``bfs(progress=...)``; the line disappears when done.
    rich is imported only when there is a terminal to draw on: short checks then start
    faster."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    with console.status(f"{label}: starting") as status:

        def update(p: Progress) -> None:
            rate = p.states / p.seconds if p.seconds > 0 else 0.0
            status.update(
                f"{label}: {p.states:,} states ({rate:,.0f}/s), {p.transitions:,} transitions, "
                f"queue {p.queue:,}, depth {p.depth}, {p.seconds:.1f} s"
            )

        yield update


def _clock(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _terminal(console: Console | None) -> Console | None:
    """The console to draw on, or None when stderr is not a terminal."""
    if console is not None:
        return console
    if not sys.stderr.isatty():
        return None
    from rich.console import Console as RichConsole

    found = RichConsole(stderr=True)
    return found if found.is_terminal else None


@contextmanager
def simulation_progress(
    label: str, runs: Sequence[str], phases: Sequence[tuple[str, float]], *, enabled: bool = True,
    console: Console | None = None,
) -> Iterator[Callable[[str, float], None] | None]:
    """Progress of ``simulate``: yields ``update(run, simulated_seconds)``.

    On a terminal, one bar in simulated seconds over every run, with the rate (how
    much faster than real time) and the time left.  Otherwise (a pipe, a log file),
    one line on stderr per phase of each run, so that a log shows where the time went
    without a line per update.  ``phases`` are (name, duration) in order."""
    if not enabled:
        yield None
        return
    duration = sum(d for _, d in phases)
    total = duration * len(runs)
    ends = list(itertools.accumulate(d for _, d in phases))
    started = time.perf_counter()
    term = _terminal(console)
    if term is None:
        done: dict[str, int] = {}

        def line(run: str, t: float) -> None:
            index = runs.index(run) if run in runs else 0
            while done.get(run, 0) < len(phases) and t >= ends[done.get(run, 0)] - 1e-9:
                k = done.get(run, 0)
                done[run] = k + 1
                wall = time.perf_counter() - started
                simulated = index * duration + t
                rate = simulated / wall if wall > 0 else 0.0
                left = (total - simulated) / rate if rate > 0 else 0.0
                print(f"{label}: {run}: phase {phases[k][0]} ({ends[k] - phases[k][1]:g}-{ends[k]:g} s) done; "
                      f"{simulated:,.0f}/{total:,.0f} simulated s, {rate:,.1f}x real time, eta {_clock(left)}",
                      file=sys.stderr, flush=True)

        yield line
        return
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as Bar

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f} simulated s, {task.fields[rate]}"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Bar(*columns, console=term, transient=True) as bar:
        task = bar.add_task(label, total=total, rate="")

        def update(run: str, t: float) -> None:
            simulated = (runs.index(run) if run in runs else 0) * duration + t
            wall = time.perf_counter() - started
            rate = f"{simulated / wall:,.1f}x real time" if wall > 0 else ""
            bar.update(task, completed=simulated, description=f"{label}: {run}", rate=rate)

        yield update


@contextmanager
def job_progress(label: str, total: int, *, enabled: bool = True,
                 console: Console | None = None) -> Iterator[Callable[[], None]]:
    """Progress of a batch of independent jobs (``sweep``'s points): yields ``advance()``.
    On a terminal a bar with the time left; otherwise a line per job with the same
    estimate."""
    started = time.perf_counter()
    term = _terminal(console) if enabled else None
    if term is None:
        count = 0

        def line() -> None:
            nonlocal count
            count += 1
            if enabled:
                wall = time.perf_counter() - started
                left = wall / count * (total - count)
                print(f"{label}: {count}/{total} done, {_clock(wall)} elapsed, eta {_clock(left)}",
                      file=sys.stderr, flush=True)

        yield line
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as Bar

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn())
    with Bar(*columns, console=term, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
