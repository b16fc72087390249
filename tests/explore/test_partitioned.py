"""A search partitioned by hash across Dask actors finds the serial search's states,
transitions, depth and witness lengths, and each actor holds its share of the states."""

import functools

from mmuspec.checking import Reductions, build_kernel, run_check
from mmuspec.explore.partitioned import partitioned_bfs
from mmuspec.native.search import NativeKernel, build_native_kernel, load, native_bfs
from tests.helpers import outcome, spec

SEQ_ONLY = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=2, accesses=2)


def lengths(result):
    return {event: len(w.actions) for event, w in result.witnesses.items()}


def test_three_partitions_find_the_serial_counts_and_each_holds_a_third_of_the_states():
    kernel = build_kernel(SEQ_ONLY, Reductions())
    native = load(kernel)
    serial = native_bfs(native, symmetry=True, por=True)
    factory = functools.partial(build_native_kernel, functools.partial(build_kernel, SEQ_ONLY, Reductions()),
                                native.built.path.read_bytes())
    result, parts = partitioned_bfs(NativeKernel(kernel, native), factory, partitions=3, symmetry=True, por=True)
    assert (result.states, result.transitions, result.depth, result.complete) == (13542, 34016, 39, True)
    assert (serial.states, serial.transitions, serial.depth) == (13542, 34016, 39)
    assert lengths(result) == lengths(serial)
    assert sum(p["states"] for p in parts) == 13542
    assert len({p["pid"] for p in parts}) == 3
    assert all(0.25 < p["states"] / 13542 < 0.42 for p in parts)
    assert all(p["sent_bytes"] > 0 for p in parts)  # successors did travel between processes


def test_the_command_runs_a_partitioned_search_with_the_serial_verdict():
    _, serial = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled")
    _, parted = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled", partitions=2)
    assert parted.engine == "compiled"
    assert outcome(parted) == outcome(serial)
    assert (parted.states, parted.transitions, parted.depth) == (serial.states, serial.transitions, serial.depth)
    assert lengths(parted) == lengths(serial)
