"""A vCPU: guest accesses, and KVM's page-fault path in the kernel's own steps.

The fault path is x86's ``direct_page_fault()`` (arm64's ``user_mem_abort()`` has
the same shape): snapshot ``mmu_notifier_seq``, look the page up with
``hva_to_pfn()`` (which may fault the page in or break COW, and takes a page
reference), take ``mmu_lock``, retry if ``mmu_notifier_retry()`` says so, else
map the pfn; drop the reference; return to the guest, which re-executes the
access (a retried fault returns to the guest too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import COW_BROKEN, DATA_INTEGRITY, FAULT_RETRIED, USE_AFTER_FREE
from mmuspec.model.layout import (
    PC,
    PG_KSM,
    PTE_RO,
    PTE_RW,
    PTE_SWAP,
    V_DONE,
    V_GFN,
    V_NEW,
    V_OLD,
    V_PFN,
    V_PFN_W,
    V_SNAP,
    V_WRITE,
    ZERO_PFN,
)
from mmuspec.model.pages import page_locked
from mmuspec.model.primary import gup_fast_pfn, pte_maps, pte_present
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

# Program counters of a vCPU.
NEW, RETRY, GUP, WAIT_PAGE_LOCK, COW_START, COW_LOCK, COW_NOTIFY, COW_END, MAP, RELEASE, DONE = range(11)
PC_NAMES = (
    "guest", "retry", "hva_to_pfn", "lock_page", "cow_start", "cow_lock", "cow_notify",
    "cow_end", "mmu_lock", "release", "done",
)


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    """Which steps a vCPU may take at each pc; the access choices come from the scenario."""
    choices = [
        ("guest_access", gfn * 2 + (op == "write"))
        for gfn in k.scenario.guest_gfns
        for op in k.scenario.ops
    ]
    return {
        NEW: choices,
        RETRY: [("guest_retry", 0)],
        GUP: [("hva_to_pfn", 0)],
        WAIT_PAGE_LOCK: [("wait_on_page_locked", 0)],
        COW_START: [("wp_page_copy_start", 0)],
        COW_LOCK: [("wp_page_copy_lock", 0)],
        COW_NOTIFY: [("wp_page_copy_notify", 0)],
        COW_END: [("wp_page_copy_end", 0)],
        MAP: [("direct_page_fault", 0)],
        RELEASE: [("kvm_release_pfn_clean", 0)],
        DONE: [],
    }


def ptl_free(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    return not s[k.L.PTL]


def hva_to_pfn_can_run(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """get_user_pages_fast() needs no lock; the slow path waits for the PTL."""
    if not s[k.L.PTL]:
        return True
    b = k.base[t]
    return bool(gup_fast_pfn(k, s, s[b + V_GFN], bool(s[b + V_WRITE]) or k.gup_write_always))


def page_unlocked_and_ptl_free(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    return not s[k.L.PTL] and not page_locked(k, s, s[k.base[t] + V_OLD])


@step("vcpu", "guest load/store through the SPTE; on a missing or read-only SPTE: VM exit, "
      "kvm_mmu_page_fault(): mmu_seq = kvm->mmu_notifier_seq; smp_rmb()",
      reads="data page pte seq spte", writes="data spte")
def guest_access(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = divmod(arg, 2)
    k.guest_attempt(s, t)


@step("vcpu", "return to the guest (after mapping, or RET_PF_RETRY): the access re-executes",
      reads="data page pte seq spte", writes="data spte")
def guest_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.guest_attempt(s, t)


@helper
def guest_attempt(k: Kernel, s: bytearray, t: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, write = s[b + V_GFN], s[b + V_WRITE]
    pfn = s[L.SPTE_PFN[gfn]]
    if pfn and (not write or s[L.SPTE_W[gfn]]):
        k.guest_touch(s, gfn, write, pfn, t)
        done = s[b + V_DONE] + 1
        s[b + V_DONE] = done
        s[b + V_GFN] = s[b + V_WRITE] = 0
        if done == k.scenario.accesses:
            k.thread_finished(s, t)
        else:
            s[b + PC] = NEW
        return
    s[b + V_SNAP] = s[L.SEQ]
    s[b + PC] = GUP
    k.say(lambda: f"{'write' if write else 'read'} fault on gfn {gfn} (spte "
          f"{k.spte_text(pfn, s[L.SPTE_W[gfn]])}): mmu_seq = {s[L.SEQ]}")


@helper
def guest_touch(k: Kernel, s: bytearray, gfn: int, write: int, pfn: int, t: int) -> None:
    """The guest's load or store reaches ``pfn`` through the SPTE: check it."""
    L = k.L
    who = k.threads[t].name
    if not s[L.REF[pfn]]:
        k.fire(USE_AFTER_FREE, lambda: f"{who} {'writes' if write else 'reads'} gfn {gfn} through "
               f"spte -> {k.page_name(pfn)}, a freed frame")
    if write:
        target = s[L.PTE_PFN[gfn]]
        if pfn != target or s[L.PTE_PROT[gfn]] == PTE_SWAP or pfn == ZERO_PFN:
            k.fire(DATA_INTEGRITY, lambda: f"{who} writes gfn {gfn} into {k.page_name(pfn)} but the "
                   f"primary PTE maps {k.pte_text(s, gfn)}: the write is lost")
        value = s[L.LAST_WRITTEN] + 1
        s[L.LAST_WRITTEN] = value
        s[L.VAL[pfn]] = value
        s[L.EXPECT[gfn]] = value
    elif s[L.VAL[pfn]] != s[L.EXPECT[gfn]]:
        got, want = s[L.VAL[pfn]], s[L.EXPECT[gfn]]
        k.fire(DATA_INTEGRITY, lambda: f"{who} reads gfn {gfn} through spte -> {k.page_name(pfn)} "
               f"and gets {got}, but the guest last wrote {want}")
    if L.track_young:
        s[L.SPTE_YOUNG[gfn]] = 1


