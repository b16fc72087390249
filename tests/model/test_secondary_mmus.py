"""The secondary MMUs besides KVM's fault path: device mirrors on an mmu_interval_notifier
(lib/test_hmm.c's dmirror) and KVM's gfn_to_pfn_cache.  Pinned state counts on small
configurations, each behaviour one state at a time, and the reductions and footprint
declarations on the new scenarios."""

import pytest

from mmuspec.checking import NO_REDUCTIONS, CheckSpec, Reductions, matrix_cell, run_check
from mmuspec.errors import UsageError
from mmuspec.model import host, interval, load_scenario, parse_scenario, pfncache
from mmuspec.model.events import BIT
from mmuspec.model.layout import (
    PC,
    PTE_RO,
    PTE_RW,
    SUB_DEFER_INSERT,
    SUB_DEFER_REMOVE,
    SUB_REMOVED,
    SUB_TREE,
    V_GFN,
    V_PFN,
    V_SNAP,
    V_WRITE,
)
from mmuspec.model.notifier import MN_FAILED
from tests.helpers import check, kernel, outcome, spec
from tests.model.test_footprints import undeclared

# Exact reachable states / transitions of the unreduced model at the scenario's own size.
PINNED = {
    ("hmm-mirror", "6.10", ()): (11990, 30356),
    ("hmm-mirror", "5.13", ()): (12248, 30982),
    ("kvm-and-device", "6.10", ()): (3142, 7381),
    ("kvm-and-device", "5.13", ()): (4692, 11135),
    ("kvm-and-device", "6.10", ("arch=arm64",)): (4615, 10979),
    ("pfncache", "6.1", ()): (339, 543),
    ("interval-remove", "5.15", ()): (49, 74),
    ("interval-remove", "6.1", ()): (47, 70),
}


@pytest.mark.parametrize(("scenario", "era", "sets"), list(PINNED))
def test_each_new_scenario_has_the_pinned_state_space(scenario, era, sets):
    result = check(scenario, era, *sets)
    assert (result.states, result.transitions) == PINNED[(scenario, era, sets)]


@pytest.mark.parametrize("era", ["5.10", "5.13", "5.15", "6.1", "6.4", "6.8", "6.10"])
@pytest.mark.parametrize("scenario", ["hmm-mirror", "kvm-and-device"])
def test_a_device_mirror_is_safe_in_every_era_that_has_the_interval_notifier(scenario, era):
    assert check(scenario, era).verdict == "safe"


@pytest.mark.parametrize("era", ["6.1", "6.3", "6.4", "6.8", "6.10"])
def test_the_pfn_cache_is_safe_in_every_era_that_has_it(era):
    assert check("pfncache", era).verdict == "safe"


def at(k, thread_kind, pc, **fields):
    """The initial state with one thread of ``thread_kind`` moved to ``pc``."""
    s = bytearray(k.initial())
    th = next(t for t in k.threads if t.kind == thread_kind)
    s[th.base + PC] = pc
    for offset, value in fields.items():
        s[th.base + {"gfn": V_GFN, "write": V_WRITE, "snap": V_SNAP, "pfn": V_PFN}[offset]] = value
    return s, th


# -- the interval tree -----------------------------------------------------------------

def test_scenarios_without_a_device_or_a_pfn_cache_have_none_of_their_fields():
    names = kernel("ksm-merge", "6.10").L.names
    assert not any(n.startswith(("subscriptions", "dmirror", "gpc", "mn_active")) or n.endswith(".mn")
                   for n in names)


def test_an_invalidation_makes_the_sequence_odd_and_invalidate_sets_the_subscriptions_seq_and_erases_its_entry():
    k = kernel("hmm-mirror", "6.10")
    L = k.L
    s, madvise = at(k, "madvise", 0)
    s[L.DEV_PTE_PFN[0]], s[L.DEV_PTE_W[0]] = s[L.PTE_PFN[0]], 1
    k.mn_itree_inv_start_range(s, madvise.index, 0)
    assert (s[L.ITREE_SEQ], s[L.ITREE_ACTIVE], s[k.mn_field[madvise.index]]) == (3, 1, 1)
    k.dmirror_interval_invalidate(s, madvise.index, 1)
    assert (s[L.DEV_SEQ[0]], s[L.DEV_PTE_PFN[0]], s[L.DEV_PTE_W[0]]) == (3, 0, 0)
    assert k.mn_start_ready(s, madvise.index, 0)


