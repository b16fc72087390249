"""The command line's argument parser: errors in one line, with "did you mean".

argparse prints the whole usage block before an error and lists every choice; a
user who mistyped an era or a subcommand needs one line that names the mistake and
the closest names, and the place to read more.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from mmuspec.errors import EXIT_USAGE
from mmuspec.suggest import did_you_mean


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        choices = action.choices
        if choices is not None and value not in choices:
            names = [str(c) for c in choices]
            hint = did_you_mean(str(value), names)
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{hint} (choose from {', '.join(names)})")

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"mmuspec: error: {message} (see '{self.prog} --help')\n")
        sys.exit(EXIT_USAGE)


def add_everywhere(parser: argparse.ArgumentParser, *flags: str, **kwargs: Any) -> None:
    """Add an option to ``parser`` and to every subcommand below it, so that it may be
    given before or after the subcommand (``mmuspec --debug check`` and
    ``mmuspec check ... --debug``).  Subcommands do not reset what the top level set."""
    parser.add_argument(*flags, **kwargs)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                add_everywhere(sub, *flags, **{**kwargs, "default": argparse.SUPPRESS})
