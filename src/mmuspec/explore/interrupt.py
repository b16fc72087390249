"""Ctrl-C as a request to stop, not as an exception in the middle of a step.

A search interrupted halfway through absorbing a chunk would leave its tables
inconsistent, and its checkpoint useless.  While a search runs, the first SIGINT
only raises a flag that the search polls between chunks; it then stops as it does at
a state bound, so it can report what it reached and save a checkpoint.  The handler
it replaced comes back at once, so a second Ctrl-C interrupts immediately.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType


@contextmanager
def stop_on_interrupt() -> Iterator[Callable[[], bool]]:
    """Yields a function that says whether Ctrl-C was pressed since the block began.
    Outside the main thread, or where SIGINT is ignored, it always says no."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.SIG_IGN:
        yield lambda: False
        return
    restore = previous if previous is not None else signal.default_int_handler
    hit = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal hit
        hit = True
        signal.signal(signal.SIGINT, restore)
        for check in list(_STUCK_CHECKS):
            check(frame)

    signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: hit
    finally:
        signal.signal(signal.SIGINT, restore)


# Checks the first Ctrl-C runs on the frame it interrupted: one may raise at once, for code
# that never returns to the search's poll (a variant's loop that does not end).
_STUCK_CHECKS: list[Callable[[FrameType | None], None]] = []


@contextmanager
def raise_when_stuck(check: Callable[[FrameType | None], None]) -> Iterator[None]:
    """While the block runs, the first Ctrl-C also calls ``check`` with the interrupted frame."""
    _STUCK_CHECKS.append(check)
    try:
        yield
    finally:
        _STUCK_CHECKS.remove(check)


def ignore_interrupts() -> None:
    """For worker processes: Ctrl-C at a terminal reaches the whole process group, and
    the main process alone decides what it means.  A worker also dies with the main
    process (``lifetime.die_with_parent``), so that kill -9 of it leaves none behind."""
    from mmuspec.lifetime import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
