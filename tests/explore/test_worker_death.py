"""Worker processes die with the search, and a search whose worker dies says so as the
environment's failure (exit 5), keeping its last checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from mmuspec.errors import EXIT_ENVIRONMENT, EnvironmentFailure
from mmuspec.explore.runners import worker_guard

ROOT = Path(__file__).resolve().parents[2]
BIG = [sys.executable, "-m", "mmuspec", "check", "ksm-merge", "--vcpus", "3", "--accesses", "2", "--reduce", "none",
       "--engine", "interpreted", "--workers", "2", "--quiet"]


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except OSError:
        return False


def _start(extra: list[str], cwd: Path) -> tuple[subprocess.Popen[str], list[int]]:
    proc = subprocess.Popen([*BIG, *extra], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        workers = _children(proc.pid)
        if len(workers) >= 2:
            return proc, workers
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the search never started its workers")


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")


@pytest.mark.slow
def test_pool_workers_die_with_their_parent_when_it_is_killed(tmp_path):
    """kill -9 of the command used to leave its workers alive for ever, holding stdout open."""
    proc, workers = _start([], tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers)


@pytest.mark.slow
def test_a_killed_worker_ends_the_search_with_exit_5_and_keeps_the_checkpoint(tmp_path):
    """kill -9 of one worker used to hang the search or end it as a bug in mmuspec."""
    ckpt = tmp_path / "search.ck"
    proc, workers = _start(["--checkpoint", str(ckpt), "--checkpoint-every", "0"], tmp_path)
    deadline = time.monotonic() + 60
    while not ckpt.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_ENVIRONMENT, err
    assert "a worker process died during the search" in err and "--resume continues it" in err
    resumed = subprocess.run([*BIG, "--resume", str(ckpt), "--max-states", "1"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert resumed.returncode == 4, resumed.stderr


class _Saver:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved: list[float] = []

    def save_or_warn(self, state: object, seconds: float) -> bool:
        self.saved.append(seconds)
        return True


class _State:
    seconds = 1.5


def test_a_worker_that_dies_saves_a_last_checkpoint_and_is_the_environments_failure(tmp_path):
    def dying():
        yield "first chunk"
        raise BrokenProcessPool("A process in the process pool was terminated abruptly")

    saver = _Saver(tmp_path / "search.ck")
    guarded = worker_guard(dying(), saver, _State(), time.perf_counter())  # type: ignore[arg-type]
    assert next(guarded) == "first chunk"
    with pytest.raises(EnvironmentFailure, match=r"worker process died.*--resume continues it"):
        next(guarded)
    assert len(saver.saved) == 1 and saver.saved[0] >= 1.5


def test_an_environment_failure_is_exit_5_in_one_line(capsys):
    from mmuspec import failures

    assert failures.report(EnvironmentFailure("a worker process died")) == EXIT_ENVIRONMENT == 5
    assert capsys.readouterr().err == "mmuspec: error: a worker process died\n"
    assert failures.report(BrokenProcessPool("x")) == 5
    assert failures.report(MemoryError()) == 5
