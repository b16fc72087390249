"""The ``mmuspec`` command's entry point.

Importing the command line takes a noticeable part of a second (numpy, the model); a
Ctrl-C in that time is an interrupted run like any other, exit 130 in one line, not a
Python traceback.
"""

from __future__ import annotations

import sys


def run() -> int:
    try:
        from mmuspec.cli import main
    except KeyboardInterrupt:
        print("mmuspec: interrupted (Ctrl-C)", file=sys.stderr)
        return 130  # EXIT_INTERRUPTED, without importing anything more
    try:
        return main()
    except KeyboardInterrupt:  # before main's own handler (reading the arguments)
        print("mmuspec: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
