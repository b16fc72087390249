"""Host threads other than ksmd: MADV_DONTNEED, and page aging with reclaim.

``madvise`` zaps a gfn's page the way ``zap_page_range()`` does: notifier start,
clear the PTE under the PTL (the page goes into the TLB gather with its
reference), notifier end, then ``tlb_finish_mmu()`` frees the gathered page.
``kswapd`` harvests young bits with the aging notifiers its era has and, when the
scenario asks for reclaim, unmaps an old page to swap with ``try_to_unmap_one()``
(through ``.invalidate_page`` before v4.13, a start/end range since).

Deliberate simplifications: the pages of a zap are freed only after range_end, where
``zap_pte_range()`` may ``tlb_flush_mmu()`` a full batch before it (harmless: start()
already zapped the SPTE); ``shrink_page_list()`` isolates and trylocks a page before
``page_referenced()``, where the model ages first; and 3.7-4.12's ``try_to_unmap_one()``
called ``.invalidate_page`` after ``pte_unmap_unlock()``, where the model calls it under
the PTL.  Modelling that window faithfully needs the swap cache, which makes 3.7 safe (the
racing fault finds the same page in it): without one the model would report a lost write
that 3.7 did not have.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import AGING_FOUND_YOUNG, PAGE_RECLAIMED
from mmuspec.model.guest import ptl_free
from mmuspec.model.layout import (
    PC,
    PG_KSM,
    PTE_NONE,
    PTE_SWAP,
    R_PAGE,
    R_TARGET,
    Z_PAGE,
    Z_TARGET,
)
from mmuspec.model.notifier import mn_end_ready, mn_start_ready
from mmuspec.model.primary import pte_present
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

Z_START, Z_CLEAR, Z_END, Z_FREE, Z_DONE = range(5)
ZAP_PC_NAMES = ("start", "clear", "end", "free", "done")

R_CLEAR_YOUNG, R_TEST_YOUNG, R_REFERENCED, R_UNMAP_START, R_UNMAP, R_UNMAP_END, R_FREE, R_DONE = range(8)
# Lockless aging (kvm.lockless_aging, v6.15 x86): the walk read an accessed SPTE under the PTL
# of clear_young (page idle) or of clear_flush_young (page_referenced), and its update is still
# to come; ``_W`` = the SPTE it read was writable (kswapd's ``page`` holds its pfn).
R_AGE_IDLE, R_AGE_IDLE_W, R_AGE_REFERENCED, R_AGE_REFERENCED_W = range(8, 12)
AGE_PCS = (R_AGE_IDLE, R_AGE_IDLE_W, R_AGE_REFERENCED, R_AGE_REFERENCED_W)
RECLAIM_PC_NAMES = ("clear_young", "test_young", "referenced", "unmap_start", "unmap", "unmap_end", "free", "done",
                    "age_spte", "age_spte(w)", "age_spte_flush", "age_spte_flush(w)")


def zap_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        Z_START: [("zap_page_range_start", 0)],
        Z_CLEAR: [("zap_pte_range", 0)],
        Z_END: [("zap_page_range_end", 0)],
        Z_FREE: [("tlb_finish_mmu", 0)],
        Z_DONE: [],
    }


def reclaim_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        R_CLEAR_YOUNG: [("page_idle_clear_pte_refs", 0)],
        R_TEST_YOUNG: [("mmu_notifier_test_young_probe", 0)],
        R_REFERENCED: [("page_referenced", 0)],
        R_UNMAP_START: [("try_to_unmap_start", 0)],
        R_UNMAP: [("try_to_unmap_one", 0)],
        R_UNMAP_END: [("try_to_unmap_end", 0)],
        R_FREE: [("shrink_page_list_free", 0)],
        R_DONE: [],
        **{pc: [("kvm_age_spte_lockless", 0)] for pc in AGE_PCS},
    }


@step("madvise", "zap_page_range(): mmu_notifier_invalidate_range_start(MMU_NOTIFY_CLEAR)", lock="mmu_lock",
      guard=mn_start_ready,
      reads="count spte slot", writes="count spte spt_table", notifier="start")
def zap_page_range_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    k.mmu_notifier_invalidate_range_start(s, zap_target(k, s, t), False)
    s[b + PC] = Z_CLEAR


def zap_target(k: Kernel, s: bytes | bytearray, t: int) -> int:
    """The gfn an unmapping thread (madvise, the OOM reaper, munmap) is working on."""
    return k.unmap_targets[t][s[k.base[t] + Z_TARGET]]


@step("madvise", "zap_pte_range(): ptep_get_and_clear_full(); page_remove_rmap(); "
      "__tlb_remove_page()", lock="ptl", guard=ptl_free,
      reads="page pte ptl", writes="data page pte")
def zap_pte_range(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.zap_pte(s, t, zap_target(k, s, t))
    s[k.base[t] + PC] = Z_END


@helper
def zap_pte(k: Kernel, s: bytearray, t: int, gfn: int) -> None:
    """zap_pte_range() for one entry: clear it, drop the mapping, and keep the page in the
    TLB gather (its reference goes in tlb_finish_mmu()); a swap entry is freed."""
    L = k.L
    b = k.base[t]
    prot = s[L.PTE_PROT[gfn]]
    if pte_present(k, s, gfn):
        page = s[L.PTE_PFN[gfn]]
        k.ptep_clear_flush(s, gfn, 0)
        k.page_remove_rmap(s, page)
        s[b + Z_PAGE] = page
    elif prot == PTE_SWAP:
        s[L.SWAP_VAL[gfn]] = 0
        s[L.PTE_PROT[gfn]] = PTE_NONE
    # MADV_DONTNEED: the next access sees a zero-filled page.
    s[L.EXPECT[gfn]] = 0


@step("madvise", "zap_page_range(): mmu_notifier_invalidate_range_end()", lock="mmu_lock",
      guard=mn_end_ready,
      reads="count seq slot", writes="count seq", notifier="end")
def zap_page_range_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    k.mmu_notifier_invalidate_range_end(s, zap_target(k, s, t), False)
    s[b + PC] = Z_FREE


@step("madvise", "tlb_finish_mmu(): free_pages_and_swap_cache(): put_page() of the gathered page",
      reads="page", writes="data page")
def tlb_finish_mmu(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    page = s[b + Z_PAGE]
    if page:
        k.put_page(s, page)
    s[b + Z_PAGE] = 0
    nxt = s[b + Z_TARGET] + 1
    if nxt >= len(k.unmap_targets[t]):
        s[b + Z_TARGET] = 0
        k.thread_finished(s, t)
    else:
        s[b + Z_TARGET] = nxt
        s[b + PC] = Z_START


def _reclaimable(k: Kernel, s: bytes | bytearray, gfn: int) -> int:
    """The anonymous, non-KSM page the gfn maps, or 0."""
    L = k.L
    page = s[L.PTE_PFN[gfn]]
    if not pte_present(k, s, gfn) or page < L.first_pool_pfn or s[L.FLAGS[page]] & PG_KSM:
        return 0
    return page


@step("kswapd", "page_idle_clear_pte_refs_one(): ptep_clear_young_notify() -> "
      "mmu_notifier_clear_young()", lock="ptl, mmu_lock", guard=ptl_free,
      reads="pte ptl spte", writes="pte ptl spte")
def page_idle_clear_pte_refs(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = k.scenario.aging[s[b + R_TARGET]]
    if pte_present(k, s, gfn):
        s[L.PTE_YOUNG[gfn]] = 0
        if k.aging_walk_lockless(s, t, gfn, R_AGE_IDLE):
            return
        k.mmu_notifier_clear_young(s, gfn)
    s[b + PC] = after_clear_young(k)


def after_clear_young(k: Kernel) -> int:
    return R_TEST_YOUNG if k.aging_notifiers != "clear_flush_young" else R_REFERENCED


@helper
def aging_walk_lockless(k: Kernel, s: bytearray, t: int, gfn: int, age_pc: int) -> bool:
    """The walk of a lockless aging notifier (``kvm_age_hva_range()`` with ``.lockless``, then
    ``__kvm_tdp_mmu_age_gfn_range()`` under RCU): it reads the SPTE, skips one that is not
    present or not accessed, and otherwise updates it in a later step, which zaps and faults
    (mmu_lock sections) may precede.  The PTL of the primary PTE stays held, as
    page_vma_mapped_walk() holds it around the notifier.  False when aging takes mmu_lock."""
    L = k.L
    if k.lockless_aging == "locked" or not k.kvm_subscribed or not L.track_young:
        return False
    if not s[L.SPTE_PFN[gfn]] or not s[L.SPTE_YOUNG[gfn]]:
        return bool(k.aging_skips_old(s, t, age_pc))
    b = k.base[t]
    writable = bool(s[L.SPTE_W[gfn]])
    if k.lockless_aging == "plain_write":
        s[b + R_PAGE] = s[L.SPTE_PFN[gfn]]
    s[L.PTL] = 1
    s[b + PC] = age_pc + 1 if writable and k.lockless_aging == "plain_write" else age_pc
    return True


@helper
def aging_skips_old(k: Kernel, s: bytearray, t: int, age_pc: int) -> bool:
    """A lockless walk that found nothing accessed: clear_young moves on here; for
    clear_flush_young the caller decides on the primary PTE's young bit alone (false)."""
    if age_pc == R_AGE_IDLE:
        s[k.base[t] + PC] = after_clear_young(k)
        return True
    return False