@step("vcpu", "hva_to_pfn(): get_user_pages_fast(), else get_user_pages() -> follow_page() "
      "and handle_mm_fault() under the PTL", lock="none (fast path) or ptl", guard=hva_to_pfn_can_run,
      reads="data page pte ptl", writes="data page pte")
def hva_to_pfn(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = s[b + V_GFN]
    write = bool(s[b + V_WRITE]) or k.gup_write_always
    prot = s[L.PTE_PROT[gfn]]
    # get_user_pages_fast() succeeds without the PTL on any present entry that allows
    # the access; a read fault maps a writable page writable ("map read fault as
    # writable if possible").
    if prot == PTE_RW or (prot == PTE_RO and not write):
        pfn = s[L.PTE_PFN[gfn]]
        k.get_page(s, pfn)
        k.pte_mkyoung(s, gfn)
        s[b + V_PFN] = pfn
        s[b + V_PFN_W] = 1 if prot == PTE_RW else 0
        s[b + PC] = MAP
        return
    # Slow path: follow_page() failed, so handle_mm_fault() and look again.
    if prot == PTE_SWAP:
        k.do_swap_page(s, gfn, write)
    elif not pte_present(k, s, gfn):
        k.do_anonymous_page(s, gfn, write)
    else:
        k.do_wp_page(s, t, gfn)


@helper
def do_wp_page(k: Kernel, s: bytearray, t: int, gfn: int) -> None:
    """do_wp_page(): a write to a read-only present PTE.  The zero page and KSM pages are
    always copied; other anonymous pages are reused in place when nobody else can see
    them (mapcount before v5.9, page_count() == 1 and trylock_page() since)."""
    L = k.L
    b = k.base[t]
    old = s[L.PTE_PFN[gfn]]
    copy = old == ZERO_PFN or bool(s[L.FLAGS[old]] & PG_KSM)
    if not copy:
        if k.wp_reuse == "page_count":
            copy = s[L.REF[old]] != 1 or page_locked(k, s, old)
        elif s[L.MAP[old]] != 1:
            copy = True
        elif page_locked(k, s, old):
            k.get_page(s, old)
            s[b + V_OLD] = old
            s[b + PC] = WAIT_PAGE_LOCK
            return
    if copy:
        k.get_page(s, old)
        k.wp_page_prepare_copy(s, t, old)
    else:
        k.wp_page_reuse(s, gfn)


@helper
def wp_page_reuse(k: Kernel, s: bytearray, gfn: int) -> None:
    """wp_page_reuse(): make the entry writable in place; same pfn, no notifier."""
    k.set_pte_at(s, gfn, s[k.L.PTE_PFN[gfn]], PTE_RW)


@helper
def wp_page_prepare_copy(k: Kernel, s: bytearray, t: int, old: int) -> None:
    """wp_page_copy() before the lock: allocate the new page and copy the old one into it
    (cow_user_page(), or a zeroed page for the zero page)."""
    b = k.base[t]
    s[b + V_OLD] = old
    s[b + V_NEW] = k.alloc_page(s, s[k.L.VAL[old]])
    s[b + PC] = COW_START if k.wrap_change_pte else COW_LOCK


@step("vcpu", "do_wp_page(): lock_page(old_page); pte_offset_map_lock(); pte_same()",
      lock="page lock, ptl", guard=page_unlocked_and_ptl_free,
      reads="page pte ptl", writes="data page pte")
def wait_on_page_locked(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, old = s[b + V_GFN], s[b + V_OLD]
    if pte_maps(k, s, gfn, old, PTE_RO) and s[L.MAP[old]] == 1:
        k.wp_page_reuse(s, gfn)
    elif pte_maps(k, s, gfn, old, PTE_RO):
        k.wp_page_prepare_copy(s, t, old)
        return
    k.put_page(s, old)
    s[b + V_OLD] = 0
    s[b + PC] = GUP


@step("vcpu", "wp_page_copy(): mmu_notifier_invalidate_range_start(MMU_NOTIFY_CLEAR, one page)",
      lock="mmu_lock",
      reads="count spte", writes="count spte", shared_if="start_zaps_change_pte_events")
def wp_page_copy_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mmu_notifier_invalidate_range_start(s, s[b + V_GFN], True)
    s[b + PC] = COW_LOCK


@step("vcpu", "wp_page_copy(): pte_offset_map_lock(); pte_same(); ptep_clear_flush(); "
      "page_add_new_anon_rmap()", lock="ptl", guard=ptl_free,
      reads="page pte ptl", writes="data page pte ptl")
def wp_page_copy_lock(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, old, new = s[b + V_GFN], s[b + V_OLD], s[b + V_NEW]
    if not pte_maps(k, s, gfn, old, PTE_RO):
        k.put_page(s, new)
        s[b + V_NEW] = 0
        k.wp_page_copy_leave(s, t)
        return
    k.ptep_clear_flush(s, gfn, new)
    k.page_add_rmap(s, new)
    if k.has_change_pte:
        if k.change_pte_order == "set_then_notify":
            k.set_pte_at(s, gfn, new, PTE_RW)
        s[L.PTL] = 1
        s[b + PC] = COW_NOTIFY
        return
    k.set_pte_at(s, gfn, new, PTE_RW)
    k.wp_page_copy_done(s, t)


@step("vcpu", "set_pte_at_notify() -> mmu_notifier_change_pte(); page_remove_rmap(old); "
      "pte_unmap_unlock()", lock="ptl, mmu_lock",
      reads="count page seq spt_table spte", writes="data page pte ptl seq spte")
def wp_page_copy_notify(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    gfn, new = s[b + V_GFN], s[b + V_NEW]
    k.mmu_notifier_change_pte(s, gfn, new, True)
    if k.change_pte_order == "notify_then_set":
        k.set_pte_at(s, gfn, new, PTE_RW)
    s[k.L.PTL] = 0
    k.wp_page_copy_done(s, t)


@helper
def wp_page_copy_done(k: Kernel, s: bytearray, t: int) -> None:
    """The new entry is in place: the old page loses this mapping and its reference."""
    b = k.base[t]
    gfn, old = s[b + V_GFN], s[b + V_OLD]
    k.page_remove_rmap(s, old)
    k.put_page(s, old)
    s[b + V_NEW] = 0
    k.fire(COW_BROKEN, lambda: f"{k.threads[t].name} broke COW of gfn {gfn}: "
           f"{k.page_name(old)} -> {k.page_name(s[k.L.PTE_PFN[gfn]])}")
    k.wp_page_copy_leave(s, t)


@helper
def wp_page_copy_leave(k: Kernel, s: bytearray, t: int) -> None:
    """Either invalidate_range_end() comes next, or (unwrapped, 2.6.32) the fault drops
    its reference to the old page and GUP looks again."""
    b = k.base[t]
    if k.wrap_change_pte:
        s[b + PC] = COW_END
        return
    k.put_page(s, s[b + V_OLD])
    s[b + V_OLD] = 0
    s[b + PC] = GUP


@step("vcpu", "wp_page_copy(): mmu_notifier_invalidate_range_end(); put_page(old_page)",
      lock="mmu_lock",
      reads="count page seq", writes="count data page seq")
def wp_page_copy_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mmu_notifier_invalidate_range_end(s, s[b + V_GFN], True)
    k.put_page(s, s[b + V_OLD])
    s[b + V_OLD] = 0
    s[b + PC] = GUP


@step("vcpu", "direct_page_fault(): spin_lock(mmu_lock); mmu_notifier_retry(); "
      "__direct_map() / kvm_tdp_mmu_map(); spin_unlock(mmu_lock)", lock="mmu_lock",
      reads="count seq", writes="spt_table spte")
def direct_page_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    if k.mmu_notifier_retry(s, s[b + V_SNAP]):
        L = k.L
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {s[b + V_GFN]} retried: count "
               f"{s[L.COUNT]}, seq {s[L.SEQ]} vs mmu_seq {s[b + V_SNAP]}")
    else:
        k.kvm_install_spte(s, s[b + V_GFN], s[b + V_PFN], bool(s[b + V_PFN_W]))
    s[b + PC] = RELEASE


@step("vcpu", "kvm_release_pfn_clean(): put_page() of the reference get_user_pages() took",
      reads="page", writes="data page")
def kvm_release_pfn_clean(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.put_page(s, s[b + V_PFN])
    s[b + V_SNAP] = s[b + V_PFN] = s[b + V_PFN_W] = 0
    s[b + PC] = RETRY
