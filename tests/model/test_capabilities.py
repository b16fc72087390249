"""The opt-in capabilities the real bugs need: pinned state counts on small
configurations, and each behaviour one state at a time."""

import pytest

from mmuspec.model import guest, ksm
from mmuspec.model.events import BIT
from mmuspec.model.kvm import snapshot_as_compared
from mmuspec.model.layout import (
    K_KPAGE,
    K_PAGE,
    K_TREE,
    PC,
    PG_KSM,
    PTE_RO,
    SLOT_ABSENT,
    V_GFN,
    V_OLD,
    V_WRITE,
)
from mmuspec.model.memslot import no_fault_on_old_slot
from tests.helpers import check, kernel, reachable

# Exact reachable states / transitions of the unreduced model at the scenario's own size.
PINNED = {
    ("ksm-unstable", "5.13", ()): (6544, 11490),
    ("ksm-unstable", "3.7", ()): (7420, 12978),
    ("host-cow", "2.6.32", ()): (292, 642),
    ("host-cow", "3.7", ()): (1460, 3614),
    ("oom-reaper", "5.12", ()): (430, 680),
    ("memslot-create", "5.15", ()): (453, 715),
    ("memslot-delete-ksm", "6.4", ("arch=arm64",)): (428, 884),
    ("zap-gfn-range", "6.1", ()): (206, 304),
    ("seq-wrap", "6.3", ()): (347, 541),
    ("vma-remap", "6.3", ("arch=arm64",)): (87, 122),
    ("tlbs-dirty", "5.12", ()): (240, 481),
}


@pytest.mark.parametrize(("scenario", "era", "sets"), list(PINNED))
def test_each_capability_has_the_pinned_state_space(scenario, era, sets):
    result = check(scenario, era, *sets)
    assert (result.states, result.transitions) == PINNED[(scenario, era, sets)]


def test_capabilities_a_scenario_does_not_ask_for_add_no_field():
    names = kernel("ksm-merge", "6.10").L.names
    assert not any(n.startswith(("mmu_notifier_range", "memslot", "attr", "mmap", "tlbs_dirty")) for n in names)
    assert all(".tlb[" not in n for n in names)


# -- the unstable tree (D5) and the page lock's PageKsm re-check (D6) -------------------

@pytest.mark.parametrize("era", ["2.6.32", "3.7", "5.13", "6.10", "glisse-2019"])
def test_an_unstable_tree_merge_is_safe_because_ksmd_holds_both_pages_until_both_merges_end(era):
    assert check("ksm-unstable", era).verdict == "safe"


def test_ksmd_holds_a_reference_on_the_in_place_ksm_page_between_the_two_merges():
    k = kernel("ksm-unstable", "5.13")
    L = k.L
    ksmd = next(th for th in k.threads if th.kind == "ksmd")
    b = ksmd.base
    seen = 0
    for s in reachable(k.initial(), k.successors):
        if s[b + K_TREE] and s[b + K_KPAGE] and s[b] != ksm.DONE:
            seen += 1
            assert s[L.REF[s[b + K_KPAGE]]] >= 1 + s[L.MAP[s[b + K_KPAGE]]]
            assert s[L.REF[s[b + K_TREE]]] >= 1
    assert seen


def test_a_write_fault_that_waited_for_the_page_lock_copies_a_page_that_became_ksm():
    k = kernel("ksm-unstable", "3.7")
    L = k.L
    s = bytearray(k.initial())
    b = k.threads[0].base
    page = s[L.PTE_PFN[1]]
    s[L.PTE_PROT[1]] = PTE_RO
    s[L.FLAGS[page]] |= PG_KSM
    s[L.REF[page]] += 1  # the fault's reference from do_wp_page()
    s[b + PC], s[b + V_GFN], s[b + V_WRITE], s[b + V_OLD] = guest.WAIT_PAGE_LOCK, 1, 1, page
    k.wait_on_page_locked(s, 0, 0)
    assert s[b + PC] in (guest.COW_START, guest.COW_LOCK)
    assert s[L.PTE_PROT[1]] == PTE_RO


