"""KVM's own MMU work outside the notifier callbacks: remote TLB flushes, and two
threads that zap SPTEs on KVM's behalf.

* ``kvm_zap`` is ``kvm_zap_gfn_range()``: its caller first changes what faults derive
  for a gfn range (MTRRs, the APICv inhibit, memory attributes), then the zap removes
  the SPTEs built from the old information.  The zap may drop mmu_lock between zapping
  and its end (``tdp_mmu_iter_cond_resched()``); a fault that takes mmu_lock in that
  window must see the count raised over its address, or it installs a stale SPTE behind
  the zap.  edb298c663fc raised the count with the gfn range where faults compare hvas;
  6d3085e4d89a blocks every fault instead.
* ``kvm_sync`` is the shadow-paging ``sync_page`` path of a4ee1ca4a36e: it drops an
  SPTE without flushing the TLBs and only counts ``kvm->tlbs_dirty``; the next
  ``invalidate_range_start()`` must flush because of it (88bf56d04bc3).

The per-vCPU TLB exists only when the scenario asks for it (``[guest] tlb``); without it
every flush is a no-op and SPTE changes are seen at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mmuspec.model.events import SPTE_ZAPPED
from mmuspec.model.layout import ALL_ONES, PC, T_TARGET
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

KZ_ATTR, KZ_ZAP, KZ_END, KZ_DONE = range(4)
KVM_ZAP_PC_NAMES = ("update_attributes", "zap", "end", "done")
KS_SYNC, KS_DONE = range(2)
KVM_SYNC_PC_NAMES = ("sync_page", "done")


def kvm_zap_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        KZ_ATTR: [("kvm_update_gfn_attributes", 0)],
        KZ_ZAP: [("kvm_zap_gfn_range", 0)],
        KZ_END: [("kvm_zap_gfn_range_end", 0)],
        KZ_DONE: [],
    }


def kvm_sync_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {KS_SYNC: [("kvm_sync_page", 0)], KS_DONE: []}


@helper
def kvm_flush_remote_tlbs(k: Kernel, s: bytearray) -> None:
    """kvm_flush_remote_tlbs(): every vCPU's TLB loses its entries; tlbs_dirty is reset
    (the cmpxchg of a4ee1ca4a36e)."""
    L = k.L
    if not L.track_tlb:
        return
    for b in k.vcpu_bases:
        for i in L.V_TLB_PFN:
            s[b + i] = 0
        for i in L.V_TLB_W:
            s[b + i] = 0
    if L.TLBS_DIRTY >= 0:
        s[L.TLBS_DIRTY] = 0


@helper
def kvm_flush_if_needed(k: Kernel, s: bytearray, zapped: bool) -> None:
    """The flush of invalidate_range_start() and invalidate_page(): "we've to flush the tlb
    before the pages can be freed", if the unmap zapped something or sync_page left SPTEs
    unflushed.  Until 88bf56d04bc3, ``need_tlb_flush |= kvm->tlbs_dirty`` kept only the int's
    worth of the long count (the model keeps 4 bits: 16 reads as 0)."""
    L = k.L
    if not L.track_tlb:
        return
    need = zapped
    if L.TLBS_DIRTY >= 0:
        dirty = s[L.TLBS_DIRTY]
        need = need or bool(dirty & 0xF if k.tlbs_dirty == "truncated" else dirty)
    if need:
        k.kvm_flush_remote_tlbs(s)


def zapped_text(what: str, gfn: int, after: str = "") -> Callable[[], str]:
    return lambda: f"{what} spte[{gfn}]{after}"


@step("kvm_zap", "the caller of kvm_zap_gfn_range() changes what faults derive for the range: "
      "kvm_mtrr_set_msr(), __kvm_set_or_clear_apicv_inhibit(), kvm_vm_set_mem_attributes()",
      reads="attr", writes="attr")
def kvm_update_gfn_attributes(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    for gfn in k.scenario.zap_gfn_range:
        s[L.ATTR[gfn]] ^= 1
    s[L.ATTR_PENDING] = 1
    s[k.base[t] + PC] = KZ_ZAP


@step("kvm_zap", "kvm_zap_gfn_range(): write_lock(mmu_lock); kvm_inc_notifier_count() / "
      "kvm_mmu_invalidate_begin(); zap the SPTEs and flush; tdp_mmu_iter_cond_resched() may drop "
      "mmu_lock", lock="mmu_lock",
      reads="count spte", writes="count spte spt_table")
def kvm_zap_gfn_range(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    gfns = k.scenario.zap_gfn_range
    mode = k.zap_gfn_range_count
    if mode == "gfn_range" and k.invalidate_begin_add_end:
        # v6.8: kvm_mmu_invalidate_begin(kvm); kvm_mmu_invalidate_range_add(kvm, gfn_start, gfn_end);
        k.kvm_mmu_invalidate_begin(s)
        k.kvm_mmu_invalidate_range_add(s, min(gfns), max(gfns) + 1)
    elif mode == "gfn_range":
        k.kvm_inc_notifier_count(s, min(gfns), max(gfns) + 1)
    elif mode == "all":
        k.kvm_inc_notifier_count(s, 0, ALL_ONES)
    zapped = False
    for gfn in gfns:
        if s[k.L.SPTE_PFN[gfn]]:
            k.fire(SPTE_ZAPPED, zapped_text("kvm_zap_gfn_range zapped", gfn))
        zapped = k.kvm_unmap_gfn_range(s, gfn) or zapped
    if zapped:
        k.kvm_flush_remote_tlbs(s)
    s[k.base[t] + PC] = KZ_END


@step("kvm_zap", "kvm_zap_gfn_range(): kvm_dec_notifier_count() / kvm_mmu_invalidate_end(); "
      "write_unlock(mmu_lock)", lock="mmu_lock",
      reads="count seq", writes="attr count seq")
def kvm_zap_gfn_range_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    if k.zap_gfn_range_count != "none" and k.invalidate_begin_add_end:
        k.kvm_mmu_invalidate_end(s)
    elif k.zap_gfn_range_count != "none":
        k.kvm_dec_notifier_count(s)
    s[k.L.ATTR_PENDING] = 0
    s[k.base[t] + T_TARGET] = 0
    k.thread_finished(s, t)


@step("kvm_sync", "FNAME(sync_page)(): a guest PTE changed under an unsync shadow page: drop the SPTE "
      "under mmu_lock and, since a4ee1ca4a36e, only count kvm->tlbs_dirty instead of flushing",
      lock="mmu_lock",
      reads="spte", writes="spte spt_table")
def kvm_sync_page(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    zapped = False
    for gfn in k.scenario.sync_page:
        if s[L.SPTE_PFN[gfn]]:
            k.fire(SPTE_ZAPPED, zapped_text("sync_page dropped", gfn, " without a TLB flush"))
        zapped = k.kvm_unmap_gfn_range(s, gfn) or zapped
    if zapped:
        if k.tlbs_dirty == "none":
            k.kvm_flush_remote_tlbs(s)
        else:
            s[L.TLBS_DIRTY] += 1
    k.thread_finished(s, t)
