"""A live progress line on stderr for long searches; silent when stderr is not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

from mmuspec.explore import Progress


@contextmanager
def search_progress(label: str, enabled: bool = True) -> Iterator[object]:
    """Yields a callback for ``bfs(progress=...)``; the line disappears when done."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
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
