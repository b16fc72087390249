"""The compiled core is the model: the same successors for every state, and the same
verdicts, counts and shortest witnesses as the interpreter, everywhere."""

from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmuspec.checking import Reductions, build_kernel, run_check
from mmuspec.errors import UsageError
from mmuspec.explore.por import persistent_sets
from mmuspec.explore.store import FingerprintSet
from mmuspec.model import ERAS
from mmuspec.model.scenario import bug_scenario_names, builtin_names, load_scenario
from mmuspec.native.search import NativeKernel, load
from mmuspec.rediscover import load_corpus, search
from tests.helpers import ARCHES, outcome, spec

GENERAL = builtin_names()
ALL_SCENARIOS = GENERAL + bug_scenario_names()


def valid(scenario, era, arch):
    """Whether the model accepts the configuration (a device mirror needs v5.5 or later)."""
    try:
        spec(scenario, era, f"arch={arch}").kernel()
    except UsageError:
        return False
    return True


def configurations(scenarios, eras, arches):
    return [(s, e, a) for s in scenarios for e in eras for a in arches if valid(s, e, a)]


def same_successors(sc, era, arch, limit):
    """Breadth-first over the model, comparing every state's successors (plain, canonical,
    and partial-order reduced) with the compiled core's."""
    k = build_kernel(spec(sc, era, f"arch={arch}"), Reductions())
    native = load(k)
    por = persistent_sets(k)
    for canonical in (False, True):
        start = k.representative(k.initial()) if canonical else k.initial()
        seen, queue = {start}, deque([start])
        while queue and len(seen) < limit:
            s = queue.popleft()
            ours = k.canonical_successors(s) if canonical else k.successors(s)
            assert native.successors(s, canonical=canonical) == ours, k.state_text(s)
            if canonical and por is not None:
                reduced = por.reduced(s, k.canonical_successors)
                assert native.successors(s, canonical=True, por=True) == (reduced if reduced is not None else ours)
            for _, nxt, _ in ours:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)


@pytest.mark.parametrize(("scenario", "era", "arch"), configurations(
    ALL_SCENARIOS, ["2.6.32", "5.10", "5.15", "6.1", "6.3", "6.10", "glisse-2019"], ["x86", "arm64"]))
def test_the_compiled_core_expands_states_exactly_as_the_model_does(scenario, era, arch):
    same_successors(scenario, era, arch, limit=400)


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "era", "arch"), configurations(ALL_SCENARIOS, list(ERAS), ARCHES))
def test_the_compiled_core_expands_every_state_exactly_as_the_model_does(scenario, era, arch):
    same_successors(scenario, era, arch, limit=20_000)


def both(the_spec, **options):
    _, compiled = run_check(the_spec, engine="compiled", **options)
    _, interpreted = run_check(the_spec, engine="interpreted", **options)
    assert compiled.engine == "compiled" and interpreted.engine == "interpreted"
    return compiled, interpreted


def assert_same(a, b):
    assert (a.states, a.transitions, a.depth, a.complete) == (b.states, b.transitions, b.depth, b.complete)
    assert outcome(a) == outcome(b)
    assert {e: w.actions for e, w in a.witnesses.items()} == {e: w.actions for e, w in b.witnesses.items()}


@pytest.mark.parametrize(("scenario", "era", "arch"), configurations(
    GENERAL, ["2.6.32", "3.7", "5.13", "6.10", "glisse-2019"], ARCHES))
def test_both_engines_agree_on_every_matrix_cell(scenario, era, arch):
    assert_same(*both(spec(scenario, era, f"arch={arch}"), reductions=Reductions()))


@pytest.mark.parametrize("reductions", [Reductions(), Reductions(False, False, False, False),
                                        Reductions(True, True, True, False)], ids=["all", "none", "quotients"])
def test_both_engines_agree_with_each_set_of_reductions(reductions):
    assert_same(*both(spec("ksm-merge", "glisse-2019", vcpus=2, accesses=2), reductions=reductions))


def test_both_engines_agree_on_a_violation_and_its_shortest_trace():
    compiled, interpreted = both(spec("ksm-merge", "5.13", "kvm.fault_retry_checks=seq_only"), reductions=Reductions())
    assert compiled.verdict == "violation"
    assert_same(compiled, interpreted)


@pytest.mark.parametrize("options", [{"max_states": 500}, {"max_depth": 7}, {"stop_on_violation": True}],
                         ids=["max_states", "max_depth", "first"])
def test_both_engines_stop_at_the_same_bound(options):
    the_spec = spec("zap", "5.13", "kvm.fault_retry_checks=seq_only", vcpus=2, accesses=2)
    assert_same(*both(the_spec, reductions=Reductions(), **options))


@pytest.mark.parametrize("bug", load_corpus(), ids=[b.id for b in load_corpus()])
def test_both_engines_agree_on_the_real_bugs_corpus(bug):
    for side in (bug.before, bug.after):
        compiled = search(side).result
        _, interpreted = run_check(side.spec, reductions=Reductions(), engine="interpreted")
        assert compiled.engine == "compiled"
        assert_same(compiled, interpreted)


def test_workers_expanding_with_the_compiled_core_give_the_same_search_whatever_the_chunk_size():
    the_spec = spec("ksm-merge", "5.13", vcpus=2, accesses=2)
    _, serial = run_check(the_spec, reductions=Reductions(), engine="compiled")
    for chunk in (64, 5000, None):  # small enough that the workers expand most levels; the default
        _, parallel = run_check(the_spec, reductions=Reductions(), engine="compiled", workers=2, chunk=chunk)
        assert parallel.engine == "compiled"
        assert_same(serial, parallel)


def test_a_variant_compiles_through_the_same_path():
    from mmuspec.model import load_variant

    variant = load_variant("examples/variants/prefetch_in_change_pte.py")
    the_spec = replace(spec("ksm-merge", "5.13"), variant=variant)
    compiled, interpreted = both(the_spec)
    assert_same(compiled, interpreted)


@pytest.mark.parametrize("arch", ARCHES)
def test_both_engines_agree_over_ksmd_s_later_scans_and_the_lru_add_batch(arch):
    examples = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
    for name in ("ksm-merge-rescan.toml", "ksm-merge-lru-add.toml"):
        for era in ("2.6.32", "5.13", "6.1", "6.10"):
            same_successors(str(examples / name), era, arch, limit=20_000)
            assert_same(*both(spec(str(examples / name), era, f"arch={arch}"), reductions=Reductions()))


def test_a_scenario_the_matrix_does_not_run_compiles_too():
    assert load_scenario("host-cow").accessors == 2
    assert_same(*both(spec("host-cow", "2.6.32"), reductions=Reductions()))


def test_the_compiled_fingerprint_insertion_gives_the_numpy_sets_answers_batch_by_batch():
    kernel = build_kernel(spec("zap", "5.13"), Reductions())
    native = NativeKernel(kernel, load(kernel))
    rng = np.random.default_rng(7)
    plain, fast = FingerprintSet(), FingerprintSet()
    fast.inserter = native.insert_fingerprints
    for size in (1, 50, 3000, 20000, 5):  # duplicates within and across batches, zeros, growth
        fps = rng.integers(0, 30000, size=size, dtype=np.uint64)
        assert (plain.add_batch(fps) == fast.add_batch(fps)).all()
        assert len(plain) == len(fast)
    assert set(plain.table.tolist()) == set(fast.table.tolist())