def test_read_begin_waits_while_its_subscription_is_being_invalidated():
    k = kernel("hmm-mirror", "6.10")
    L = k.L
    s, dev = at(k, "dmirror", interval.D_READ_BEGIN, gfn=0)
    s[L.ITREE_SEQ] = s[L.DEV_SEQ[0]] = 3  # invalidate() has run: the subscription is being invalidated
    k.mmu_interval_read_begin(s, dev.index, 0)
    assert (s[dev.base + PC], s[dev.base + V_SNAP]) == (interval.D_WAIT_SEQ, 3)
    assert not k.read_begin_woken(s, dev.index, 0)
    s[L.ITREE_SEQ] = 4  # mn_itree_inv_end()
    assert k.read_begin_woken(s, dev.index, 0)


def test_read_retry_under_the_driver_lock_sees_an_invalidation_that_ran_since_read_begin():
    k = kernel("hmm-mirror", "6.10")
    L = k.L
    s, dev = at(k, "dmirror", interval.D_LOCK, gfn=0, snap=1, pfn=3)
    s[L.DEV_SEQ[0]] = 3
    k.dmirror_range_fault(s, dev.index, 0)
    assert s[dev.base + PC] == interval.D_READ_BEGIN and not s[L.DEV_MUTEX[0]]
    s, dev = at(k, "dmirror", interval.D_LOCK, gfn=0, snap=1, pfn=3)
    k.dmirror_range_fault(s, dev.index, 0)
    assert s[dev.base + PC] == interval.D_UPDATE and s[L.DEV_MUTEX[0]] == 1  # held until the update
    madvise = next(t for t in k.threads if t.kind == "madvise")
    s[k.mn_field[madvise.index]] = 1
    assert not k.dmirror_invalidate_ready(s, madvise.index, 1)  # invalidate() waits in mutex_lock()


def test_hmm_range_fault_takes_no_page_reference():
    k = kernel("hmm-mirror", "6.10")
    L = k.L
    s, dev = at(k, "dmirror", interval.D_FAULT, gfn=0, snap=1)
    page = s[L.PTE_PFN[0]]
    refs = s[L.REF[page]]
    k.hmm_range_fault(s, dev.index, 0)
    assert (s[dev.base + V_PFN], s[L.REF[page]], s[dev.base + PC]) == (page, refs, interval.D_LOCK)


def test_a_non_blockable_range_fails_when_the_driver_holds_its_lock_and_skips_the_hlist():
    sc = parse_scenario(
        '[memory]\ngfns = 1\n[host]\noom_reap = [0]\n[device]\nthreads = 1\naccesses = 1\nops = ["read"]\n'
        '[notifier]\nsubscriber = "hmm"\n', "oom.toml", "oom")
    k = CheckSpec(sc, "6.10").kernel()
    L = k.L
    s, reaper = at(k, "oom_reaper", 0)
    s[L.DEV_MUTEX[0]] = 1  # the device is between read_retry and its update
    k.mn_itree_inv_start_range(s, reaper.index, 0)
    assert k.dmirror_invalidate_ready(s, reaper.index, 1)  # mutex_trylock(), no waiting
    k.dmirror_interval_invalidate(s, reaper.index, 1)
    assert s[k.mn_field[reaper.index]] == MN_FAILED
    assert (s[L.ITREE_ACTIVE], s[L.ITREE_SEQ]) == (0, 4)  # mn_itree_inv_end() ran at once
    k.oom_reap_range_start(s, reaper.index, 0)
    assert s[reaper.base + PC] == host.Z_FREE and s[k.mn_field[reaper.index]] == 0  # skips the range


def test_a_failing_second_subscriber_leaves_the_interval_tree_invalidating_after_the_oom_reaper():
    # __mmu_notifier_invalidate_range_start() runs the interval tree first; when the hlist
    # then fails the non-blockable start, __oom_reap_task_mm() skips the range without
    # calling range_end(), so mn_itree_inv_end() never runs (a reading of the code [I]).
    sc = parse_scenario(
        '[memory]\ngfns = 1\n[host]\noom_reap = [0]\n[device]\nthreads = 1\naccesses = 2\nops = ["read"]\n'
        '[notifier]\nsubscriber = "hmm"\nsecond_subscriber = "fails_nonblock"\n', "oom2.toml", "oom2")
    _, result = run_check(CheckSpec(sc, "6.10"))
    assert {"no_deadlock", "quiescence"} <= set(result.witnesses)


