"""A variant's code may never return (a loop that does not end): stop it, and say where.

The search polls for Ctrl-C and for the end of its time budget (``--smoke``) between chunks
of states, so a step that never returns would hold both off forever, and a pre-commit hook
built on ``--smoke`` would hang.  While a variant's model runs in this process, the first
Ctrl-C that interrupts the variant's own code (or model code it called) raises at once, and
a timer armed for the time budget checks, every ``PATIENCE`` seconds after it, whether one
call of the variant's code is still running; then that call is stopped as bad input, with
its file and line.  The compiled core runs a variant's loops on a budget of iterations
(``native.translate.LOOP_BUDGET``), after which the interpreter, where these can act, runs.
"""

from __future__ import annotations

import signal
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from mmuspec.errors import InputError
from mmuspec.explore.interrupt import raise_when_stuck
from mmuspec.model import Variant

PATIENCE = 1.0  # seconds one call of a variant's code may run past the time budget


class VariantInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a variant's code that had not returned."""


def variant_frame(frame: FrameType | None, path: str) -> FrameType | None:
    """The innermost frame of the variant file ``path`` on ``frame``'s stack, if any."""
    while frame is not None:
        if frame.f_code.co_filename == path:
            return frame
        frame = frame.f_back
    return None


@contextmanager
def guard(variant: Variant | None, seconds: float | None) -> Iterator[None]:
    """Run the block with the variant's code stoppable (see the module's docstring)."""
    if variant is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    path = variant.path

    def on_interrupt(frame: FrameType | None) -> None:
        found = variant_frame(frame, path)
        if found is not None:
            raise VariantInterrupted(f"{path}:{found.f_lineno}: {found.f_code.co_name}() was running")

    if seconds is None:
        with raise_when_stuck(on_interrupt), _located(path):
            yield
        return
    seen: list[FrameType] = []

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        found = variant_frame(frame, path)
        if found is not None and seen and seen[0] is found:
            raise InputError(path, found.f_lineno,
                             f"{found.f_code.co_name}() still ran {PATIENCE:g} s after the time budget of "
                             f"{seconds:g} s was spent: a loop that never ends?")
        seen[:] = [found] if found is not None else []

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds, PATIENCE)
    try:
        with raise_when_stuck(on_interrupt), _located(path):
            yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _located(path: str) -> Iterator[None]:
    """A plain Ctrl-C (outside the search's handler: while the engines' cross-check runs the
    variant, say) that stopped the variant's code says where, as the search's handler does."""
    try:
        yield
    except VariantInterrupted:
        raise
    except KeyboardInterrupt as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        if not frames:
            raise
        raise VariantInterrupted(f"{path}:{frames[-1].lineno}: {frames[-1].name}() was running") from None
