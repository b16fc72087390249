"""The compiled core's "out of memory" ends the check at once with the figures reached and a
hint; the interpreter, which would run out too after minutes, is not tried."""

from __future__ import annotations

import pytest

from mmuspec import checking
from mmuspec.errors import EnvironmentFailure
from mmuspec.explore import Progress
from mmuspec.native.search import NativeError
from tests.helpers import run_cli, spec


def _out_of_memory(native, *, progress=None, **_options):
    if progress is not None:
        progress(Progress(1_234_567, 4_000_000, 31, 99, 12.5))
    raise NativeError("out of memory")


def _never(*_args, **_kwargs):
    raise AssertionError("the interpreter ran the search again")


def test_the_compiled_core_out_of_memory_is_said_at_once_with_the_figures_reached(monkeypatch):
    monkeypatch.setattr(checking, "native_bfs", _out_of_memory)
    monkeypatch.setattr(checking, "bfs", _never)
    with pytest.raises(EnvironmentFailure) as info:
        checking.run_check(spec("zap", "5.13"), engine="compiled")
    message = str(info.value)
    assert "ran out of memory after 1,234,567 states, 4,000,000 transitions, depth 31, 12.5 s" in message
    assert "--max-states" in message


def test_out_of_memory_is_exit_5_in_one_line(monkeypatch, capsys):
    monkeypatch.setattr(checking, "native_bfs", _out_of_memory)
    monkeypatch.setattr(checking, "bfs", _never)
    status, out, err = run_cli(capsys, "check", "zap", "--quiet")
    assert status == 5 and out == ""
    assert len(err.strip().splitlines()) == 1 and "the compiled core ran out of memory" in err


def test_another_failure_of_the_compiled_core_still_leaves_it_to_the_interpreter(monkeypatch):
    def failing(native, **_options):
        raise NativeError("a step did what Python refuses")

    monkeypatch.setattr(checking, "native_bfs", failing)
    _, result = checking.run_check(spec("zap", "5.13", "kvm.fault_retry_checks=seq_only"))
    assert result.engine == "interpreted" and result.verdict == "violation"