def test_an_insert_during_an_invalidation_is_deferred_to_its_end_and_read_begin_waits_for_it():
    k = kernel("interval-remove", "6.1")
    L = k.L
    s, dev = at(k, "dmirror", interval.D_INSERT)
    s[L.ITREE_ACTIVE], s[L.ITREE_SEQ] = 1, 3
    k.mmu_interval_notifier_insert(s, dev.index, 0)
    assert (s[L.DEV_SUB[0]], s[L.DEV_SEQ[0]]) == (SUB_DEFER_INSERT, 3)
    k.mn_itree_deferred(s)
    assert s[L.DEV_SUB[0]] == SUB_TREE


def test_remove_during_an_invalidation_waits_under_the_lock_since_319561669a59():
    for era, returns_early in (("5.15", True), ("6.1", False)):
        k = kernel("interval-remove", era)
        L = k.L
        s, dev = at(k, "dmirror", interval.D_REMOVE)
        s[L.DEV_SUB[0]], s[L.DEV_SEQ[0]] = SUB_TREE, 1
        s[L.ITREE_ACTIVE], s[L.ITREE_SEQ] = 1, 3
        k.mmu_interval_notifier_remove(s, dev.index, 0)
        assert (s[L.DEV_SUB[0]], s[dev.base + PC]) == (SUB_DEFER_REMOVE, interval.D_REMOVE_WAIT)
        madvise = next(t for t in k.threads if t.kind == "madvise")
        s[k.mn_field[madvise.index]] = 0
        k.mn_itree_inv_end(s, madvise.index, 0)
        assert (s[L.ITREE_SEQ], s[L.ITREE_LOCK]) == (4, 1)  # the deferred walk still to come
        assert k.seq_released(s, dev.index, 0) is returns_early, era
        k.mn_itree_inv_end_deferred(s, madvise.index, 1)
        assert s[L.DEV_SUB[0]] == SUB_REMOVED and k.seq_released(s, dev.index, 0)


def test_unlinking_a_freed_subscription_is_a_use_after_free():
    k = kernel("interval-remove", "5.15")
    s = bytearray(k.initial())
    s[k.L.DEV_SUB[0]] = SUB_DEFER_REMOVE | 8
    k.ev = 0
    k.mn_itree_deferred(s)
    assert k.ev & BIT["no_use_after_free"]


# -- the pfn cache ---------------------------------------------------------------------

def test_the_pfn_cache_is_invalidated_before_the_in_progress_count_rises():
    k = kernel("pfncache", "6.1")
    L = k.L
    s, madvise = at(k, "madvise", 0)
    s[L.GPC_VALID], s[L.GPC_PFN] = 1, s[L.PTE_PFN[0]]
    k.gfn_to_pfn_cache_invalidate_start(s, madvise.index, 0)
    assert (s[L.GPC_VALID], s[L.MN_ACTIVE], s[L.COUNT]) == (0, 1, 0)
    k.zap_page_range_start(s, madvise.index, 0)
    assert (s[L.MN_ACTIVE], s[L.COUNT]) == (1, 1)


@pytest.mark.parametrize(("rule", "retries"), [("active_count", True), ("in_progress", False)])
def test_a_refresh_between_the_cache_invalidation_and_the_count_retries_only_with_the_active_count(rule, retries):
    k = kernel("pfncache", "6.1", f"kvm.pfncache_retry={rule}")
    L = k.L
    s, gpc = at(k, "gpc", pfncache.MAP, gfn=0, snap=0)
    page = s[L.PTE_PFN[0]]
    s[gpc.base + V_PFN] = page
    s[L.REF[page]] += 1  # hva_to_pfn()'s reference
    s[L.MN_ACTIVE] = 1  # gfn_to_pfn_cache_invalidate_start() ran; mmu_lock not yet taken
    k.mmu_notifier_retry_cache(s, gpc.index, 0)
    assert (s[gpc.base + PC] == pfncache.GUP) is retries
    assert bool(s[L.GPC_VALID]) is not retries
    assert s[L.REF[page]] == 1  # the cache holds no reference either way


