"""The MMU-notifier chain as the mm calls it (mm/mmu_notifier.c).

``__mmu_notifier_*`` walk the mm's subscriber list under SRCU and call each
subscriber's op.  KVM is modelled in full; a scenario may add a second subscriber of
the kind that fails a non-blockable range with -EAGAIN (a GPU or RDMA driver whose
start() would have to sleep), which has no other visible effect.  Each function here
forwards to KVM's callback, or does nothing where KVM has no such op (v6.10 has no
.change_pte).  ``change_pte_event`` marks ranges that carry a set_pte_at_notify() (KSM
and COW), which the 2019 proposal flagged MMU_NOTIFIER_USE_CHANGE_PTE.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import INVALIDATION_FAILED
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


@helper
def mmu_notifier_invalidate_range_start(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """mmu_notifier_invalidate_range_start() -> mn_hlist_invalidate_range_start()."""
    k.kvm_mmu_notifier_invalidate_range_start(s, gfn, change_pte_event)


@helper
def mmu_notifier_invalidate_range_end(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """mmu_notifier_invalidate_range_end() -> mn_hlist_invalidate_end()."""
    k.kvm_mmu_notifier_invalidate_range_end(s, gfn, change_pte_event)


@helper
def mmu_notifier_invalidate_range_start_nonblock(k: Kernel, s: bytearray, gfn: int, fails: bool) -> bool:
    """mmu_notifier_invalidate_range_start_nonblock() (the OOM reaper): every subscriber's
    start() runs ("We call all the notifiers on any EAGAIN"); ``fails`` says whether the
    second subscriber returned -EAGAIN.  Then, since c2655835fd8c, every subscriber's end()
    runs too, because "any that succeeded start are expecting their range_end to be
    called"; before it (93065ac753e4) the core just returned -EAGAIN.  True if the range
    may be unmapped."""
    k.kvm_mmu_notifier_invalidate_range_start(s, gfn, False)
    if not fails:
        return True
    k.fire(INVALIDATION_FAILED, lambda: f"the second subscriber failed invalidate_range_start({gfn}) "
           "with -EAGAIN")
    if k.nonblock_end_on_failure:
        k.kvm_mmu_notifier_invalidate_range_end(s, gfn, False)
    return False


@helper
def mmu_notifier_change_pte(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool) -> None:
    """mmu_notifier_change_pte() -> __mmu_notifier_change_pte(): ops->change_pte if set;
    until 6bdb913f0a70 (v3.7), ->invalidate_page for a subscriber without it ("Some drivers
    don't have change_pte, so we must call invalidate_page in that case")."""
    if k.has_change_pte:
        k.kvm_mmu_notifier_change_pte(s, gfn, pfn, writable)
    elif k.change_pte_fallback == "invalidate_page":
        k.kvm_mmu_notifier_invalidate_page(s, gfn)


@helper
def mmu_notifier_invalidate_page(k: Kernel, s: bytearray, gfn: int) -> None:
    """mmu_notifier_invalidate_page() (until v4.13): ops->invalidate_page."""
    k.kvm_mmu_notifier_invalidate_page(s, gfn)


@helper
def mmu_notifier_clear_flush_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    return bool(k.kvm_mmu_notifier_clear_flush_young(s, gfn))


@helper
def mmu_notifier_clear_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    return bool(k.kvm_mmu_notifier_clear_young(s, gfn))


@helper
def mmu_notifier_test_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    return bool(k.kvm_mmu_notifier_test_young(s, gfn))
