"""Known races the checker must find, with short counterexamples.

Each case is a broken protocol (a wrong switch or an era's known hole); the test
requires the search to find the violation and bounds the length of the trace it
reports, as hypothesis' quality tests bound the size of a shrunk example.
"""

import pytest

from mmuspec.checking import Reductions, run_check
from mmuspec.model.events import BIT
from tests.helpers import check, spec

CASES = [
    # (scenario, era, sets, vcpus, property, longest acceptable trace)
    # 2.6.32 with no notification at all: no change_pte and no ->invalidate_page fallback.
    ("ksm-merge", "2.6.32", ("kvm.change_pte=none", "mm.change_pte_fallback=none"), None, "data_integrity", 9),
    # The seq bump became necessary once read faults could map read-only pages (v2.6.38 [I]).
    ("ksm-merge", "2.6.32", ("kvm.change_pte=update_in_place", "kvm.gup_write_always=false"), None,
     "data_integrity", 12),
    ("ksm-merge", "5.13", ("kvm.end_bumps_seq=false",), None, "data_integrity", 16),
    ("ksm-merge", "glisse-2019", ("kvm.change_pte=update_in_place",), None, "no_use_after_free", 16),
    ("ksm-merge", "5.13", ("kvm.change_pte=warn_count", "kvm.start_zaps_change_pte_events=false"), None,
     "data_integrity", 16),
    ("zap", "5.13", ("kvm.fault_retry_checks=seq_only",), None, "data_integrity", 8),
    ("zap", "5.13", ("kvm.fault_retry_checks=count_only",), None, "data_integrity", 10),
    # SPIN's observation 7: the 2009 COW break races a read fault when change_pte does
    # not bump the sequence (needs read faults that may map read-only pages).
    ("cow-break", "2.6.32", ("kvm.change_pte=update_in_place", "kvm.gup_write_always=false"), 2,
     "data_integrity", 12),
    # Seq-only fault checks, masked by the pre-2021 bump, exposed without it (3 vCPUs).
    ("cow-break", "5.13", ("kvm.fault_retry_checks=seq_only",), 3, "data_integrity", 14),
]


@pytest.mark.parametrize(("scenario", "era", "sets", "vcpus", "prop", "bound"), CASES)
def test_the_race_is_found_with_a_short_trace(scenario, era, sets, vcpus, prop, bound):
    result = check(scenario, era, *sets, vcpus=vcpus, first=True)
    assert result.verdict == "violation"
    witness = result.witnesses.get(prop) or result.violation
    assert witness.event in ("data_integrity", "no_use_after_free")
    assert witness.length <= bound, f"{witness.event} found in {witness.length} steps"


def test_the_uaf_and_the_lost_write_of_2_6_32_without_any_notification_are_both_found():
    result = check("ksm-merge", "2.6.32", "kvm.change_pte=none", "mm.change_pte_fallback=none")
    assert {"data_integrity", "no_use_after_free"} <= set(result.witnesses)


def test_the_seq_only_check_is_masked_by_the_2009_bump():
    # SPIN's observation 2: with change_pte bumping the sequence, the count is not needed
    # for the KSM race; the 2021 change made it the only guard.
    assert check("ksm-merge", "3.7", "kvm.fault_retry_checks=seq_only").verdict == "safe"
    assert check("ksm-merge", "5.13", "kvm.fault_retry_checks=seq_only").verdict == "violation"


def replay_events(kernel, actions):
    """Every event the steps raise when ``actions`` run again from the initial state."""
    state, events = kernel.initial(), 0
    for action in actions:
        state, step_events, _ = kernel.explain_action(state, action)
        events |= step_events
    return events


# The wrong patterns of the other secondary MMUs: a device driver's, the interval-notifier
# core's and the pfn cache's.  Each must be found with a short trace, which --minimize
# must not make longer.
SECONDARY = [
    # (scenario, era, sets, property, longest acceptable trace)
    # amdgpu userptr before 1ed3d2567c80: the lock dropped between read_retry and the update.
    ("hmm-mirror", "6.10", ("hmm.device_update=after_unlock",), "no_use_after_free", 13),
    ("hmm-mirror", "6.10", ("hmm.device_update=after_unlock",), "data_integrity", 10),
    # read_retry without the driver lock: in an atomic-step model the same window.
    ("hmm-mirror", "6.10", ("hmm.device_update=unlocked_retry",), "no_use_after_free", 13),
    ("kvm-and-device", "6.10", ("hmm.device_update=after_unlock",), "no_use_after_free", 13),
    # mmu_interval_notifier_remove() before 319561669a59, and one that does not wait at all.
    ("interval-remove", "5.15", (), "no_use_after_free", 9),
    ("interval-remove", "6.10", ("mm.interval_remove_wait=none",), "no_use_after_free", 5),
    # The pfn cache refresh with the fault path's retry rule (before 58cd407ca4c6).
    ("pfncache", "6.1", ("kvm.pfncache_retry=in_progress",), "no_use_after_free", 10),
    ("pfncache", "6.1", ("kvm.pfncache_retry=in_progress",), "data_integrity", 8),
]


@pytest.mark.parametrize(("scenario", "era", "sets", "prop", "bound"), SECONDARY)
def test_a_wrong_secondary_mmu_pattern_is_found_short_and_minimize_does_not_lengthen_it(
        scenario, era, sets, prop, bound):
    _, found = run_check(spec(scenario, era, *sets), reductions=Reductions())
    assert found.verdict == "violation"
    witness = found.witnesses[prop]
    assert witness.length <= bound, f"{prop} found in {witness.length} steps"
    kernel, shrunk = run_check(spec(scenario, era, *sets), reductions=Reductions(), minimize=True)
    small = shrunk.witnesses[prop]
    assert small.length <= witness.length
    assert replay_events(kernel, small.actions) & BIT[prop]


@pytest.mark.parametrize(("scenario", "era"), [("hmm-mirror", "6.10"), ("kvm-and-device", "6.10"),
                                               ("pfncache", "6.1"), ("interval-remove", "6.1")])
def test_the_documented_patterns_are_safe(scenario, era):
    assert check(scenario, era).verdict == "safe"


# A random walk stumbles on a broken driver pattern by a longer path than BFS's; --minimize
# must shrink it (here to the exhaustive search's shortest) and the result must still replay.
SHRINKS = [
    # (scenario, era, sets, property, seed, the walk's length, the shortest)
    ("hmm-mirror", "6.10", ("hmm.device_update=after_unlock",), "data_integrity", 0, 12, 10),
    ("hmm-mirror", "6.10", ("hmm.device_update=after_unlock",), "no_use_after_free", 0, 14, 13),
    ("hmm-mirror", "6.10", ("hmm.device_update=unlocked_retry",), "no_use_after_free", 0, 14, 13),
    ("kvm-and-device", "6.10", ("hmm.device_update=after_unlock",), "no_use_after_free", 0, 16, 13),
]


@pytest.mark.parametrize(("scenario", "era", "sets", "prop", "seed", "walked", "shortest"), SHRINKS)
def test_a_random_walks_counterexample_of_a_broken_driver_shrinks_to_the_shortest_under_minimize(
        scenario, era, sets, prop, seed, walked, shortest):
    _, found = run_check(spec(scenario, era, *sets), walks=200, seed=seed)
    assert found.witnesses[prop].length == walked
    kernel, shrunk = run_check(spec(scenario, era, *sets), walks=200, seed=seed, minimize=True)
    small = shrunk.witnesses[prop]
    assert small.length == shortest
    assert replay_events(kernel, small.actions) & BIT[prop]