def test_a_refresh_asks_for_a_writable_page_and_so_breaks_a_read_only_mapping():
    k = kernel("pfncache", "6.1")
    L = k.L
    s, gpc = at(k, "gpc", pfncache.GUP, gfn=0)
    page = s[L.PTE_PFN[0]]
    s[L.PTE_PROT[0]] = PTE_RO  # "We always request a writeable mapping"
    k.hva_to_pfn_retry(s, gpc.index, 0)  # do_wp_page(): the only mapping, so reused in place
    assert (s[L.PTE_PROT[0]], s[gpc.base + PC]) == (PTE_RW, pfncache.GUP)
    k.hva_to_pfn_retry(s, gpc.index, 0)
    assert (s[gpc.base + V_PFN], s[gpc.base + PC]) == (page, pfncache.MAP)


# -- subscribers, eras and the matrix ----------------------------------------------------

@pytest.mark.parametrize(("scenario", "era"), [("hmm-mirror", "3.7"), ("hmm-mirror", "glisse-2019"),
                                               ("pfncache", "5.15"), ("kvm-and-device", "2.6.32")])
def test_a_scenario_is_refused_in_one_line_in_an_era_without_its_subscriber(scenario, era):
    with pytest.raises(UsageError) as info:
        spec(scenario, era).kernel()
    assert "\n" not in str(info.value) and ("v5.5" in str(info.value) or "v5.17" in str(info.value))
    cell = matrix_cell(spec(scenario, era))
    assert (cell.verdict, cell.states) == ("n/a", 0) and cell.note == str(info.value)


def test_the_subscriber_choice_keeps_one_side_of_a_scenario_that_declares_both():
    both = load_scenario("kvm-and-device")
    assert both.subscribers == ("kvm", "hmm", "both") and both.subscriber == "both"
    kvm, hmm = both.with_subscriber("kvm"), both.with_subscriber("hmm")
    assert (kvm.vcpus, kvm.device_threads, hmm.vcpus, hmm.device_threads) == (1, 0, 0, 1)
    assert [t.kind for t in CheckSpec(hmm, "6.10").kernel().threads] == ["dmirror", "madvise"]
    _, result = run_check(CheckSpec(kvm, "6.10"))
    assert (result.verdict, result.states) == ("safe", 84)
    with pytest.raises(UsageError, match="has only hmm"):
        load_scenario("hmm-mirror").with_subscriber("kvm")


def test_a_file_that_declares_no_kvm_side_cannot_ask_for_kvm():
    with pytest.raises(Exception, match=r"notifier\.subscriber = 'kvm'"):
        parse_scenario('[device]\nthreads = 1\n[notifier]\nsubscriber = "kvm"\n', "x.toml", "x")


def test_a_scenario_without_vcpus_refuses_vcpus_but_replays_its_own_size():
    sc = load_scenario("hmm-mirror")
    assert sc.scaled(0, sc.accesses) == sc
    with pytest.raises(UsageError, match="runs no vCPUs"):
        sc.scaled(2)


# -- the reductions and the footprint declarations ------------------------------------------

NEW = [("hmm-mirror", "6.10", ()), ("hmm-mirror", "5.13", ("hmm.device_update=after_unlock",)),
       ("kvm-and-device", "6.10", ()), ("kvm-and-device", "5.13", ("arch=arm64",)),
       ("pfncache", "6.1", ()), ("pfncache", "6.10", ("kvm.pfncache_retry=in_progress",)),
       ("interval-remove", "5.15", ()), ("interval-remove", "6.10", ("mm.interval_remove_wait=none",))]


@pytest.mark.parametrize(("scenario", "era", "sets"), NEW)
def test_every_new_step_touches_only_its_own_thread_and_the_groups_it_declares(scenario, era, sets):
    assert undeclared(spec(scenario, era, *sets).kernel()) == set()


@pytest.mark.parametrize(("scenario", "era", "sets"), NEW)
def test_each_reduction_keeps_the_verdict_and_every_answer_on_the_new_scenarios(scenario, era, sets):
    _, plain = run_check(spec(scenario, era, *sets), reductions=NO_REDUCTIONS)
    for reductions in (Reductions(), Reductions(True, True, True, False), Reductions(False, False, False, True)):
        _, reduced = run_check(spec(scenario, era, *sets), reductions=reductions)
        assert outcome(reduced) == outcome(plain)
        assert reduced.states <= plain.states
