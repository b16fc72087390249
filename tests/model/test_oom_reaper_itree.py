"""The OOM reaper's interval-tree leak (corpus B14, reports/oom-reaper-itree-leak.md): an
hlist subscriber that fails the reaper's non-blockable start leaves the interval tree's
range counted, and every interval-notifier user of the mm then waits forever; the proposed
fix (``mm.nonblock_itree_end``, or the same change as a variant) ends that range."""

from dataclasses import replace

import pytest

from mmuspec.checking import CheckSpec, run_check
from mmuspec.model import load_scenario, load_variant, parse_assignments
from mmuspec.model.interval import ITREE_INITIAL_SEQ
from mmuspec.model.layout import PC, SUB_TREE
from mmuspec.model.unmap import FAILS
from tests.helpers import kernel

FIX = "examples/variants/itree_end_on_hlist_failure.py"
PINNED = {  # reachable states and transitions of the unreduced model
    ("6.10", False): (105, 176),
    ("6.10", True): (115, 190),
}


def search(scenario, *sets, variant=None, reductions=None):
    kw = {} if reductions is None else {"reductions": reductions}
    _, result = run_check(CheckSpec(scenario, "6.10", parse_assignments(sets), variant), **kw)
    return result


def test_the_hlist_failure_after_the_interval_tree_took_the_range_leaves_it_counted_and_odd():
    k = kernel("oom-reaper-itree", "6.10")
    L = k.L
    reaper = next(t for t in k.threads if t.kind == "oom_reaper")
    s = bytearray(k.initial())
    k.mn_itree_inv_start_range(s, reaper.index, 0)
    k.dmirror_interval_invalidate(s, reaper.index, 1)
    k.oom_reap_range_start(s, reaper.index, FAILS)
    assert (s[L.ITREE_ACTIVE], s[L.ITREE_SEQ]) == (1, ITREE_INITIAL_SEQ + 1)
    fixed = kernel("oom-reaper-itree", "6.10", "mm.nonblock_itree_end=true")
    s = bytearray(fixed.initial())
    fixed.mn_itree_inv_start_range(s, reaper.index, 0)
    fixed.dmirror_interval_invalidate(s, reaper.index, 1)
    fixed.oom_reap_range_start(s, reaper.index, FAILS)
    assert (s[L.ITREE_ACTIVE], s[L.ITREE_SEQ]) == (0, ITREE_INITIAL_SEQ + 2)
    assert s[reaper.base + PC] != 0 and s[L.DEV_SUB[0]] == SUB_TREE


@pytest.mark.parametrize(("fixed", "counts"), [(f, c) for (_, f), c in PINNED.items()])
def test_the_pinned_state_counts_of_the_leak_and_of_its_fix(fixed, counts):
    from mmuspec.checking import NO_REDUCTIONS

    result = search(load_scenario("oom-reaper-itree"), f"mm.nonblock_itree_end={str(fixed).lower()}",
                    reductions=NO_REDUCTIONS)
    assert (result.states, result.transitions) == counts


def replayed_end(spec, witness):
    """The state the witness leads to, replayed step by step (the deadlock pseudo-step
    leaves the state as it is)."""
    k = spec.kernel()
    s = k.initial()
    for action in witness.actions:
        s, _, _ = k.explain_action(s, action)
    return k, s


@pytest.mark.parametrize(("change", "where"), [
    ({}, "wait_seq"),                                                # mmu_interval_read_begin()
    ({"device_insert": True}, "wait_seq"),                           # an insert after the leak
    ({"device_remove": True, "device_accesses": 0}, "remove_wait"),  # mmu_interval_notifier_remove()
])
def test_read_begin_insert_and_remove_all_hang_before_the_fix_and_none_after(change, where):
    scenario = replace(load_scenario("oom-reaper-itree"), **change)
    before = search(scenario)
    witness = before.witnesses["no_deadlock"]
    k, end = replayed_end(CheckSpec(scenario, "6.10"), witness)
    device = next(t for t in k.threads if t.kind == "dmirror")
    assert k.pc_name(end, device.index) == where
    assert end[k.L.ITREE_ACTIVE] == 1 and end[k.L.ITREE_SEQ] % 2 == 1
    assert search(scenario, "mm.nonblock_itree_end=true").verdict == "safe"


def test_the_fix_as_a_variant_gives_the_switchs_verdicts_and_counts():
    scenario = load_scenario("oom-reaper-itree")
    switch = search(scenario, "mm.nonblock_itree_end=true")
    variant = search(scenario, variant=load_variant(FIX))
    assert (variant.verdict, variant.states, variant.transitions) == (switch.verdict, switch.states,
                                                                      switch.transitions)
