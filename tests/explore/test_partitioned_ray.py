"""The partitioned search on Ray actors: the serial search's counts, depth and witness
lengths, a third of the states on each of 3 actors, and no process left behind.  The tests
share one local Ray (its start takes seconds); without ray they skip, except the one that
checks what the command says when ray is missing."""

import os
import signal
import subprocess
import sys
import time
from importlib.util import find_spec
from pathlib import Path

import pytest

from mmuspec.errors import UsageError
from tests.explore.test_partitioned import (
    a_partition_killed_at_level_3_ends_the_search_as_the_environments_failure,
    a_variant_gives_the_serial_counts_and_witness_lengths,
    command_line,
    descendants,
    partitioned,
    the_command_gives_the_serial_verdict,
    three_partitions_hold_a_third_each,
)
from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
needs_ray = pytest.mark.skipif(find_spec("ray") is None, reason="ray is not installed: pip install 'mmuspec[ray]'")


@pytest.fixture(scope="module")
def local_ray():
    from mmuspec.explore.cluster import ray_session

    with ray_session("ray:local", cpus=3) as ray:
        yield ray


def gone(pids, seconds=20.0):
    """Whether every process in ``pids`` has exited within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = [p for p in pids if os.path.exists(f"/proc/{p}") and "Z" not in _state(p)]
        if not alive:
            return True
        time.sleep(0.2)
    return False


def _state(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


# First in the file: no Ray session of this module runs yet while ray is hidden.
def test_a_ray_address_without_ray_installed_exits_2_in_one_line_before_any_search(capsys, monkeypatch):
    def search(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr("mmuspec.cli.run_check", search)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as where it is not installed
    for address in ("ray:local", "ray://127.0.0.1:10001"):
        status, out, err = run_cli(capsys, "check", "zap", "--partitions", "2", "--cluster", address, "--quiet")
        assert (status, out) == (2, "")
        assert err == f"mmuspec: error: --cluster {address} needs ray: pip install 'mmuspec[ray]'\n"


@needs_ray
def test_three_ray_actors_find_the_serial_counts_each_hold_a_third_and_are_gone_afterwards(local_ray):
    parts = three_partitions_hold_a_third_each("ray:local")
    assert os.getpid() not in {p["pid"] for p in parts}
    assert gone([p["pid"] for p in parts])
    assert local_ray.is_initialized()  # the session the search found is kept for the next one


@needs_ray
def test_the_command_runs_a_partitioned_search_on_ray_with_the_serial_verdict(local_ray):
    the_command_gives_the_serial_verdict("ray:local")


@needs_ray
def test_a_variant_on_two_ray_actors_gives_the_serial_counts_and_witness_lengths(local_ray):
    a_variant_gives_the_serial_counts_and_witness_lengths("ray:local")


@needs_ray
def test_a_local_ray_is_bounded_to_the_cpus_asked_for_and_200_mb_of_object_store(local_ray):
    from mmuspec.explore.cluster import RAY_LOCAL_OBJECTS

    resources = local_ray.cluster_resources()
    assert resources["CPU"] == 3
    assert RAY_LOCAL_OBJECTS == 200 << 20
    assert abs(resources["object_store_memory"] - RAY_LOCAL_OBJECTS) < 2 << 20


@needs_ray
def test_a_ray_cluster_with_fewer_cpus_than_partitions_is_refused_rather_than_left_waiting(local_ray):
    with pytest.raises(UsageError, match="has 3 CPUs, and each partition takes one"):
        partitioned(4, "ray:local")


@needs_ray
def test_a_partition_killed_during_the_search_ends_it_as_the_environments_failure(local_ray):
    a_partition_killed_at_level_3_ends_the_search_as_the_environments_failure(
        "ray:local", lambda command: command.startswith("ray::RayPartition"))


@needs_ray
@pytest.mark.slow
@pytest.mark.parametrize("interrupt", [False, True])
def test_the_command_leaves_no_ray_process_behind_after_its_search_or_a_ctrl_c(interrupt):
    argv = [sys.executable, "-m", "mmuspec", "check", "ksm-merge", "--era", "5.13", "--vcpus", "3",
            "--accesses", "6" if interrupt else "2", "--partitions", "2", "--cluster", "ray:local", "--quiet"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    started: set[int] = set()
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        started |= set(descendants(proc.pid))
        if interrupt and any("RayPartition" in command_line(p) for p in started):
            time.sleep(2)  # inside the search
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.2)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == (130 if interrupt else 0), err
    assert len(started) >= 4  # the Ray processes did run: its servers and the 2 actors at least
    assert gone(started), [command_line(p) for p in started if os.path.exists(f"/proc/{p}")]
