"""Per-architecture secondary-MMU operations: unmap, change_pte, aging.

The change_pte handler (``kvm_set_spte_gfn``; before v5.13 the hva-based
``kvm_set_spte_hva``) differs per architecture, and that is where the seed's
dead-code claim is decided.  Each branch is written from the kernel's code, not
from the seed's summary of it.  Whether a last-level table survives an unmap also
differs: arm64's stage-2 walker frees a table when its last valid entry goes
[I: reading of the kvm_pgtable unmap walker], x86, PPC and MIPS leave it (MIPS's
``kvm_mips_flush_gpa_pte()`` frees a table only when the whole table is flushed).
Unless the scenario says otherwise, other guest pages keep the table alive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import (
    CHANGE_PTE_INSTALLED_SPTE,
    CHANGE_PTE_REMOVED_SPTE,
    CHANGE_PTE_REPOINTED_SPTE,
)
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


@helper
def kvm_unmap_gfn_range(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_unmap_gfn_range(): zap the leaf SPTE; true if there was one, so the caller
    flushes the TLBs (at once in every caller modelled, except the shadow-paging sync_page
    path of ``kvm_mmu.py``).  arm64 (__unmap_stage2_range) also frees the last-level table
    once it is empty."""
    L = k.L
    zapped = bool(s[L.SPTE_PFN[gfn]])
    s[L.SPTE_PFN[gfn]] = 0
    s[L.SPTE_W[gfn]] = 0
    if L.track_young:
        s[L.SPTE_YOUNG[gfn]] = 0
    if k.arch == "arm64" and not k.table_kept_alive and not any(s[i] for i in L.SPTE_PFN):
        s[L.SPT_TABLE] = 0
    return zapped


@helper
def kvm_set_spte_gfn(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool) -> bool:
    """The arch change_pte handler, and the observation of what it did to the SPTE; true
    when it changed the SPTE, so the caller flushes.

    * x86 (``kvm_set_pte_rmap`` for the rmap MMU, ``set_spte_gfn`` for the TDP MMU): acts
      only on a present SPTE: a writable new host pte zaps it, a read-only one re-points
      it at the new pfn, read-only.
    * arm64: ``kvm_pgtable_stage2_map(..., KVM_PGTABLE_PROT_R, NULL)``: with no memory
      cache it maps the new pfn read-only wherever the last-level table exists, present
      leaf or not.
    * ppc (``kvm_set_spte_gfn_hv/_pr``, e500): unmap ("The page will get remapped
      properly on its next fault").
    * mips (``kvm_set_spte_handler``): if the GPA table exists, ``set_pte(gpa_pte,
      hva_pte)`` unconditionally, with the host pte's write permission.
    """
    L = k.L
    before = (s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
    arch = k.arch
    if arch == "x86":
        if before[0]:
            if writable:
                s[L.SPTE_PFN[gfn]] = 0
                s[L.SPTE_W[gfn]] = 0
            else:
                s[L.SPTE_PFN[gfn]] = pfn
                s[L.SPTE_W[gfn]] = 0
    elif arch == "arm64":
        if s[L.SPT_TABLE]:
            s[L.SPTE_PFN[gfn]] = pfn
            s[L.SPTE_W[gfn]] = 0
    elif arch == "ppc":
        s[L.SPTE_PFN[gfn]] = 0
        s[L.SPTE_W[gfn]] = 0
    else:  # mips
        if s[L.SPT_TABLE]:
            s[L.SPTE_PFN[gfn]] = pfn
            s[L.SPTE_W[gfn]] = 1 if writable else 0
    after = (s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
    if L.track_young and after[0] != before[0]:
        s[L.SPTE_YOUNG[gfn]] = 0
    if after == before:
        return False
    if L.track_attrs and after[0]:
        # Built from the primary pte under mmu_lock: what it derives is current.
        s[L.SPTE_ATTR[gfn]] = s[L.ATTR[gfn]]
    k.fire(change_pte_outcome(before[0], after[0]),
           lambda: f"{arch} kvm_set_spte_gfn changed spte[{gfn}]: "
           f"{k.spte_text(*before)} -> {k.spte_text(*after)}")
    return True


def change_pte_outcome(before_pfn: int, after_pfn: int) -> int:
    """Which observation a change of the SPTE by change_pte is: only an installed or a
    re-pointed SPTE can save the guest an exit; a removed one costs the next access a fault."""
    if not before_pfn:
        return CHANGE_PTE_INSTALLED_SPTE
    return CHANGE_PTE_REPOINTED_SPTE if after_pfn else CHANGE_PTE_REMOVED_SPTE


@helper
def kvm_age_gfn(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_age_gfn(): test and clear the accessed bit of the SPTE (x86 A bit, arm64
    kvm_pgtable_stage2_mkold, MIPS pte_mkold, PPC R bit)."""
    L = k.L
    if not L.track_young or not s[L.SPTE_PFN[gfn]]:
        return False
    young = bool(s[L.SPTE_YOUNG[gfn]])
    s[L.SPTE_YOUNG[gfn]] = 0
    return young


@helper
def kvm_test_age_gfn(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_test_age_gfn(): the accessed bit, left as it is."""
    L = k.L
    return bool(L.track_young and s[L.SPTE_PFN[gfn]] and s[L.SPTE_YOUNG[gfn]])
