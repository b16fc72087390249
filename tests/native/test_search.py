"""The compiled core holds no configuration or call in globals: many configurations live in
one process, many threads expand in one library at once, and the threaded search is the
serial search, state for state."""

import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmuspec.checking import Reductions, build_kernel, run_check
from mmuspec.explore import collision_probability
from mmuspec.model.scenario import builtin_names
from mmuspec.native.search import NativeKernel, load, native_bfs
from mmuspec.rediscover import load_corpus
from tests.helpers import spec
from tests.native.test_exactness import GENERAL, configurations

SEQ_ONLY = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=2, accesses=2)
FIXED = spec("zap", "5.13", vcpus=2, accesses=2)


ALL = Reductions()


def searched(the_spec, reductions=ALL, **options):
    native = load(build_kernel(the_spec, reductions))
    return native_bfs(native, symmetry=reductions.quotient, por=reductions.por, **options)


def figures(result):
    """Everything a search reports: counts, depth, how it ended, and every first witness."""
    return (result.states, result.transitions, result.depth, result.complete, result.stop_reason,
            {event: w.actions for event, w in result.witnesses.items()})


def test_two_configurations_loaded_at_once_each_give_their_own_verdict_and_counts():
    buggy = load(build_kernel(SEQ_ONLY, Reductions()))
    fixed = load(build_kernel(FIXED, Reductions()))  # loaded after, alive together
    answers = []
    for native in (buggy, fixed, buggy, fixed):
        result = native_bfs(native, symmetry=True, por=True)
        answers.append((result.states, result.transitions, result.verdict))
    assert answers[0] == answers[2] == (13542, 34016, "violation")
    assert answers[1] == answers[3]
    assert answers[1][2] == "safe" and answers[1][0] != 13542


