"""kill -9 and Ctrl-C at random moments, then --resume, until the search ends: the figures
are those of the search run in one go, whatever the engine and the number of workers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmuspec.errors import EXIT_INTERRUPTED

ROOT = Path(__file__).resolve().parents[2]
CHECK = [sys.executable, "-m", "mmuspec", "check", "zap", "--vcpus", "3", "--accesses", "3", "--json", "--quiet"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _figures(out: str) -> tuple[object, ...]:
    data = json.loads(out)
    return data["verdict"], data["states"], data["transitions"], data["complete"]


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("engine, workers", [("compiled", "1"), ("compiled", "2"), ("interpreted", "2")])
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_search_killed_and_resumed_again_and_again_ends_with_the_figures_of_one_run(tmp_path, engine, workers, sig):
    argv = [*CHECK, "--engine", engine, "--workers", workers]
    whole = _run(argv, tmp_path)
    assert whole.returncode == 0, whole.stderr
    ck = tmp_path / "s.ck"
    rng = random.Random(f"{engine}{workers}{sig}")
    resumed = ["--checkpoint", str(ck), "--checkpoint-every", "0.1"]
    interruptions = 0
    for _ in range(6):
        proc = subprocess.Popen([*argv, *resumed], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=ENV)
        time.sleep(rng.uniform(0.3, 1.5))
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:  # it finished before the signal
            break
        interruptions += 1
        # Ctrl-C is exit 130 whenever it comes, even while the command exits (ctrl_c.py).
        assert proc.returncode == (-signal.SIGKILL if sig == signal.SIGKILL else EXIT_INTERRUPTED), err
        assert "Traceback" not in err, err
        if ck.exists() and "--resume" not in resumed:
            resumed += ["--resume", str(ck)]
    else:
        done = _run([*argv, *resumed], tmp_path)
        assert done.returncode == 0, done.stderr
        out = done.stdout
    assert interruptions > 0
    assert _figures(out) == _figures(whole.stdout)
    assert not list(tmp_path.glob(".s.ck.*")), "a killed save left its temporary file"
