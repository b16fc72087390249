"""KVM's side of the protocol: its MMU-notifier callbacks and the retry test.

Each callback runs entirely under ``kvm->mmu_lock`` (taken for write), so it is
part of one atomic step of the thread that calls the notifier.  The fields are
the pre-v6.0 names (``mmu_notifier_seq``/``mmu_notifier_count``; renamed
``mmu_invalidate_seq``/``mmu_invalidate_in_progress`` by 20ec3ebd707c).  The
single memslot covers every gfn, so the hva->gfn walk of
``__kvm_handle_hva_range()`` always finds it and ``on_lock`` always runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import (
    BUG_COUNT_NEGATIVE,
    CHANGE_PTE_CALLED,
    SPTE_ZAPPED,
    WARN_CHANGE_PTE,
)
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


@helper
def kvm_mmu_notifier_invalidate_range_start(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """kvm_mmu_notifier_invalidate_range_start(): under mmu_lock, count++ ("must become
    visible at unlock time as no spte can be established without taking the mmu_lock"),
    then kvm_unmap_gfn_range() and flush.  The 2019 proposal returned early for
    MMU_NOTIFIER_USE_CHANGE_PTE ranges."""
    if change_pte_event and not k.start_zaps_change_pte_events:
        return
    s[k.L.COUNT] += 1
    if s[k.L.SPTE_PFN[gfn]]:
        k.fire(SPTE_ZAPPED, lambda: f"invalidate_range_start zapped spte[{gfn}]")
    k.kvm_unmap_gfn_range(s, gfn)


@helper
def kvm_mmu_notifier_invalidate_range_end(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """kvm_mmu_notifier_invalidate_range_end(): under mmu_lock, seq++; smp_wmb(); count--;
    then BUG_ON(count < 0)."""
    if change_pte_event and not k.start_zaps_change_pte_events:
        return
    L = k.L
    if k.end_bumps_seq:
        s[L.SEQ] += 1
    if s[L.COUNT] == 0:
        k.fire(BUG_COUNT_NEGATIVE, lambda: "invalidate_range_end with mmu_notifier_count == 0")
        return
    s[L.COUNT] -= 1


@helper
def kvm_mmu_notifier_change_pte(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool) -> None:
    """kvm_mmu_notifier_change_pte(): under mmu_lock.  2009-v5.12: mmu_notifier_seq++ then
    kvm_set_spte_hva(); v5.13 (c13fda237f08): WARN_ON_ONCE(!mmu_notifier_count) instead of
    the bump, then kvm_set_spte_gfn() through the generic hva walker."""
    k.fire(CHANGE_PTE_CALLED, lambda: f"change_pte(gfn {gfn} -> {k.page_name(pfn)} {'rw' if writable else 'ro'})")
    mode = k.change_pte
    if mode == "bump_seq":
        s[k.L.SEQ] += 1
    elif mode == "warn_count" and s[k.L.COUNT] == 0:
        k.fire(WARN_CHANGE_PTE, lambda: "WARN_ON_ONCE(!kvm->mmu_notifier_count) in kvm_mmu_notifier_change_pte")
    k.kvm_set_spte_gfn(s, gfn, pfn, writable)


@helper
def kvm_mmu_notifier_invalidate_page(k: Kernel, s: bytearray, gfn: int) -> None:
    """kvm_mmu_notifier_invalidate_page() (until v4.13): under mmu_lock, seq++ and
    kvm_unmap_hva(); the page is already unmapped from the primary PTE."""
    s[k.L.SEQ] += 1
    if s[k.L.SPTE_PFN[gfn]]:
        k.fire(SPTE_ZAPPED, lambda: f"invalidate_page zapped spte[{gfn}]")
    k.kvm_unmap_gfn_range(s, gfn)


@helper
def kvm_mmu_notifier_clear_flush_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_mmu_notifier_clear_flush_young(): kvm_age_gfn() under mmu_lock, flush if young.
    Never touches seq or count."""
    return bool(k.kvm_age_gfn(s, gfn))


@helper
def kvm_mmu_notifier_clear_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_mmu_notifier_clear_young(): kvm_age_gfn() without the flush."""
    return bool(k.kvm_age_gfn(s, gfn))


@helper
def kvm_mmu_notifier_test_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_mmu_notifier_test_young(): kvm_test_age_gfn()."""
    return bool(k.kvm_test_age_gfn(s, gfn))


@helper
def mmu_notifier_retry(k: Kernel, s: bytes | bytearray, mmu_seq: int) -> bool:
    """mmu_notifier_retry(kvm, mmu_seq): ``if (unlikely(kvm->mmu_notifier_count)) return 1;
    smp_rmb(); if (kvm->mmu_notifier_seq != mmu_seq) return 1; return 0;``"""
    checks = k.fault_retry_checks
    if checks != "seq_only" and s[k.L.COUNT]:
        return True
    return checks != "count_only" and s[k.L.SEQ] != mmu_seq


@helper
def kvm_install_spte(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool) -> None:
    """__direct_map()/kvm_tdp_mmu_map() (x86), kvm_pgtable_stage2_map() from
    user_mem_abort() (arm64): map the pfn, allocating any missing table from the
    vCPU's memory cache; writable when the host page was (map_writable)."""
    L = k.L
    s[L.SPT_TABLE] = 1
    s[L.SPTE_PFN[gfn]] = pfn
    s[L.SPTE_W[gfn]] = 1 if writable else 0
    if L.track_young:
        s[L.SPTE_YOUNG[gfn]] = 1
