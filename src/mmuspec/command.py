"""The ``mmuspec`` command's entry point.

Importing the command line takes a noticeable part of a second (numpy, the model); a
Ctrl-C in that time is an interrupted run like any other, exit 130 in one line, not a
Python traceback.  The command owns SIGINT from here to its very end (``ctrl_c``).
"""

from __future__ import annotations

import sys

from mmuspec import ctrl_c
from mmuspec.errors import EXIT_INTERRUPTED


def run() -> int:
    ctrl_c.take_over()
    status = EXIT_INTERRUPTED
    try:
        from mmuspec.cli import main

        if ctrl_c.started():  # Ctrl-C during the imports
            ctrl_c.say()
        else:
            status = main()
    except KeyboardInterrupt:  # before main's own handler (reading the arguments)
        ctrl_c.say()
    except SystemExit as exc:  # --help, --version and argparse's usage errors
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)
    return ctrl_c.ended(status)
