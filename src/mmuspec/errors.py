"""The exceptions mmuspec raises on purpose.

Every one of them is turned into a single line on stderr and exit status 2 by the
command line; nothing else should reach the user as a traceback.
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


class ModelError(MmuspecError):
    """The model reached a situation it cannot represent (e.g. the frame pool ran out)."""
