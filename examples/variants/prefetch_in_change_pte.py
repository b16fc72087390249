"""x86 change_pte prefetches the new pfn even where start() already zapped the SPTE.

The idea of Yan Zhao's 2023 TDP-MMU series ("KVM: x86/mmu: .change_pte()
optimization in TDP MMU"): since invalidate_range_start() always zaps first,
let .change_pte() install the new translation instead of looking for an old one,
so the guest does not take a second fault after KSM or a COW break.

Try it:  mmuspec check ksm-merge --variant examples/variants/prefetch_in_change_pte.py
"""

from mmuspec.model.arch import change_pte_outcome as _outcome
from mmuspec.model.arch import kvm_set_spte_gfn as _upstream


def kvm_set_spte_gfn(k, s, gfn, pfn, writable):
    if k.arch != "x86":
        return _upstream(k, s, gfn, pfn, writable)
    L = k.L
    before = (s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
    s[L.SPT_TABLE] = 1
    s[L.SPTE_PFN[gfn]] = pfn
    s[L.SPTE_W[gfn]] = 1 if writable else 0
    after = (s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
    if after == before:
        return False
    k.fire(_outcome(before[0], after[0]), lambda: f"prefetched spte[{gfn}] -> {k.spte_text(*after)}")
    return True
