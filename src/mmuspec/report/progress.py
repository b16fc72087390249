"""A live progress line on stderr for long searches; silent when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mmuspec.explore import Progress


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
