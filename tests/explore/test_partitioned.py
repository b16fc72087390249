"""A search partitioned by hash across Dask actors finds the serial search's states,
transitions, depth and witness lengths, and each actor holds its share of the states.
``test_partitioned_ray`` runs the same checks on Ray actors."""

import functools
import os
import signal
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from mmuspec.checking import Reductions, build_kernel, run_check
from mmuspec.errors import EnvironmentFailure
from mmuspec.explore.partitioned import partitioned_bfs
from mmuspec.model import load_variant
from mmuspec.native.search import NativeKernel, build_native_kernel, load, native_bfs
from tests.helpers import outcome, spec

SEQ_ONLY = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=2, accesses=2)


def lengths(result):
    return {event: len(w.actions) for event, w in result.witnesses.items()}


def partitioned(count, address=None, the_spec=SEQ_ONLY, progress=None):
    """``the_spec`` searched on ``count`` partitions (at ``address``) with the compiled core."""
    kernel = build_kernel(the_spec, Reductions())
    native = load(kernel)
    factory = functools.partial(build_native_kernel, functools.partial(build_kernel, the_spec, Reductions()),
                                native.built.path.read_bytes())
    return partitioned_bfs(NativeKernel(kernel, native), factory, partitions=count, address=address, symmetry=True,
                           por=True, progress=progress)


def a_partition_killed_at_level_3_ends_the_search_as_the_environments_failure(address, is_partition):
    """Kill the partitions' processes (the descendants of this one that ``is_partition``
    picks by their command lines) when the driver reports level 3."""
    def progress(reached):
        if reached.depth == 3:
            for pid in descendants(os.getpid()):
                if is_partition(command_line(pid)):
                    os.kill(pid, signal.SIGKILL)

    with pytest.raises(EnvironmentFailure, match="a partition's process died during the search"):
        partitioned(2, address, progress=progress)


def descendants(pid):
    """The processes below ``pid``, children first."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(0), []):
            found.append(c)
            todo.append(c)
    return found


def command_line(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def three_partitions_hold_a_third_each(address=None):
    """On 3 partitions (at ``address``): the serial counts, pinned, and a third of the states each."""
    serial = native_bfs(load(build_kernel(SEQ_ONLY, Reductions())), symmetry=True, por=True)
    result, parts = partitioned(3, address)
    assert (result.states, result.transitions, result.depth, result.complete) == (13542, 34016, 39, True)
    assert (serial.states, serial.transitions, serial.depth) == (13542, 34016, 39)
    assert lengths(result) == lengths(serial)
    assert sum(p["states"] for p in parts) == 13542
    assert len({p["pid"] for p in parts}) == 3
    assert all(0.25 < p["states"] / 13542 < 0.42 for p in parts)
    assert all(p["sent_bytes"] > 0 for p in parts)  # successors did travel between processes
    return parts


def the_command_gives_the_serial_verdict(cluster=None):
    _, serial = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled")
    _, parted = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled", partitions=2, cluster=cluster)
    assert parted.engine == "compiled"
    assert outcome(parted) == outcome(serial)
    assert (parted.states, parted.transitions, parted.depth) == (serial.states, serial.transitions, serial.depth)
    assert lengths(parted) == lengths(serial)


def a_variant_gives_the_serial_counts_and_witness_lengths(cluster=None):
    the_spec = replace(spec("zap", "5.13", vcpus=2, accesses=1),
                       variant=load_variant("examples/variants/trust_the_sequence.py"))
    _, serial = run_check(the_spec, reductions=Reductions(), engine="compiled")
    _, parted = run_check(the_spec, reductions=Reductions(), engine="compiled", partitions=2, cluster=cluster)
    assert outcome(parted) == outcome(serial) and serial.verdict == "violation"
    assert (parted.states, parted.transitions, parted.depth) == (serial.states, serial.transitions, serial.depth)
    assert lengths(parted) == lengths(serial)


def test_three_partitions_find_the_serial_counts_and_each_holds_a_third_of_the_states():
    three_partitions_hold_a_third_each()


def test_the_command_runs_a_partitioned_search_with_the_serial_verdict():
    the_command_gives_the_serial_verdict()


def test_a_variant_searched_on_two_partitions_gives_the_serial_counts_and_witness_lengths():
    a_variant_gives_the_serial_counts_and_witness_lengths()


@pytest.mark.slow
def test_a_dask_partition_killed_during_the_search_ends_it_as_the_environments_failure():
    a_partition_killed_at_level_3_ends_the_search_as_the_environments_failure(
        None, lambda command: "multiprocessing.spawn" in command)
