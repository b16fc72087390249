"""The state-count estimate from random walks: deterministic for a seed, at least the
states the walks met, and of the order of the real count on the built-in scenarios."""

import pytest

from mmuspec.checking import CheckSpec, Reductions, build_kernel, run_check
from mmuspec.explore.estimate import estimate
from mmuspec.model import load_scenario


def test_the_same_seed_gives_the_same_estimate():
    kernel = build_kernel(CheckSpec(load_scenario("zap"), "5.13"), Reductions())
    a, b = estimate(kernel, walks=50, seed=3), estimate(kernel, walks=50, seed=3)
    assert (a.states, a.seen, a.steps) == (b.states, b.seen, b.steps)
    assert a.states >= a.seen > 0


@pytest.mark.parametrize(("name", "era", "vcpus"), [("ksm-merge", "5.13", 2), ("zap", "6.10", 2)])
def test_the_estimate_is_within_a_factor_of_four_of_the_exhaustive_count_on_small_scenarios(name, era, vcpus):
    spec = CheckSpec(load_scenario(name).scaled(vcpus, 2), era)
    guess = estimate(build_kernel(spec, Reductions())).states
    _, result = run_check(spec, reductions=Reductions(por=False))
    assert result.states / 4 <= guess <= result.states * 4
