"""Sean Christopherson's "Relaxing the rule *might* be safe" (Message-ID
20230921203331.3746712-10-seanjc@google.com, the comment of kvm_pre_set_memory_attributes()):
KVM requires at least one kvm_mmu_invalidate_range_add() between kvm_mmu_invalidate_begin() and
end(), so the attributes path adds its range "regardless of whether or not the arch callback
actually needs to zap SPTEs".  This variant relaxes the rule in both places it is enforced:

* the invalidation adds a gfn's range only where it zaps an SPTE;
* a range still INVALID_GPA after begin() holds no gfn: mmu_invalidate_retry_gfn() compares
  only the sequence instead of WARNing and retrying, and kvm_mmu_invalidate_end() does not WARN.

The model's attribute change is kvm_zap_gfn_range()'s caller (it changes what a fault derives,
then zaps under begin/end), the shape of kvm_vm_set_mem_attributes() with the store of the new
attributes before the zap instead of between the zap and end().
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import BUG_COUNT_NEGATIVE, SPTE_ZAPPED
from mmuspec.model.kvm import _stale, range_invalid
from mmuspec.model.kvm_mmu import KZ_END, zapped_text
from mmuspec.model.layout import PC

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


def kvm_zap_gfn_range(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.kvm_mmu_invalidate_begin(s)
    zapped = False
    for gfn in k.scenario.zap_gfn_range:
        if s[k.L.SPTE_PFN[gfn]]:
            k.fire(SPTE_ZAPPED, zapped_text("kvm_zap_gfn_range zapped", gfn))
            k.kvm_mmu_invalidate_range_add(s, gfn, gfn + 1)  # only where an SPTE is zapped
        zapped = k.kvm_unmap_gfn_range(s, gfn) or zapped
    if zapped:
        k.kvm_flush_remote_tlbs(s)
    s[k.base[t] + PC] = KZ_END


def mmu_invalidate_retry_gfn(k: Kernel, s: bytes | bytearray, mmu_seq: int, gfn: int) -> bool:
    if s[k.L.COUNT] and range_invalid(k, s):
        return bool(s[k.L.SEQ] != mmu_seq)  # INVALID_GPA blocks no gfn
    return bool(_stale(k, s, mmu_seq, gfn, k.fault_retry_checks))


def kvm_mmu_invalidate_end(k: Kernel, s: bytearray) -> None:
    """kvm_mmu_invalidate_end() without WARN_ON_ONCE(range_start == INVALID_GPA)."""
    L = k.L
    s[L.SEQ] += 1
    if s[L.COUNT] == 0:
        k.fire(BUG_COUNT_NEGATIVE, lambda: "KVM_BUG_ON(kvm->mmu_invalidate_in_progress < 0)")
        return
    s[L.COUNT] -= 1
    if s[L.COUNT] == 0:
        if L.track_ranges:
            s[L.RANGE_START] = s[L.RANGE_END] = 0
        if L.RANGE_ADDED >= 0:
            s[L.RANGE_ADDED] = 0