def test_two_threads_expanding_in_the_same_library_at_once_give_the_serial_answers():
    kernels = [build_kernel(s, Reductions()) for s in (SEQ_ONLY, FIXED)]
    models = [NativeKernel(k, load(k)) for k in kernels]
    width = kernels[0].L.size
    frontier = b"".join(searched_states(kernels[0], 600))
    expected = [m.expand_chunk(frontier, width, True, True) for m in models]
    failures: list[str] = []

    def expand_repeatedly(which):
        for _ in range(40):
            got = models[which].expand_chunk(frontier, width, True, True)
            if (got.blob, got.transitions, got.actions.tolist()) != (expected[which].blob, expected[which].transitions,
                                                                     expected[which].actions.tolist()):
                failures.append(f"thread for configuration {which} got another expansion")
                return

    workers = [threading.Thread(target=expand_repeatedly, args=(i % 2,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not failures
    assert expected[0].blob != expected[1].blob  # the two configurations do differ here


def searched_states(kernel, limit):
    """The first ``limit`` canonical states in breadth-first order."""
    start = kernel.representative(kernel.initial())
    seen, order = {start}, [start]
    for s in order:
        for _, nxt, _ in kernel.canonical_successors(s):
            if nxt not in seen and len(order) < limit:
                seen.add(nxt)
                order.append(nxt)
    return order


def test_two_searches_in_two_threads_at_once_each_give_their_own_counts():
    alone = {name: figures(searched(s)) for name, s in (("buggy", SEQ_ONLY), ("fixed", FIXED))}
    together: dict[str, tuple] = {}

    def run(name, the_spec):
        together[name] = figures(searched(the_spec, threads=2))

    workers = [threading.Thread(target=run, args=item) for item in (("buggy", SEQ_ONLY), ("fixed", FIXED))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert together == alone


THREADED = [{"threads": 2}, {"threads": 3, "chunk": 64}, {"threads": 1, "table_bytes": 1 << 24},
            {"threads": 2, "table_bytes": 1 << 23, "spill_dir": "."}]


@pytest.mark.parametrize("options", THREADED, ids=["2 threads", "3 threads, small chunks", "compact table",
                                                   "compact table, frontier on disk"])
@pytest.mark.parametrize("bounds", [{}, {"max_states": 700}, {"max_depth": 9}, {"stop_on_violation": True},
                                    {"chunk": 64, "max_states": 2000}, {"chunk": 32, "stop_on_violation": True}],
                         ids=["complete", "max_states", "max_depth", "first", "max_states by chunk", "first by chunk"])
def test_the_threaded_search_numbers_counts_and_stops_as_the_serial_one(options, bounds, tmp_path):
    options = {**options, "spill_dir": str(tmp_path)} if "spill_dir" in options else options
    both = {**bounds, **({"chunk": options.pop("chunk")} if "chunk" in options else {})}
    serial = searched(SEQ_ONLY, **both)
    assert figures(searched(SEQ_ONLY, **options, **both)) == figures(serial)


MANY = spec("ksm-merge", "5.13", vcpus=3, accesses=2)  # 687,154 states, levels of up to tens of thousands


@pytest.mark.parametrize("options", [{"threads": 2, "segment": 8192}, {"threads": 3, "segment": 2048},
                                     {"threads": 2, "segment": 3000, "table_bytes": 1 << 24}],
                         ids=["2 threads", "3 threads, small segments", "compact table"])
@pytest.mark.parametrize("bounds", [{}, {"max_states": 300_000}, {"max_depth": 30}], ids=["complete", "max_states",
                                                                                           "max_depth"])
def test_levels_cut_into_many_segments_search_as_the_serial_loop(options, bounds):
    assert figures(searched(MANY, **options, **bounds)) == figures(searched(MANY, **bounds))


def test_a_violation_in_a_later_segment_of_a_level_stops_the_threads_where_the_serial_loop_stops():
    serial = searched(SEQ_ONLY, chunk=16, stop_on_violation=True)
    assert figures(searched(SEQ_ONLY, chunk=16, stop_on_violation=True, threads=2, segment=64)) == figures(serial)
    assert not serial.complete


@pytest.mark.parametrize(("scenario", "era", "arch"), configurations(GENERAL, ["2.6.32", "5.13", "6.10"], ["x86"]))
def test_two_threads_give_the_serial_search_on_every_matrix_cell(scenario, era, arch):
    the_spec = spec(scenario, era, f"arch={arch}")
    assert figures(searched(the_spec, threads=2, chunk=128)) == figures(searched(the_spec, chunk=128))


@pytest.mark.parametrize("bug", load_corpus(), ids=[b.id for b in load_corpus()])
def test_two_threads_give_the_serial_search_on_the_real_bugs_corpus(bug):
    for side in (bug.before, bug.after):
        serial = searched(side.spec)
        assert figures(searched(side.spec, threads=2)) == figures(serial)
        assert figures(searched(side.spec, threads=2, table_bytes=1 << 22)) == figures(serial)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=st.sampled_from(builtin_names()), era=st.sampled_from(["2.6.32", "3.7", "5.13", "6.1", "6.10"]),
       vcpus=st.integers(1, 2), accesses=st.integers(1, 2), threads=st.integers(2, 4),
       chunk=st.sampled_from([16, 100, 1024]), reductions=st.sampled_from([Reductions(), Reductions(False, False,
                                                                                                  False, False)]),
       bound=st.sampled_from([{}, {"max_states": 1500}, {"stop_on_violation": True}, {"max_depth": 12}]))
def test_random_configurations_search_alike_on_threads_and_alone(scenario, era, vcpus, accesses, threads, chunk,
                                                                   reductions, bound):
    from mmuspec.errors import UsageError

    try:
        the_spec = spec(scenario, era, vcpus=vcpus, accesses=accesses)
        the_spec.kernel()
    except UsageError:
        return  # the era lacks the scenario's subscriber
    serial = searched(the_spec, reductions, chunk=chunk, **bound)
    assert figures(searched(the_spec, reductions, chunk=chunk, threads=threads, **bound)) == figures(serial)


def test_the_command_runs_the_threaded_search_with_the_serial_figures():
    _, serial = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled")
    _, threaded = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled", threads=2)
    _, compact = run_check(SEQ_ONLY, reductions=Reductions(), engine="compiled", table_memory=1 << 24)
    assert threaded.engine == compact.engine == "compiled"
    assert figures(threaded) == figures(compact) == figures(serial)


def test_a_compact_table_stores_under_ten_bytes_a_state_and_prints_its_collision_odds(tmp_path):
    the_spec = spec("ksm-merge", "5.13", vcpus=2, accesses=2)
    result = searched(the_spec, threads=2, table_bytes=1 << 18, spill_dir=str(tmp_path))
    assert result.complete and result.states == 27808
    assert result.bytes_per_state <= 10
    assert result.store.startswith("a fixed table of 8-byte entries")
    # 56 bits of a second hash and one of 4,096 home buckets: 4 more bits than a 64-bit fingerprint
    assert result.collision_probability == pytest.approx(27808 * 27807 / 2 / (4096 * 2.0**56))
    assert result.collision_probability < collision_probability(27808) / 15


def test_a_full_compact_table_stops_the_search_and_says_so(tmp_path):
    result = searched(spec("ksm-merge", "5.13", vcpus=2, accesses=2), table_bytes=1 << 16, spill_dir=str(tmp_path))
    assert not result.complete and "state table is full" in result.stop_reason
    assert 0 < result.states < 27808


PREFETCH = "examples/variants/prefetch_in_change_pte.py"
TRUST_SEQ = "examples/variants/trust_the_sequence.py"


@pytest.mark.parametrize(("scenario", "path"), [("ksm-merge", PREFETCH), ("zap", TRUST_SEQ)],
                         ids=["prefetch_in_change_pte", "trust_the_sequence"])
def test_a_variant_searches_alike_on_two_threads_and_alone(scenario, path):
    from dataclasses import replace

    from mmuspec.model import load_variant

    the_spec = replace(spec(scenario, "5.13", vcpus=2, accesses=1), variant=load_variant(path))
    serial = searched(the_spec)
    assert figures(searched(the_spec, threads=2, chunk=128)) == figures(serial)
    assert figures(searched(the_spec, threads=2, table_bytes=1 << 22)) == figures(serial)


def test_a_variant_loop_that_never_ends_stops_the_threaded_search_with_the_loop_error():
    """The loop budget is per thread, and the error is the search's, not a global's: bad
    input naming the variant's line."""
    from dataclasses import replace

    from mmuspec.errors import InputError
    from mmuspec.model import parse_variant

    text = ("from mmuspec.model.guest import guest_access as _g\n"
            "def guest_access(k, s, t, arg):\n    n = 0\n    for i in range(1000000000000):\n        n = n + i\n"
            "    _g(k, s, t, arg)\n")
    endless = replace(spec("zap", "5.13", vcpus=2, accesses=1), variant=parse_variant(text, "endless.py"))
    with pytest.raises(InputError, match=r"endless.py:4: a loop of guest_access\(\) ran 100,000,000 times in one step"):
        searched(endless, threads=2)
    # the same library, another configuration, the same process: no error left behind
    assert figures(searched(FIXED, threads=2)) == figures(searched(FIXED))
