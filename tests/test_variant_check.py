"""Before a variant's search, both engines run its first states alike, and a variant that
changes nothing is named as such."""

import pytest

from mmuspec.checking import CheckSpec, run_check
from mmuspec.model import Kernel, era_config, load_scenario, parse_variant
from mmuspec.native.search import load
from mmuspec.variant_check import EngineMismatch, cross_check

UKSM = "def ptl_free(k, s, t, arg):\n    return True\n"
NOOP = ("from mmuspec.model.guest import ptl_free as _up\n\n\n"
        "def ptl_free(k, s, t, arg):\n    return _up(k, s, t, arg)\n")


def variant_kernel(text, scenario="ksm-merge"):
    return Kernel(load_scenario(scenario), era_config("5.13"), parse_variant(text, "v.py"))


def test_both_engines_are_cross_checked_on_the_whole_search_of_a_small_variant():
    k = variant_kernel(UKSM)
    found = cross_check(k, load(k))
    assert found.compiled and found.whole and not found.same_as_upstream
    assert found.states == 1235


def test_a_difference_between_the_engines_is_an_error_naming_the_step_and_the_variant_function():
    k = variant_kernel(UKSM)
    native = load(k)

    class Broken:
        def successors(self, s, canonical):
            out = native.successors(s, canonical=canonical)
            return out[:-1] if len(out) > 1 else out  # drops one transition

    with pytest.raises(EngineMismatch, match=r"disagree on step ksmd:\w+.*variant's ptl_free"):
        cross_check(k, Broken())


def test_a_variant_that_changes_nothing_observable_says_so():
    _, result = run_check(CheckSpec(load_scenario("ksm-merge"), "5.13", {}, parse_variant(NOOP, "noop.py")))
    assert any("changes nothing observable" in note for note in result.notes)
    _, changed = run_check(CheckSpec(load_scenario("ksm-merge"), "5.13", {}, parse_variant(UKSM, "uksm.py")))
    assert not any("changes nothing" in note for note in changed.notes)
    assert any("both engines agree" in note for note in changed.notes)


def test_a_large_variant_search_is_cross_checked_on_its_first_states_only():
    k = Kernel(load_scenario("ksm-merge").scaled(2, None), era_config("5.13"), parse_variant(NOOP, "noop.py"))
    found = cross_check(k, load(k), budget=500)
    assert found.states == 500 and not found.whole
    assert "first 500 states" in found.note()
