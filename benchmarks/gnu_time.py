"""One fresh ``python -m mmuspec ...`` process under GNU time, as the trace and simulator
benchmarks time it: wall time from its start, its peak RSS (``%M``) and its user + system
CPU (on a shared machine the wall time is mostly waiting for a core).  ``check_speed.py``
has its own runner: it also bounds each run in time and weighs its scheduling group."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Timed:
    proc: subprocess.CompletedProcess[str]
    wall: float
    rss_mb: float
    cpu_seconds: float


def run_timed(args: Sequence[str], check: bool = False) -> Timed:
    """``mmuspec ARGS`` from this checkout; ``check`` raises on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "MAXRSS_KB=%M CPU_S=%U+%S", sys.executable, "-m", "mmuspec", *args],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          check=check)
    wall = time.perf_counter() - start
    found = re.search(r"MAXRSS_KB=(\d+) CPU_S=([\d.]+)\+([\d.]+)", proc.stderr)
    assert found is not None, proc.stderr
    return Timed(proc, wall, int(found.group(1)) / 1024, float(found.group(2)) + float(found.group(3)))
