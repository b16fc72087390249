"""Worker processes that die with the process that started them.

A worker of a search or a sweep that outlives its parent (kill -9 of the command) would
go on for ever, holding stdout open so that ``mmuspec ... | tee`` never ends.  On Linux
the kernel sends a worker a signal when its parent dies (``prctl(PR_SET_PDEATHSIG)``);
elsewhere the worker has no such guarantee, which is said nowhere because nothing can be
done about it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent exits; True if it will.
    A parent that died before the request leaves the worker orphaned already: it exits."""
    if not sys.platform.startswith("linux"):
        return False
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
            return False
    except (OSError, AttributeError):
        return False
    if os.getppid() != parent or parent == 1:
        os._exit(1)
    return True
