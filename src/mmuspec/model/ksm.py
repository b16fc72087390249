"""ksmd: merging a guest page into a KSM page (mm/ksm.c).

One merge is ``cmp_and_merge_page()`` for one rmap_item: look the page up
(``follow_page(FOLL_GET)``, a reference), find a page with the same contents (the
scenario's stable page, or the partner page of the unstable tree), then
``try_to_merge_one_page()`` under the page lock: ``write_protect_page()`` (which refuses
when anyone else holds a reference: ``page_mapcount(page) + 1 + swapped !=
page_count(page)``), ``pages_identical()``, ``replace_page()`` (which refuses unless
``pte_same()``), and finally drop the reference.  Each PTL section and each notifier
call is a step of its own.

An unstable-tree hit is ``try_to_merge_two_pages()`` (2.6.33 on): the scanned page is
made the KSM page in place, then the tree page is merged into it.  ksmd holds a
reference on both pages from the lookup (``follow_page()`` and ``get_mergeable_page()``)
until both merges are over, so a COW that unmaps the new KSM page in between cannot free
it.  Deliberate simplifications: when the second merge fails the kernel's
``break_cow()`` of the first page is not modelled (the page stays a read-only KSM page
until the guest's next write copies it, which the model does); 2.6.32 allocated a fresh
KSM page and replaced both pages by it, where the model converts in place in every era;
and 2.6.32's failed ``write_protect_page()`` restored the entry with
``set_pte_at_notify()`` (a change_pte call: a seq bump and an SPTE drop) where the model
uses ``set_pte_at()`` as later kernels do, which changes reachability only.

ksmd never gives a page up: ``ksm_do_scan()`` scans every mergeable page again and again
(``scan_get_next_rmap_item()``, which empties the unstable tree at the start of each full
scan), so a page whose merge failed is tried again a scan later.  ``ksm.scans`` bounds the
full scans (default one).  A later scan skips what is a KSM page already and tries the rest
as the first did; the kernel's checksum test (an unstable-tree page whose contents changed
since the last scan waits one more) is not modelled, which only adds behaviours.  Where
the second merge of an unstable-tree pair failed, the first page stays a KSM page (no
``break_cow()``, as above), so a later scan skips the pair where the kernel, having broken
it, would try the pair again: that retry is missing.

A page freshly faulted in sits in a per-CPU LRU add batch, which holds a reference
(``folio_add_lru()``), until ``lru_add_drain_all()``; ksmd drains at the start of each full
scan, so write_protect_page() refuses such a page for the rest of the scan in which it
arrived.  ``memory.lru_add`` names the gfns whose initial page is in a batch (the model
starts after the current scan's drain); pages the model itself allocates are not put in one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import KSM_MERGE_ABORTED, KSM_MERGED
from mmuspec.model.guest import ptl_free
from mmuspec.model.layout import (
    K_KPAGE,
    K_ORIG_PFN,
    K_ORIG_PROT,
    K_PAGE,
    K_TARGET,
    K_TREE,
    KSM_PFN,
    PC,
    PG_KSM,
    PTE_RO,
    PTE_RW,
)
from mmuspec.model.notifier import mn_end_ready, mn_start_ready
from mmuspec.model.primary import pte_maps, pte_present
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

SCAN, WP_START, WP_LOCK, WP_NOTIFY, WP_END, CMP, RP_START, RP_LOCK, RP_NOTIFY, RP_END, FINISH, DONE = range(12)
PC_NAMES = (
    "scan", "wp_start", "wp_lock", "wp_notify", "wp_end", "compare", "rp_start", "rp_lock",
    "rp_notify", "rp_end", "finish", "done",
)


def targets(k: Kernel) -> list[tuple[int, bool]]:
    """(gfn, in_place) in the order ksmd handles them.  Without a stable page the
    unstable-tree hit makes the second page the KSM page in place
    (``try_to_merge_two_pages()``) and replaces the first by it."""
    merge = list(k.scenario.merge)
    if k.scenario.stable_page:
        return [(g, False) for g in merge]
    return [(merge[1], True), (merge[0], False)] + [(g, False) for g in merge[2:]]


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        SCAN: [("ksm_scan_page", 0)],
        WP_START: [("write_protect_page_start", 0)],
        WP_LOCK: [("write_protect_page_lock", 0)],
        WP_NOTIFY: [("write_protect_page_notify", 0)],
        WP_END: [("write_protect_page_end", 0)],
        CMP: [("try_to_merge_one_page_compare", 0)],
        RP_START: [("replace_page_start", 0)],
        RP_LOCK: [("replace_page_lock", 0)],
        RP_NOTIFY: [("replace_page_notify", 0)],
        RP_END: [("replace_page_end", 0)],
        FINISH: [("ksm_put_page", 0)],
        DONE: [],
    }


def initial_kpage(k: Kernel) -> int:
    return KSM_PFN if k.scenario.stable_page else 0


def _target(k: Kernel, s: bytes | bytearray, t: int) -> tuple[int, bool]:
    return k.ksm_targets[s[k.base[t] + K_TARGET]]


def _mergeable(k: Kernel, s: bytes | bytearray, gfn: int) -> int:
    """The anonymous, non-KSM page ``gfn`` maps, or 0."""
    L = k.L
    page = s[L.PTE_PFN[gfn]]
    if not pte_present(k, s, gfn) or page < L.first_pool_pfn or s[L.FLAGS[page]] & PG_KSM:
        return 0
    return page


@step("ksmd", "scan_get_next_rmap_item(): follow_page(FOLL_GET); cmp_and_merge_page(): "
      "stable tree search, or unstable_tree_search_insert() -> get_mergeable_page() and "
      "memcmp_pages(); try_to_merge_one_page(): trylock_page()",
      lock="ptl, page lock", guard=ptl_free,
      reads="data page pte ptl", writes="page")
def ksm_scan_page(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, in_place = _target(k, s, t)
    if k.unstable_merge and s[b + K_TARGET] == 1:
        # The tree page of try_to_merge_two_pages(): looked up with the scanned page.
        page = s[b + K_TREE]
        if not s[b + K_KPAGE] or not k.trylock_page(s, page):
            k.ksm_put_page_pair(s, t)
            return
        s[b + K_PAGE] = page
        s[b + PC] = WP_START if k.wrap_change_pte else WP_LOCK
        return
    page = _mergeable(k, s, gfn)
    if not page:
        k.ksm_next_target(s, t, 2 if in_place else 1)
        return
    if in_place:
        partner = _mergeable(k, s, k.scenario.merge[0])
        match = bool(partner) and s[L.VAL[partner]] == s[L.VAL[page]]
    else:
        partner = 0
        kpage = s[b + K_KPAGE]
        match = bool(kpage) and s[L.VAL[kpage]] == s[L.VAL[page]]
    if not match or not k.trylock_page(s, page):
        k.ksm_next_target(s, t, 2 if in_place else 1)
        return
    k.get_page(s, page)
    if partner:
        k.get_page(s, partner)
        s[b + K_TREE] = partner
    s[b + K_PAGE] = page
    s[b + PC] = WP_START if k.wrap_change_pte else WP_LOCK


@step("ksmd", "write_protect_page(): mmu_notifier_invalidate_range_start(MMU_NOTIFY_CLEAR)",
      lock="mmu_lock", guard=mn_start_ready,
      reads="count spte slot", writes="count spte spt_table", shared_if="start_zaps_change_pte_events",
      notifier="start")
def write_protect_page_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.mn_phases_reset(s, t)
    gfn, _ = _target(k, s, t)
    k.mmu_notifier_invalidate_range_start(s, gfn, True)
    s[k.base[t] + PC] = WP_LOCK


@step("ksmd", "write_protect_page(): page_vma_mapped_walk(); ptep_clear_flush(); "
      "page_mapcount(page) + 1 + swapped != page_count(page)?", lock="ptl", guard=ptl_free,
      reads="page pte ptl", writes="pte ptl")
def write_protect_page_lock(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    """The PTL section of write_protect_page().  The kernel write-protects an entry that is
    writable or dirty (and, later, savedwrite, under a pending TLB flush, or
    PageAnonExclusive); the model has no dirty bit and no PAE, so it acts on writable
    entries and treats a read-only one as already done."""
    L = k.L
    b = k.base[t]
    gfn, _ = _target(k, s, t)
    page = s[b + K_PAGE]
    if not (pte_maps(k, s, gfn, page, PTE_RW) or pte_maps(k, s, gfn, page, PTE_RO)):
        k.fire(KSM_MERGE_ABORTED, lambda: f"write_protect_page: gfn {gfn} no longer maps {k.page_name(page)}")
        k.write_protect_page_leave(s, t, False)
        return
    if s[L.PTE_PROT[gfn]] == PTE_RO:
        k.write_protect_page_leave(s, t, True)
        return
    k.ptep_clear_flush(s, gfn, page)
    if s[L.MAP[page]] + 1 != s[L.REF[page]]:
        k.set_pte_at(s, gfn, page, PTE_RW)
        refs, maps = s[L.REF[page]], s[L.MAP[page]]
        k.fire(KSM_MERGE_ABORTED, lambda: f"write_protect_page: {k.page_name(page)} has page_count {refs} "
               f"but mapcount {maps} + 1: someone else holds a reference")
        k.write_protect_page_leave(s, t, False)
        return
    if k.notifies_change_pte:
        if k.change_pte_order == "set_then_notify":
            k.set_pte_at(s, gfn, page, PTE_RO)
        s[L.PTL] = 1
        s[b + PC] = WP_NOTIFY
        return
    k.set_pte_at(s, gfn, page, PTE_RO)
    k.write_protect_page_leave(s, t, True)


@step("ksmd", "write_protect_page(): set_pte_at_notify(pte_wrprotect(entry)) -> "
      "mmu_notifier_change_pte(); pte_unmap_unlock()", lock="ptl, mmu_lock",
      reads="count seq spt_table spte slot attr", writes="pte ptl seq spte spt_table")
def write_protect_page_notify(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    gfn, _ = _target(k, s, t)
    page = s[k.base[t] + K_PAGE]
    k.mmu_notifier_change_pte(s, gfn, page, False)
    if k.change_pte_order == "notify_then_set":
        k.set_pte_at(s, gfn, page, PTE_RO)
    s[k.L.PTL] = 0
    k.write_protect_page_leave(s, t, True)


@helper
def write_protect_page_leave(k: Kernel, s: bytearray, t: int, ok: bool) -> None:
    """Record *orig_pte on success; continue with invalidate_range_end, or (unwrapped)
    straight to the comparison."""
    b = k.base[t]
    if ok:
        s[b + K_ORIG_PFN] = s[b + K_PAGE]
        s[b + K_ORIG_PROT] = PTE_RO
    if k.wrap_change_pte:
        s[b + PC] = WP_END
    else:
        s[b + PC] = CMP if ok else FINISH


@step("ksmd", "write_protect_page(): mmu_notifier_invalidate_range_end()", lock="mmu_lock",
      guard=mn_end_ready,
      reads="count seq slot", writes="count seq", shared_if="start_zaps_change_pte_events", notifier="end")
def write_protect_page_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    gfn, _ = _target(k, s, t)
    k.mmu_notifier_invalidate_range_end(s, gfn, True)
    s[b + PC] = CMP if s[b + K_ORIG_PROT] else FINISH


@step("ksmd", "try_to_merge_one_page(): pages_identical(page, kpage), or set_page_stable_node() "
      "for the first page of an unstable-tree pair", lock="page lock",
      reads="data page", writes="page")
def try_to_merge_one_page_compare(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    _gfn, in_place = _target(k, s, t)
    page = s[b + K_PAGE]
    if in_place:
        s[L.FLAGS[page]] |= PG_KSM
        s[b + K_KPAGE] = page
        s[b + PC] = FINISH
        return
    kpage = s[b + K_KPAGE]
    if s[L.VAL[page]] != s[L.VAL[kpage]]:
        k.fire(KSM_MERGE_ABORTED, lambda: f"pages_identical({k.page_name(page)}, {k.page_name(kpage)}) failed")
        s[b + PC] = FINISH
        return
    s[b + PC] = RP_START if k.wrap_change_pte else RP_LOCK


@step("ksmd", "replace_page(): mmu_notifier_invalidate_range_start(MMU_NOTIFY_CLEAR)", lock="mmu_lock",
      guard=mn_start_ready,
      reads="count spte slot", writes="count spte spt_table", shared_if="start_zaps_change_pte_events",
      notifier="start")
def replace_page_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.mn_phases_reset(s, t)
    gfn, _ = _target(k, s, t)
    k.mmu_notifier_invalidate_range_start(s, gfn, True)
    s[k.base[t] + PC] = RP_LOCK


@step("ksmd", "replace_page(): pte_offset_map_lock(); pte_same(); get_page(kpage); "
      "page_add_anon_rmap(kpage); ptep_clear_flush()", lock="ptl", guard=ptl_free,
      reads="page pte ptl", writes="page pte ptl")
def replace_page_lock(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, _ = _target(k, s, t)
    orig_pfn, orig_prot = s[b + K_ORIG_PFN], s[b + K_ORIG_PROT]
    if not pte_maps(k, s, gfn, orig_pfn, orig_prot):
        k.fire(KSM_MERGE_ABORTED, lambda: f"replace_page: pte_same failed, gfn {gfn} now maps {k.pte_text(s, gfn)}")
        s[b + PC] = RP_END if k.wrap_change_pte else FINISH
        return
    kpage = s[b + K_KPAGE]
    k.get_page(s, kpage)
    k.page_add_rmap(s, kpage)
    k.ptep_clear_flush(s, gfn, kpage)
    if k.notifies_change_pte:
        if k.change_pte_order == "set_then_notify":
            k.set_pte_at(s, gfn, kpage, PTE_RO)
        s[L.PTL] = 1
        s[b + PC] = RP_NOTIFY
        return
    k.set_pte_at(s, gfn, kpage, PTE_RO)
    k.replace_page_done(s, t)


@step("ksmd", "replace_page(): set_pte_at_notify(mk_pte(kpage)) -> mmu_notifier_change_pte(); "
      "page_remove_rmap(page); put_page(page); pte_unmap_unlock()", lock="ptl, mmu_lock",
      reads="count page seq spt_table spte slot attr", writes="page pte ptl seq spte spt_table")
def replace_page_notify(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    gfn, _ = _target(k, s, t)
    kpage = s[k.base[t] + K_KPAGE]
    k.mmu_notifier_change_pte(s, gfn, kpage, False)
    if k.change_pte_order == "notify_then_set":
        k.set_pte_at(s, gfn, kpage, PTE_RO)
    s[k.L.PTL] = 0
    k.replace_page_done(s, t)


@helper
def replace_page_done(k: Kernel, s: bytearray, t: int) -> None:
    """The KSM page is mapped: the old page loses its mapping and the mapping's
    reference (put_page(), which frees it if nobody else holds one)."""
    b = k.base[t]
    gfn, _ = _target(k, s, t)
    page = s[b + K_PAGE]
    k.page_remove_rmap(s, page)
    k.put_page(s, page)
    k.fire(KSM_MERGED, lambda: f"ksmd merged gfn {gfn}: {k.page_name(page)} -> {k.page_name(s[b + K_KPAGE])}")
    s[b + PC] = RP_END if k.wrap_change_pte else FINISH


@step("ksmd", "replace_page(): mmu_notifier_invalidate_range_end()", lock="mmu_lock",
      guard=mn_end_ready,
      reads="count seq slot", writes="count seq", shared_if="start_zaps_change_pte_events", notifier="end")
def replace_page_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.mn_phases_reset(s, t)
    gfn, _ = _target(k, s, t)
    k.mmu_notifier_invalidate_range_end(s, gfn, True)
    s[k.base[t] + PC] = FINISH


@step("ksmd", "try_to_merge_one_page(): unlock_page(); cmp_and_merge_page() caller: put_page(page); "
      "after try_to_merge_two_pages(): put_page(tree_page)",
      lock="page lock",
      reads="page", writes="data page")
def ksm_put_page(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    page = s[b + K_PAGE]
    k.unlock_page(s, page)
    if k.unstable_merge and s[b + K_TARGET] == 0 and s[b + K_KPAGE] == page:
        # The scanned page is now the KSM page: keep both references for the second merge.
        k.ksm_next_target(s, t)
        return
    if k.unstable_merge and s[b + K_TARGET] < 2:
        k.ksm_put_page_pair(s, t)
        return
    k.put_page(s, page)
    k.ksm_next_target(s, t)


@helper
def ksm_put_page_pair(k: Kernel, s: bytearray, t: int) -> None:
    """The end of try_to_merge_two_pages(), merged or not: put_page(tree_page), then the
    caller's put_page(page) of the scanned page (the KSM page, if the first merge took)."""
    b = k.base[t]
    k.put_page(s, s[b + K_TREE])
    scanned = s[b + K_KPAGE] or s[b + K_PAGE]
    k.put_page(s, scanned)
    s[b + K_TREE] = 0
    k.ksm_next_target(s, t, 2 - s[b + K_TARGET])


