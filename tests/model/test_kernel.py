"""Whole-model properties: pinned state counts and bookkeeping invariants."""

import pytest

from mmuspec.model import guest, host, ksm
from mmuspec.model.layout import K_PAGE, KSM_PFN, PC, R_PAGE, V_NEW, V_OLD, V_PFN, Z_PAGE, ZERO_PFN
from mmuspec.model.registry import STEPS
from tests import helpers
from tests.helpers import check, kernel

# Exact reachable states / transitions of the unreduced model (1 vCPU x 2 unless noted).
PINNED = {
    ("ksm-merge", "2.6.32"): (365, 522),
    ("ksm-merge", "5.13"): (1215, 2017),
    # v6.8's lockless pre-check (d02c357e5bfa) retries a fault before its lookup: fewer states
    # than the 1107 / 1844 of 6.10 without it.
    ("ksm-merge", "6.10"): (683, 1132),
    ("ksm-merge", "glisse-2019"): (519, 835),
    ("cow-break", "5.13"): (4485, 8752),
    ("zap", "5.13"): (347, 541),
    ("aging", "5.13"): (481, 776),
}


@pytest.mark.parametrize(("scenario", "era"), list(PINNED))
def test_the_reachable_state_space_has_the_pinned_size(scenario, era):
    result = check(scenario, era)
    assert (result.states, result.transitions) == PINNED[(scenario, era)]


def held_references(k, s):
    """References the threads hold, by frame, according to where each thread is."""
    held = {}

    def add(pfn):
        if pfn and pfn != ZERO_PFN:
            held[pfn] = held.get(pfn, 0) + 1

    for th in k.threads:
        b, pc = th.base, s[th.base + PC]
        if th.kind == "vcpu":
            if pc in (guest.MAP, guest.RELEASE):
                add(s[b + V_PFN])
            if pc in (guest.WAIT_PAGE_LOCK, guest.COW_START, guest.COW_LOCK, guest.COW_NOTIFY, guest.COW_END):
                add(s[b + V_OLD])
            if pc in (guest.COW_START, guest.COW_LOCK):
                add(s[b + V_NEW])
        elif th.kind == "ksmd" and pc not in (ksm.SCAN, ksm.DONE):
            add(s[b + K_PAGE])
        elif th.kind == "madvise" and pc in (host.Z_END, host.Z_FREE):
            add(s[b + Z_PAGE])
        elif th.kind == "kswapd" and pc in (host.R_UNMAP_START, host.R_UNMAP, host.R_UNMAP_END, host.R_FREE):
            add(s[b + R_PAGE])
    return held


def reachable(k):
    return helpers.reachable(k.initial(), k.successors)


@pytest.mark.parametrize(
    ("scenario", "era", "sets"),
    [
        ("ksm-merge", "5.13", ()),
        ("ksm-merge", "2.6.32", ()),
        ("ksm-merge", "3.7", ("mm.wp_reuse=mapcount",)),
        ("cow-break", "glisse-2019", ()),
        ("zap", "5.13", ()),
        ("aging", "2.6.32", ()),
        ("aging", "5.13", ()),
    ],
)
def test_every_page_reference_is_a_mapping_or_held_by_a_thread(scenario, era, sets):
    k = kernel(scenario, era, *sets)
    L = k.L
    for s in reachable(k):
        held = held_references(k, s)
        for pfn in range(L.first_pool_pfn, L.frames):
            assert s[L.REF[pfn]] == s[L.MAP[pfn]] + held.get(pfn, 0), k.state_text(s)
        if k.scenario.stable_page:
            assert s[L.REF[KSM_PFN]] == s[L.MAP[KSM_PFN]] + held.get(KSM_PFN, 0)


def test_a_free_frame_is_all_zeroes_so_equal_histories_give_equal_states():
    k = kernel("cow-break", "5.13")
    L = k.L
    for s in reachable(k):
        for pfn in range(L.first_pool_pfn, L.frames):
            if not s[L.REF[pfn]]:
                assert (s[L.MAP[pfn]], s[L.FLAGS[pfn]], s[L.VAL[pfn]]) == (0, 0, 0)


def test_every_step_names_the_kernel_code_it_mirrors_and_its_lock():
    for info in STEPS.values():
        assert "(" in info.kernel, info.name
        assert info.lock, info.name


def test_the_page_table_lock_is_only_held_across_a_change_pte_call():
    k = kernel("ksm-merge", "5.13", vcpus=2)
    notify = {guest.COW_NOTIFY}
    for s in reachable(k):
        if s[k.L.PTL]:
            holders = [
                th.name for th in k.threads
                if (th.kind == "vcpu" and s[th.base] in notify)
                or (th.kind == "ksmd" and s[th.base] in (ksm.WP_NOTIFY, ksm.RP_NOTIFY))
            ]
            assert len(holders) == 1, k.state_text(s)


def test_a_finished_model_has_no_successors_and_no_deadlock():
    k = kernel("ksm-merge", "5.13")
    result = check("ksm-merge", "5.13")
    assert "no_deadlock" not in result.witnesses
    finals = [s for s in reachable(k) if k.all_done(s)]
    assert finals and all(k.successors(s) == [] for s in finals)
