"""The exceptions mmuspec raises on purpose.

Every one of them is turned into a single line on stderr and exit status 2 by the
command line.  Anything else is a bug in mmuspec: one line and exit status 3, and
the traceback only with ``mmuspec --debug``.  The exit statuses are defined here.
"""

from __future__ import annotations


class MmuspecError(Exception):
    """Base of every error that is the user's input rather than a bug in mmuspec."""


class UsageError(MmuspecError):
    """A bad option, switch, era or value on the command line."""


class InputError(MmuspecError):
    """A problem in a file the user gave us, located by file and line."""

    def __init__(self, path: str, line: int | None, problem: str) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[type[InputError], tuple[str, int | None, str]]:
        # A worker process's error reaches the parent whole (path, line and problem).
        return (InputError, (self.path, self.line, self.problem))


class ModelError(MmuspecError):
    """The model reached a situation it cannot represent (e.g. the frame pool ran out)."""


class EnvironmentFailure(Exception):
    """The machine failed the run, not the input nor mmuspec: a worker process was killed,
    memory ran out.  One line and exit status 5; the figures reached and any checkpoint
    are kept."""


# Exit statuses of the command line.  1 is kept for "the search found something", so
# that a script can tell a finding from a failure of the tool.
EXIT_SAFE = 0  # every property holds and no WARN fired, in an exhaustive search
EXIT_FOUND = 1  # a property was violated or a WARN fired
EXIT_USAGE = 2  # bad usage or input, or an unreachable cluster
EXIT_INTERNAL = 3  # a bug in mmuspec
EXIT_BOUNDED = 4  # nothing found, but the search was bounded, random or stopped: not a proof
EXIT_ENVIRONMENT = 5  # the environment failed: a worker was killed, memory ran out
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)
EXIT_BROKEN_PIPE = 141  # the reader of stdout went away (128 + SIGPIPE): the verdict was not all read
