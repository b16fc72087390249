"""``--max-memory``: a search that stops cleanly before the process outgrows a size.

A search that runs out of memory ends as the environment's failure (exit 5), or worse,
the kernel's OOM killer ends it with nothing said.  With a bound the search instead
stops between chunks, like a state bound, with the figures reached (exit 4) and, when it
writes checkpoints, a final one that ``--resume`` continues with more memory.

What is compared with the bound is the process's resident memory now plus what the next
step may add at once: the tables grow by doubling (a visited table of N bytes needs 2N
more while it is rehashed), so waiting until the resident memory itself passes the bound
would pass it by up to twice the table.  2% of the bound (at least 8 MiB) is kept for
what one chunk allocates on the way.  Worker processes are not counted: they hold the
model, and the tables are in this process.
"""

from __future__ import annotations

import os
import resource


def statm() -> tuple[int, int] | None:
    """This process's resident memory and the part of it shared with other processes
    (libraries, Ray's object store), in bytes; None where /proc/self/statm is missing."""
    try:
        with open("/proc/self/statm", "rb") as f:
            resident, shared = (int(x) for x in f.read().split()[1:3])
    except (OSError, ValueError):
        return None
    page = os.sysconf("SC_PAGE_SIZE")
    return resident * page, shared * page


def resident_bytes() -> int:
    """This process's resident memory now (Linux: /proc/self/statm), else its peak."""
    now = statm()
    return now[0] if now is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def size_text(size: float) -> str:
    """Bytes as the --max-memory argument writes them: 512 MiB, 1.5 GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size / 1024:.3g} KiB"


# What to do about a search that stopped at --max-memory with no checkpoint to resume.
UNBOUNDED_HINT = "a larger --max-memory, --max-states or --max-depth, or smaller sizes"


class MemoryBound:
    def __init__(self, limit: int, hint: str = UNBOUNDED_HINT) -> None:
        self.limit = limit
        self.hint = hint
        # For what one chunk allocates on the way (its expansion, numpy's temporaries, the
        # allocator's slack), which no table's growth accounts for.
        self.reserve = max(8 << 20, limit // 50)

    def reached(self, growth: int = 0) -> str:
        """The stop reason once the resident memory plus ``growth`` (what the next step may
        add at once) passes the bound, else ''."""
        resident = resident_bytes()
        if resident + growth + self.reserve <= self.limit:
            return ""
        more = f", and the next growth of the tables needs {size_text(growth)} more" if growth else ""
        return f"memory bound {size_text(self.limit)} reached ({size_text(resident)} resident{more}); {self.hint}"


def doubling(used: int, capacity: int, incoming: int, load: float, growth: int) -> int:
    """``growth``, what a table that doubles past ``load`` adds at once as it grows, if
    ``incoming`` more entries may arrive before the next look; else 0."""
    return growth if used + incoming > load * capacity else 0
