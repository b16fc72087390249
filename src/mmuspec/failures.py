"""What the command line does with an exception that ends a command.

Exit status 1 means "the search found something", so nothing that goes wrong may
end with it.  Bad input is one line and status 2.  So is an exception raised by the
user's own variant file (it is located by file and line, as a syntax error in it
would be) and a cluster that goes away.  A failure of the machine (a killed worker,
memory that ran out) is one line and status 5.  Anything else is a bug in mmuspec: one line
and status 3, and the traceback only with ``--debug``.
"""

from __future__ import annotations

import re
import sys
import traceback
from concurrent.futures.process import BrokenProcessPool

from mmuspec.errors import (
    EXIT_ENVIRONMENT,
    EXIT_INTERNAL,
    EXIT_USAGE,
    EnvironmentFailure,
    InputError,
    MmuspecError,
)


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in out:
        out.append(seen)
        seen = seen.__cause__ or seen.__context__
    return out


def variant_line(exc: BaseException, path: str) -> int | None:
    """The line of ``path`` (a variant file) where ``exc`` was raised, or None when the
    variant is not on the traceback.  Exceptions from worker processes carry the
    worker's traceback as text, which is searched too."""
    line: int | None = None
    for link in _chain(exc):
        frames = [f for f in traceback.extract_tb(link.__traceback__) if f.filename == path]
        if frames:
            line = frames[-1].lineno
        remote = getattr(link, "tb", None)
        if isinstance(remote, str):
            found = re.findall(rf'File "{re.escape(path)}", line (\d+)', remote)
            if found:
                line = int(found[-1])
    return line


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def report(exc: BaseException, *, debug: bool = False, variant: str | None = None,
           cluster: str | None = None) -> int:
    """Print ``exc`` as one line on stderr and return the exit status it deserves."""
    status = EXIT_USAGE
    if isinstance(exc, MmuspecError):
        message = f"error: {exc}"
    elif isinstance(exc, EnvironmentFailure | MemoryError | BrokenProcessPool):
        status = EXIT_ENVIRONMENT
        message = f"error: {exc}" if isinstance(exc, EnvironmentFailure) else (
            "error: a worker process died (killed, or out of memory)" if isinstance(exc, BrokenProcessPool) else
            "error: out of memory; bound the search with --max-states or --max-depth, "
            "or check smaller sizes (--vcpus, --accesses)")
    elif variant is not None and (line := variant_line(exc, variant)) is not None:
        message = f"error: {InputError(variant, line, _one_line(exc))}"
    elif cluster is not None and isinstance(exc, OSError | TimeoutError):
        message = f"error: --cluster {cluster}: lost the cluster ({_one_line(exc)})"
    else:
        status = EXIT_INTERNAL
        hint = "" if debug else "; run again with --debug for the traceback"
        message = f"internal error: {_one_line(exc)} (a bug in mmuspec{hint})"
    if debug and not isinstance(exc, MmuspecError):
        traceback.print_exception(exc, file=sys.stderr)
    print(f"mmuspec: {message}", file=sys.stderr)
    return status