@step("kswapd", "kvm_tdp_mmu_age_spte(): the aging walk's update of the SPTE it read, without mmu_lock "
      "(tdp_mmu_clear_spte_bits_atomic(shadow_accessed_mask) in v6.15); then pte_unmap_unlock()", lock="ptl, rcu",
      reads="spte", writes="ptl spte")
def kvm_age_spte_lockless(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    """The update of a lockless aging walk, after any number of other threads' steps.
    atomic: clear the Accessed bit of whatever the SPTE holds now (a zapped SPTE stays
    zapped); plain_write: store the SPTE the walk read, old, over whatever is there now.
    Either way the page is reported young, from the SPTE the walk read."""
    L = k.L
    b = k.base[t]
    pc = s[b + PC]
    gfn = k.scenario.aging[s[b + R_TARGET]]
    if k.lockless_aging == "plain_write":
        before = (s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
        s[L.SPTE_PFN[gfn]] = s[b + R_PAGE]
        s[L.SPTE_W[gfn]] = 1 if pc in (R_AGE_IDLE_W, R_AGE_REFERENCED_W) else 0
        s[b + R_PAGE] = 0
        after = (s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
        if after != before:
            k.say(lambda: f"lockless aging stored spte[{gfn}] = {k.spte_text(*after)} "
                   f"over {k.spte_text(*before)}")
    s[L.SPTE_YOUNG[gfn]] = 0
    s[L.PTL] = 0
    if pc in (R_AGE_IDLE, R_AGE_IDLE_W):
        s[b + PC] = after_clear_young(k)
        return
    k.fire(AGING_FOUND_YOUNG, lambda: f"page_referenced: gfn {gfn} is young (lockless walk), page kept")
    k.reclaim_next_target(s, t)


@step("kswapd", "mmu_notifier_test_young() (as khugepaged and MGLRU's look-around call it)",
      lock="mmu_lock",
      reads="pte spte", writes="")
def mmu_notifier_test_young_probe(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = k.scenario.aging[s[b + R_TARGET]]
    if (pte_present(k, s, gfn) and s[L.PTE_YOUNG[gfn]]) or k.mmu_notifier_test_young(s, gfn):
        k.fire(AGING_FOUND_YOUNG, lambda: f"test_young: gfn {gfn} is young")
    s[b + PC] = R_REFERENCED


@step("kswapd", "page_referenced() -> page_referenced_one(): ptep_clear_flush_young_notify() -> "
      "mmu_notifier_clear_flush_young(); then trylock_page() and isolate for reclaim",
      lock="ptl, mmu_lock", guard=ptl_free,
      reads="page pte ptl spte", writes="page pte ptl spte")
def page_referenced(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = k.scenario.aging[s[b + R_TARGET]]
    page = _reclaimable(k, s, gfn)
    if not page:
        k.reclaim_next_target(s, t)
        return
    young = bool(s[L.PTE_YOUNG[gfn]])
    s[L.PTE_YOUNG[gfn]] = 0
    if k.aging_walk_lockless(s, t, gfn, R_AGE_REFERENCED):
        return
    young = k.mmu_notifier_clear_flush_young(s, gfn) or young
    if young:
        k.fire(AGING_FOUND_YOUNG, lambda: f"page_referenced: gfn {gfn} is young, page kept")
        k.reclaim_next_target(s, t)
        return
    if not k.scenario.reclaim or not k.trylock_page(s, page):
        k.reclaim_next_target(s, t)
        return
    k.get_page(s, page)
    s[b + R_PAGE] = page
    s[b + PC] = R_UNMAP if k.rmap_unmap_notifier == "invalidate_page" else R_UNMAP_START


@step("kswapd", "try_to_unmap(): mmu_notifier_invalidate_range_start(MMU_NOTIFY_CLEAR)", lock="mmu_lock",
      guard=mn_start_ready,
      reads="count spte slot", writes="count spte spt_table", notifier="start")
def try_to_unmap_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    k.mmu_notifier_invalidate_range_start(s, k.scenario.aging[s[b + R_TARGET]], False)
    s[b + PC] = R_UNMAP


@step("kswapd", "try_to_unmap_one(): ptep_clear_flush() (ptep_clear_flush_notify() -> "
      ".invalidate_page before v4.13); swap entry; page_remove_rmap(); put_page()",
      lock="ptl", guard=ptl_free,
      reads="data page pte ptl seq spte slot", writes="data page pte seq spte spt_table")
def try_to_unmap_one(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = k.scenario.aging[s[b + R_TARGET]]
    page = s[b + R_PAGE]
    if pte_present(k, s, gfn) and s[L.PTE_PFN[gfn]] == page:
        k.ptep_clear_flush(s, gfn, 0)
        if k.rmap_unmap_notifier == "invalidate_page":
            k.mmu_notifier_invalidate_page(s, gfn)
        s[L.SWAP_VAL[gfn]] = s[L.VAL[page]]
        s[L.PTE_PROT[gfn]] = PTE_SWAP
        k.page_remove_rmap(s, page)
        k.put_page(s, page)
        k.fire(PAGE_RECLAIMED, lambda: f"kswapd unmapped gfn {gfn} ({k.page_name(page)}) to swap")
    s[b + PC] = R_FREE if k.rmap_unmap_notifier == "invalidate_page" else R_UNMAP_END


@step("kswapd", "try_to_unmap(): mmu_notifier_invalidate_range_end()", lock="mmu_lock",
      guard=mn_end_ready,
      reads="count seq slot", writes="count seq", notifier="end")
def try_to_unmap_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    k.mmu_notifier_invalidate_range_end(s, k.scenario.aging[s[b + R_TARGET]], False)
    s[b + PC] = R_FREE


@step("kswapd", "shrink_page_list(): unlock_page(); put_page() of the isolated page", lock="page lock",
      reads="page", writes="data page")
def shrink_page_list_free(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    page = s[b + R_PAGE]
    k.unlock_page(s, page)
    k.put_page(s, page)
    s[b + R_PAGE] = 0
    k.reclaim_next_target(s, t)


@helper
def reclaim_next_target(k: Kernel, s: bytearray, t: int) -> None:
    b = k.base[t]
    nxt = s[b + R_TARGET] + 1
    if nxt >= len(k.scenario.aging):
        s[b + R_TARGET] = 0
        k.thread_finished(s, t)
    else:
        s[b + R_TARGET] = nxt
        s[b + PC] = first_reclaim_pc(k)


def first_reclaim_pc(k: Kernel) -> int:
    """Where kswapd's round starts: the aging notifiers the era has.  test_young came in
    v2.6.38 (8ee53820edfd, "thp: mmu_notifier_test_young") and clear_young with page idle
    tracking in v4.3 (1d7715c676a1); 2.6.32 has only clear_flush_young."""
    return {"clear_young": R_CLEAR_YOUNG, "test_young": R_TEST_YOUNG}.get(k.aging_notifiers, R_REFERENCED)

