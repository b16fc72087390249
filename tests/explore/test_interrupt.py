"""Ctrl-C stops a search at a consistent point: it reports what it reached, saves a
checkpoint that resumes, and a second Ctrl-C still interrupts at once."""

import os
import signal

import pytest

from mmuspec.explore import bfs
from mmuspec.explore import swarm as swarm_module
from mmuspec.explore.interrupt import stop_on_interrupt
from tests.explore.toys import Ev, LostUpdate


class Grid:
    """Two counters that each step may raise, up to 255: 65,536 states over 511 levels."""

    events = (Ev("corner", "observation"),)

    def initial(self) -> bytes:
        return bytes(2)

    def successors(self, s: bytes) -> list[tuple[int, bytes, int]]:
        out = []
        for i in (0, 1):
            if s[i] < 255:
                m = bytearray(s)
                m[i] += 1
                out.append((i, bytes(m), 1 if bytes(m) == b"\xff\xff" else 0))
        return out


def ctrl_c_once():
    sent = []

    def progress(_):
        if not sent:
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)

    return progress


def test_ctrl_c_stops_a_search_between_chunks_with_the_figures_so_far(tmp_path):
    result = bfs(Grid(), progress=ctrl_c_once(), progress_every=0.0)
    assert result.interrupted and not result.complete
    assert result.stop_reason == "interrupted (Ctrl-C)"
    assert 0 < result.states < 65536 and result.reachable("corner") is None


def test_the_checkpoint_written_at_ctrl_c_resumes_to_the_whole_search(tmp_path):
    path = str(tmp_path / "grid.ckpt")
    stopped = bfs(Grid(), progress=ctrl_c_once(), progress_every=0.0, checkpoint=path, checkpoint_every=3600.0)
    assert stopped.interrupted and os.path.exists(path)
    resumed = bfs(Grid(), resume=path)
    assert resumed.complete and not resumed.interrupted
    assert resumed.states == 65536 and resumed.reachable("corner")


def test_a_second_ctrl_c_interrupts_at_once():
    with pytest.raises(KeyboardInterrupt), stop_on_interrupt() as pressed:
        os.kill(os.getpid(), signal.SIGINT)
        assert pressed()
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_stops_random_walks_and_says_how_many_ran(monkeypatch):
    real = swarm_module._batch
    calls = []

    def batch(*args):
        if not calls:
            os.kill(os.getpid(), signal.SIGINT)
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(swarm_module, "_batch", batch)
    result = swarm_module.swarm(LostUpdate, walks=256, seed=1, max_depth=10, workers=1)
    assert result.interrupted and len(calls) == 1
    assert result.stop_reason.startswith("interrupted (Ctrl-C) after 64 of 256 random walks")
