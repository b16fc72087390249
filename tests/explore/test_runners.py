"""Runners that outlive a check (Dask and Ray workers) serve the next one with the right model."""

from __future__ import annotations

import functools
import json
import pickle
import subprocess
import sys
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

import pytest

from mmuspec.checking import Reductions, run_check
from mmuspec.explore import runners
from tests.helpers import spec

ALL = Reductions()
SEQ_ONLY = ("zap", "5.13", "kvm.fault_retry_checks=seq_only")
DEFAULT = ("zap", "5.13")


def _figures(result):
    return result.verdict, result.states, result.transitions


def test_a_reused_dask_worker_gives_the_right_verdict_to_three_checks_in_a_row():
    """The false proof: seq_only, then the default, then seq_only again on one worker; the
    third used to report safe with the second's state count."""
    distributed = pytest.importorskip("dask.distributed")
    expected = {sets: _figures(run_check(spec(*sets), reductions=ALL)[1]) for sets in (SEQ_ONLY, DEFAULT)}
    assert expected[SEQ_ONLY][0] == "violation" and expected[DEFAULT][0] == "safe"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        for sets in (SEQ_ONLY, DEFAULT, SEQ_ONLY):
            _, remote = run_check(spec(*sets), reductions=ALL, cluster=lc.scheduler_address)
            assert _figures(remote) == expected[sets], sets


def test_a_dask_worker_with_two_threads_gives_the_right_verdicts():
    """Two threads of one worker used to expand chunks in the same library at once (a static
    output buffer and a global error in the compiled core): exit 3, or a run that never ended."""
    distributed = pytest.importorskip("dask.distributed")
    expected = {sets: _figures(run_check(spec(*sets), reductions=ALL)[1]) for sets in (SEQ_ONLY, DEFAULT)}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as lc:
        for sets in (SEQ_ONLY, DEFAULT, SEQ_ONLY):
            _, remote = run_check(spec(*sets), reductions=ALL, cluster=lc.scheduler_address)
            assert _figures(remote) == expected[sets], sets


def test_a_runner_cache_key_names_the_search_and_the_factory():
    payload = pickle.dumps(("a factory",))
    base = runners.cache_key("zap/5.13/seq_only", payload, 40, True, True)
    assert base != runners.cache_key("zap/5.13", payload, 40, True, True)
    assert base != runners.cache_key("zap/5.13/seq_only", pickle.dumps(("another",)), 40, True, True)
    assert base != runners.cache_key("zap/5.13/seq_only", payload, 40, True, False)
    assert base == runners.cache_key("zap/5.13/seq_only", payload, 40, True, True)


BUILT: list[str] = []


def _build(name: str) -> str:
    BUILT.append(name)
    return name


def test_a_reused_worker_keeps_a_few_models_and_drops_the_least_recently_used(monkeypatch):
    monkeypatch.setattr(runners, "_CACHED", OrderedDict())
    BUILT.clear()
    for name in ("a", "b", "a", "c", "d", "e", "b", "a"):
        runners._cached_model(name, pickle.dumps(functools.partial(_build, name)), False, False)
    assert BUILT == ["a", "b", "c", "d", "e", "b", "a"] and list(runners._CACHED) == ["d", "e", "b", "a"]


BUILDING: list[str] = []


def _build_slowly(name: str) -> str:
    BUILDING.append(name)
    try:
        assert len(BUILDING) == 1, f"{BUILDING} built at once"
        time.sleep(0.05)
        return name
    finally:
        BUILDING.remove(name)


def test_the_threads_of_a_worker_build_their_models_one_at_a_time(monkeypatch):
    """Two checks sent at once to a worker with two threads built two models at once, and
    CPython 3.11's ast module failed: exit 3, "AST constructor recursion depth mismatch"."""
    monkeypatch.setattr(runners, "_CACHED", OrderedDict())
    names = [f"m{i}" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        built = list(pool.map(lambda n: runners._cached_model(n, pickle.dumps(functools.partial(_build_slowly, n)),
                                                               False, False)[0], names))
    assert built == names


@pytest.mark.slow
def test_two_checks_at_once_on_a_dask_worker_with_two_threads_get_their_own_verdicts(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    base = [sys.executable, "-m", "mmuspec", "check", "zap", "--vcpus", "2", "--accesses", "3", "--json", "--quiet"]
    sides = {"seq_only": [*base, "--set", "kvm.fault_retry_checks=seq_only"], "default": base}
    expected = {k: _json_figures(subprocess.run(v, capture_output=True, text=True, check=False).stdout)
                for k, v in sides.items()}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as lc:
        for _ in range(3):
            procs = {k: subprocess.Popen([*v, "--cluster", lc.scheduler_address], stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True) for k, v in sides.items()}
            for k, proc in procs.items():
                out, err = proc.communicate(timeout=600)
                assert proc.returncode in (0, 1), err
                assert _json_figures(out) == expected[k], k


def _json_figures(out: str) -> tuple[object, ...]:
    data = json.loads(out)
    return data["verdict"], data["states"], data["transitions"]
