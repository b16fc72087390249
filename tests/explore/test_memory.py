"""--max-memory: the search stops cleanly, with the figures reached (exit 4), before this
process's resident memory plus the next growth of its tables passes the bound; with
--checkpoint the final checkpoint resumes to the whole search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mmuspec.explore import bfs, memory
from mmuspec.explore.bfs import GrowArray, SearchState, _growth
from mmuspec.explore.memory import MemoryBound, doubling, resident_bytes, size_text
from mmuspec.explore.store import FingerprintSet
from tests.explore.test_interrupt import Grid
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
BIG = ["check", "kvm-and-device", "--era", "5.13", "--vcpus", "3", "--accesses", "4", "--reduce", "none",
       "--json"]


def _growing(monkeypatch, per_call: int) -> None:
    """A resident memory that grows by ``per_call`` bytes at every look, from 100 MiB."""
    calls = iter(range(10**9))
    monkeypatch.setattr(memory, "resident_bytes", lambda: (100 << 20) + per_call * next(calls))


def test_out_of_memory_max_memory_stops_the_search_with_the_figures_reached(monkeypatch):
    _growing(monkeypatch, 1 << 20)
    result = bfs(Grid(), max_memory=200 << 20, chunk=64)
    assert not result.complete and not result.interrupted
    assert result.stop_reason.startswith("memory bound 200 MiB reached (")
    assert "a larger --max-memory" in result.stop_reason
    assert 0 < result.states < 65536 and result.reachable("corner") is None


def test_out_of_memory_max_memory_leaves_a_checkpoint_that_resumes_to_the_whole_search(monkeypatch, tmp_path):
    path = str(tmp_path / "grid.ck")
    _growing(monkeypatch, 1 << 20)
    stopped = bfs(Grid(), max_memory=200 << 20, chunk=64, checkpoint=path, checkpoint_every=3600.0)
    assert not stopped.complete and f"{path} holds the search so far (--resume continues it" in stopped.stop_reason
    monkeypatch.setattr(memory, "resident_bytes", lambda: 100 << 20)
    resumed = bfs(Grid(), resume=path, max_memory=200 << 20, chunk=64)
    assert resumed.complete and resumed.states == 65536 and resumed.reachable("corner")


def test_a_bound_counts_the_next_doubling_of_the_table_before_it_happens():
    store = FingerprintSet(1 << 10)
    store.add_batch(np.arange(1, 700, dtype=np.uint64))  # 699 of 1,024 slots, under 70%
    assert doubling(store.count, len(store.table), 1, 0.7, store.growth_bytes()) == 0
    assert doubling(store.count, len(store.table), 100, 0.7, store.growth_bytes()) == 10 * 8 * 1024
    bound = MemoryBound(resident_bytes() + (64 << 20), "hint")
    assert bound.reached() == "" and bound.reached(growth=128 << 20).endswith(
        "and the next growth of the tables needs 128 MiB more); hint")


def test_the_growth_of_a_search_counts_its_parent_links_and_its_table():
    store = FingerprintSet(64)
    st = SearchState(2, store, GrowArray(np.uint32, 0), GrowArray(np.uint16, 0), [b"\0\0"], 0)
    assert _growth(st, 10) == 0
    assert _growth(st, 100) == 10 * 64 * 8 + (64 * 4 + 64 * 2) * 3 // 2


def test_sizes_are_said_as_they_are_given():
    assert size_text(300 << 20) == "300 MiB" and size_text(1536 << 20) == "1.5 GiB"


@pytest.mark.parametrize("argv, message", [
    (["--max-memory", "10"], "at least 1M"),
    (["--max-memory", "lots"], "is not a size"),
    (["--max-memory", "1G", "--partitions", "2"], "--max-memory"),
    (["--max-memory", "1G", "--random", "5"], "--max-memory"),
])
def test_max_memory_that_cannot_apply_is_bad_usage(capsys, argv, message):
    status, out, err = run_cli(capsys, "check", "zap", *argv)
    assert status == 2 and out == "" and message in err


# Runs the command and writes its peak resident memory (its own children's maximum) to argv[1].
MEASURED = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[2:]); "
            "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)); "
            "sys.exit(done.returncode)")


@pytest.mark.parametrize("engine", [
    "compiled",
    pytest.param("interpreted", marks=pytest.mark.slow),
])
def test_out_of_memory_max_memory_keeps_the_peak_under_the_bound(tmp_path, engine):
    bound = 300 << 20
    peak = tmp_path / "peak"
    done = subprocess.run([sys.executable, "-c", MEASURED, str(peak), sys.executable, "-m", "mmuspec", *BIG,
                           "--engine", engine, "--max-memory", "300M"], env=ENV, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 4, done.stderr
    report = json.loads(done.stdout)
    assert report["complete"] is False and report["stop_reason"].startswith("memory bound 300 MiB reached")
    assert report["states"] > 1_000_000  # more than a third of what the bound allows
    assert 0 < int(peak.read_text()) <= bound
