"""The command's Ctrl-C: exit status 130 and at most one line, whenever it comes.

A search takes the first Ctrl-C as a request to stop between chunks
(``explore/interrupt.py``); elsewhere the first Ctrl-C is a ``KeyboardInterrupt`` that
the command turns into exit 130.  Left to Python, the rest of the process's life gives
other answers, depending on the moment:

* during the command's imports, numpy turns an interrupt of its own import into an
  ``ImportError``: a traceback and exit 1, the status of a violation found;
* a second Ctrl-C while a search stops, or while the command ends, lands inside
  ``concurrent.futures``' shutdown: the pool's workers then wait on each other for ever
  and the command never ends;
* a Ctrl-C once Python has begun to exit finds SIGINT back at its default disposition
  (``_PySignal_Fini``), and the process dies of the signal with no message;
* under ``python -m``, an interrupt that ended any string run by ``exec`` on the way
  (dataclasses and named tuples make their methods so) has Python kill itself with SIGINT
  after its exit, whatever status the command chose, after the command's own message.

So the command owns SIGINT from its first line to its last.  During the imports a Ctrl-C
is only noted, and acted on once they are done.  After them the first Ctrl-C is the
``KeyboardInterrupt`` or the search's stop request, as before.  Any later one, and any
one once the command has its status, ends the process at once (``leave_now``): one line,
the local worker processes killed (they would die with it anyway), the exit functions run
while the command is still running (the lab's host restore), and ``os._exit(130)``.  The
last exit function ignores SIGINT, flushes the output and leaves with the command's status,
so that nothing after it can interrupt or change it.

Only the ``mmuspec`` command does this (``command.run``); a program calling mmuspec in its
own process keeps its own Ctrl-C.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import NoReturn

from mmuspec.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED

MESSAGE = "mmuspec: interrupted (Ctrl-C)"


class _State:
    taken = 0  # Ctrl-Cs taken so far: as a search's stop request or a KeyboardInterrupt
    owned = False  # this process is the mmuspec command and SIGINT is its own
    noted = False  # a Ctrl-C came while the command's modules were imported
    said = False  # the one line has been written
    status: int | None = None  # the command's status, once it has one and Python is exiting


def take_over() -> None:
    """The command's first act: note Ctrl-C until ``started``, and make sure that the last
    exit function ignores it.  A process started with SIGINT ignored (``nohup``, a
    background job of a script) keeps it ignored."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    _State.owned = True
    atexit.register(_last)  # registered first, so run last
    signal.signal(signal.SIGINT, _note)


def started() -> bool:
    """The command's modules are imported: from now on the first Ctrl-C interrupts.
    True if one came during the imports (the command then says so and exits 130)."""
    if not _State.owned:
        return False
    signal.signal(signal.SIGINT, _first_interrupts)
    return _State.noted


def ended(status: int) -> int:
    """The command has its ``status``: a Ctrl-C while Python exits (joining threads and
    worker processes, the exit functions) leaves at once with 130, and the process ends
    with ``status`` (``_last``)."""
    if _State.owned:
        _State.status = status
        signal.signal(signal.SIGINT, _leave)
    return status


def say(where: str = "", raw: bool = False) -> None:
    """The one line, once.  ``raw`` writes it straight to the file descriptor, for a
    Ctrl-C that may have come in the middle of a write to ``sys.stderr`` (whose buffer is
    not reentrant)."""
    if _State.said:
        return
    _State.said = _State.owned  # a program calling mmuspec in its process may be interrupted again
    line = f"{MESSAGE}{where}"
    try:
        if raw:
            os.write(2, f"{line}\n".encode(errors="replace"))
        else:
            print(line, file=sys.stderr, flush=True)
    except (OSError, RuntimeError):
        pass


def interrupted_meanwhile() -> bool:
    """True once the command took a Ctrl-C: an error after it is the interrupt's doing (a
    library that turns ``KeyboardInterrupt`` into its own exception), so exit 130."""
    return _State.owned and _State.taken > 0


def note_taken() -> None:
    """Count a Ctrl-C taken (``explore.interrupt`` counts the search's stop requests)."""
    _State.taken += 1


def _note(signum: int, frame: FrameType | None) -> None:
    note_taken()
    _State.noted = True


def _first_interrupts(signum: int, frame: FrameType | None) -> None:
    if _State.taken:  # a search's stop request, or the KeyboardInterrupt, came first
        leave_now()
    note_taken()
    raise KeyboardInterrupt


def _leave(signum: int, frame: FrameType | None) -> None:
    leave_now()


def leave_now() -> NoReturn:
    """End the command at once, with 130 and one line (see the module's doc)."""
    signal.signal(signal.SIGINT, _leave_without_cleanup)
    say(raw=True)
    logs = sys.modules.get("logging")
    if logs is not None:  # a Dask scheduler's complaints about the workers killed here
        logs.disable(logs.CRITICAL)
    processes = sys.modules.get("multiprocessing")
    with contextlib.suppress(Exception):  # each worker also dies with this process (lifetime.py)
        for child in processes.active_children() if processes is not None else ():
            child.kill()
        # Its exit function would join the queues' feeder threads, blocked for ever on pipes
        # that the killed workers no longer read; its finalizers that join nothing (exit priority
        # 0 and up) release the semaphores, which its resource tracker would otherwise report
        # as leaked.
        atexit.unregister(processes.util._exit_function)  # type: ignore[union-attr]
        processes.util._run_finalizers(0)  # type: ignore[union-attr]
    for stream in (sys.stdout, sys.stderr):  # what the report printed so far
        with contextlib.suppress(Exception):  # interrupted in the middle of a write, or a closed reader
            stream.flush()
    if _State.status is None:  # once it is set, while Python exits, its own exit functions are running already
        with contextlib.suppress(BaseException):  # they report their own failures
            atexit._run_exitfuncs()
    os._exit(EXIT_INTERRUPTED)


def _leave_without_cleanup(signum: int, frame: FrameType | None) -> None:
    """A Ctrl-C during ``leave_now``'s own cleanup: that cleanup is stuck, or not wanted."""
    os._exit(EXIT_INTERRUPTED)


def _last() -> None:
    """The last exit function: nothing after it may change the command's status.  Python
    would otherwise die of SIGINT after its exit if any code it ran through ``PyRun_*`` ended
    in a KeyboardInterrupt, caught or not (``_Py_UnhandledKeyboardInterrupt``, which
    ``python -m`` honours over ``sys.exit``), and a Ctrl-C in its last steps finds SIGINT at
    its default action.  So the streams are flushed here and the process leaves."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    status = _State.status
    if status is None:  # the command did not end through ``ended``: Python's own exit
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader left before the end of the report
            status = EXIT_BROKEN_PIPE if stream is sys.stdout else status
        except (OSError, ValueError):
            pass
    os._exit(status)