def test_get_page_on_a_freed_frame_fires_the_model_consistency_warning():
    k = kernel("zap", "5.13")
    s = bytearray(k.initial())
    k.ev = 0
    k.get_page(s, k.L.first_pool_pfn + 1)
    assert k.ev & BIT["get_page_on_freed_page"]


# -- ranges, memslots, sequence width, TLB ----------------------------------------------

def test_an_hva_range_retry_lets_a_fault_outside_the_range_through_and_stops_one_inside():
    k = kernel("zap-gfn-range", "5.15")
    L = k.L
    s = bytearray(k.initial())
    k.kvm_inc_notifier_count(s, 0, 1)  # a gfn range, as kvm_zap_gfn_range() stores it
    assert not k.is_page_fault_stale(s, 0, s[L.SEQ])  # gfn 0's hva is 4: outside
    k.kvm_inc_notifier_count(s, 4, 5)
    assert k.is_page_fault_stale(s, 0, s[L.SEQ])
    k.kvm_dec_notifier_count(s)
    k.kvm_dec_notifier_count(s)
    assert (s[L.COUNT], s[L.RANGE_START], s[L.RANGE_END]) == (0, 0, 0)


def test_start_and_end_leave_the_count_alone_without_a_memslot_from_5_15():
    for era, moved in (("5.13", True), ("5.15", False)):
        k = kernel("memslot-create", era)
        s = bytearray(k.initial())
        assert s[k.L.SLOT] == SLOT_ABSENT
        k.kvm_mmu_notifier_invalidate_range_start(s, 0, False)
        assert bool(s[k.L.COUNT]) is moved, era


def test_an_int_snapshot_sign_extends_from_8_in_the_models_scale():
    k = kernel("seq-wrap", "6.1")
    assert [snapshot_as_compared(k, x) for x in (7, 8, 15, 16)] == [7, 248, 255, 0]
    assert snapshot_as_compared(kernel("seq-wrap", "6.3"), 8) == 8


def test_a_truncated_tlbs_dirty_of_16_skips_the_flush_that_the_long_one_does():
    for era, flushed in (("5.10", False), ("5.12", True)):
        k = kernel("tlbs-dirty", era)
        L = k.L
        s = bytearray(k.initial())
        b = k.threads[0].base
        s[b + L.V_TLB_PFN[0]] = s[L.PTE_PFN[0]]
        s[L.TLBS_DIRTY] = 16
        k.kvm_flush_if_needed(s, False)
        assert (s[b + L.V_TLB_PFN[0]] == 0) is flushed, era


def test_the_oom_reapers_failed_start_is_paired_with_an_end_from_5_12():
    for era, count in (("5.10", 1), ("5.12", 0)):
        k = kernel("oom-reaper", era)
        s = bytearray(k.initial())
        assert k.mmu_notifier_invalidate_range_start_nonblock(s, 0, True) is False
        assert s[k.L.COUNT] == count, era


def test_the_memslot_updater_waits_for_faults_that_saw_the_old_slot():
    k = kernel("memslot-delete-ksm", "6.4", "arch=arm64")
    s = bytearray(k.initial())
    s[k.threads[0].base + PC] = guest.MAP
    memslot = next(th for th in k.threads if th.kind == "memslot")
    assert no_fault_on_old_slot(k, bytes(s), memslot.index, 0) is False
    s[k.threads[0].base + PC] = guest.NEW
    assert no_fault_on_old_slot(k, bytes(s), memslot.index, 0) is True


def test_ksmd_scans_the_tree_page_with_the_scanned_one():
    k = kernel("ksm-unstable", "5.13")
    s = bytearray(k.initial())
    ksmd = next(th for th in k.threads if th.kind == "ksmd")
    k.ksm_scan_page(s, ksmd.index, 0)
    L = k.L
    assert s[ksmd.base + K_PAGE] == s[L.PTE_PFN[1]] and s[ksmd.base + K_TREE] == s[L.PTE_PFN[0]]
    assert s[L.REF[s[L.PTE_PFN[0]]]] == 2 == s[L.REF[s[L.PTE_PFN[1]]]]