@helper
def lru_add_drain_all(k: Kernel, s: bytearray) -> None:
    """lru_add_drain_all(), at the start of ksmd's full scan: each per-CPU LRU add batch moves
    its pages to the LRU lists and drops the reference folio_add_lru() took."""
    L = k.L
    for pfn in range(L.first_pool_pfn, L.frames):
        if s[L.LRU_ADD[pfn]]:
            s[L.LRU_ADD[pfn]] = 0
            k.put_page(s, pfn)


@helper
def ksm_next_target(k: Kernel, s: bytearray, t: int, skip: int = 1) -> None:
    b = k.base[t]
    s[b + K_PAGE] = s[b + K_ORIG_PFN] = s[b + K_ORIG_PROT] = 0
    nxt = s[b + K_TARGET] + skip
    if nxt < len(k.ksm_targets):
        s[b + K_TARGET] = nxt
        s[b + PC] = SCAN
        return
    s[b + K_TARGET] = 0
    if k.L.K_SEQNR >= 0 and s[b + k.L.K_SEQNR] + 1 < k.scenario.ksm_scans:
        # scan_get_next_rmap_item() at the end of a full scan: ksm_scan.seqnr++, and the next
        # scan starts from the first page, after lru_add_drain_all(), with the unstable tree
        # emptied.
        s[b + k.L.K_SEQNR] += 1
        s[b + K_KPAGE] = KSM_PFN if k.scenario.stable_page else 0
        if k.L.track_lru_add:
            k.lru_add_drain_all(s)
        s[b + PC] = SCAN
    else:
        k.thread_finished(s, t)
