"""Ctrl-C at any moment of a command's life, as a terminal sends it (SIGINT to the whole
process group), once or twice in quick succession: exit status 130, at most one line on
stderr and no traceback, no command that never ends, and no process of the group left.

Before ``ctrl_c``, about one such run in two of an interpreted ``check --workers 2`` died
of the signal with no message (a second Ctrl-C after Python began to exit), hung for ever
in ``concurrent.futures``' shutdown, or exited 1 with numpy's ImportError (a Ctrl-C
during its import)."""

from __future__ import annotations

import functools
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmuspec.errors import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
MMUSPEC = [sys.executable, "-m", "mmuspec"]
ZAP = ["check", "zap", "--vcpus", "3", "--accesses", "3", "--quiet", "--json"]


def _group_left(group: int) -> list[str]:
    """The live (not zombie) processes still in process group ``group``."""
    left = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                left.append(entry.name)
    return left


@functools.cache
def _startup_cpu() -> float:
    """CPU seconds Python takes to reach the command's first line (``ctrl_c.take_over``).
    Before that a Ctrl-C is the interpreter's (at first SIGINT's default action, then a
    traceback), whatever the command does; on a loaded machine it takes seconds of wall
    time, so the test waits for CPU time, which load does not stretch."""
    proc = subprocess.Popen([sys.executable, "-c", "import mmuspec.command"], env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0
    return usage.ru_utime + usage.ru_stime


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def interrupt(argv: list[str], cwd: Path, first: float, second: float | None) -> tuple[int, str]:
    """Run the command, send Ctrl-C ``first`` seconds after its first line and again ``second`` seconds later;
    its exit status and stderr, once no process of its group is left."""
    proc = subprocess.Popen([*MMUSPEC, *argv], cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        while _cpu(proc.pid) < 2 * _startup_cpu() and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(first)
        os.killpg(proc.pid, signal.SIGINT)
        if second is not None:
            time.sleep(second)
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        err = "the command never ended"
    except ProcessLookupError:  # it ended before the second Ctrl-C
        _, err = proc.communicate(timeout=120)
    finally:
        deadline = time.monotonic() + 10
        while _group_left(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _group_left(proc.pid)
        for pid in left:  # a failed run leaves nothing behind
            os.kill(int(pid), signal.SIGKILL)
        proc.kill()
        proc.wait()
    assert not left, f"processes left after the command: {left}; {err}"
    return proc.returncode, err


def assert_interrupted_cleanly(status: int, err: str, finished_ok: tuple[int, ...] = (0,)) -> bool:
    """130 and at most one line (the report says it was interrupted); or the run ended before
    the Ctrl-C.  True if it was interrupted."""
    assert "Traceback" not in err and "Exception ignored" not in err, err
    if status in finished_ok:
        return False
    assert status == EXIT_INTERRUPTED, f"exit status {status}: {err}"
    assert err.count("\n") <= 1, err
    assert not err or err.startswith("mmuspec: interrupted (Ctrl-C)"), err
    return True


def ctrl_c_again_and_again(argv: list[str], cwd: Path, runs: int, seed: str, earliest: float = 0.0,
                           latest: float = 1.5, finished_ok: tuple[int, ...] = (0,)) -> int:
    """``runs`` runs, each interrupted at a random moment, every other one twice; how many
    were interrupted (the others ended first)."""
    rng = random.Random(seed)
    interrupted = 0
    for i in range(runs):
        second = rng.uniform(0.0, 0.3) if i % 2 else None
        status, err = interrupt(argv, cwd, rng.uniform(earliest, latest), second)
        interrupted += assert_interrupted_cleanly(status, err, finished_ok)
    return interrupted


def test_ctrl_c_exit_status_flake_an_interpreted_check_with_two_workers_exits_130_every_time(tmp_path):
    runs = ctrl_c_again_and_again([*ZAP, "--engine", "interpreted", "--workers", "2"], tmp_path, 8, "short")
    assert runs == 8


@pytest.mark.slow
@pytest.mark.parametrize("engine", [
    ["--engine", "interpreted", "--workers", "2"],
    ["--engine", "interpreted", "--workers", "2", "--checkpoint", "s.ck", "--checkpoint-every", "0.1"],
    ["--engine", "compiled"],
    ["--engine", "compiled", "--workers", "2"],
    ["--threads", "2"],
], ids=["interpreted-2-workers", "with-checkpoints", "compiled", "compiled-2-workers", "threads"])
def test_ctrl_c_exit_status_flake_every_engine_exits_130_forty_times_in_forty(tmp_path, engine):
    big = ["--vcpus", "4", "--accesses", "3"] if "interpreted" not in engine else []
    interrupted = ctrl_c_again_and_again([*ZAP, *engine, *big], tmp_path, 40, " ".join(engine))
    assert interrupted >= 30


@pytest.mark.slow
def test_ctrl_c_exit_status_flake_a_partitioned_search_on_dask_exits_130_and_leaves_no_worker(tmp_path):
    pytest.importorskip("dask.distributed")
    interrupted = ctrl_c_again_and_again([*ZAP, "--partitions", "2"], tmp_path, 12, "dask", 0.5, 6.0)
    assert interrupted >= 6


@pytest.mark.slow
def test_ctrl_c_exit_status_flake_simulate_exits_130_and_leaves_nothing_half_written(tmp_path):
    interrupted = ctrl_c_again_and_again(["simulate", "vdi", "--out", "out", "--quiet"], tmp_path, 12, "simulate",
                                         0.3, 4.0)
    assert interrupted == 12
    assert not list(tmp_path.iterdir()), list(tmp_path.iterdir())


@pytest.mark.slow
def test_ctrl_c_exit_status_flake_trace_stats_with_plots_exits_130(tmp_path):
    lines = (ROOT / "tests/traces/data/amd_ftrace.txt").read_text().splitlines(keepends=True)
    stamp = re.compile(r" (\d+\.\d{6}): ")
    trace = tmp_path / "long.txt"
    with trace.open("w") as out:
        out.writelines(lines)
        for repeat in range(1, 4000):  # the same events again and again, two seconds later each time
            out.writelines(stamp.sub(lambda m: f" {float(m[1]) + 2.0 * repeat:.6f}: ", line)  # noqa: B023
                           for line in lines if not line.startswith("#"))
    interrupted = ctrl_c_again_and_again(["trace", "stats", str(trace), "--plots", "plots"], tmp_path, 12,
                                         "trace", 0.3, 3.0)
    assert interrupted >= 6
    assert not (tmp_path / "plots").exists() or any((tmp_path / "plots").iterdir())


NESTED = """
import ctypes, sys
import mmuspec.cli

def main():
    # What a library's Python code run through PyRun_* does when Ctrl-C lands in it: the
    # KeyboardInterrupt ends that code, and CPython remembers it for the end of the process.
    ctypes.pythonapi.PyRun_SimpleString(b"raise KeyboardInterrupt")
    return int(sys.argv[1])

mmuspec.cli.main = main
from mmuspec.command import run
sys.exit(run())
"""


@pytest.mark.parametrize("status", [0, 1, EXIT_INTERRUPTED])
def test_ctrl_c_exit_status_flake_python_dash_m_keeps_the_status_after_an_interrupt_in_nested_code(tmp_path, status):
    (tmp_path / "nested.py").write_text(NESTED)
    done = subprocess.run([sys.executable, "-m", "nested", str(status)], cwd=tmp_path, env=ENV, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == status, done.stderr  # not death by SIGINT (-2), which python -m chooses otherwise
