"""Paolo Bonzini's "OOM entered" callback (Message-ID
ae2143b3-ce28-4c87-afcf-1505694246d8@redhat.com), in the form that leaves the VM unable to map
again: when the OOM reaper starts its non-blockable range, KVM's callback zaps every SPTE and
removes KVM's notifier from the mm, leaving mmu_invalidate_in_progress raised for good (the
invalidation it was in, or the one it stands for, never ends, "even if invalidations are
unbalanced").  The reaper's range then reaches only the other subscribers.

In the scenario the reaper's range is the only one without a change_pte (the vCPU's COW
breaks carry one), so range_end() skips KVM for it alone; the COW ranges that follow the
removal still reach KVM, which is more than an unregistered KVM would hear: a use after free
found with it is one without it too; the model has no SIGKILL, so the vCPU keeps running.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import INVALIDATION_FAILED
from mmuspec.model.notifier import mmu_notifier_invalidate_range_end as _upstream_end

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


def mmu_notifier_invalidate_range_start_nonblock(k: Kernel, s: bytearray, gfn: int, fails: bool) -> bool:
    L = k.L
    s[L.COUNT] += 1  # in progress for good: every later fault retries
    zapped = False
    for g in range(L.gfns):
        zapped = k.kvm_unmap_gfn_range(s, g) or zapped
    if zapped:
        k.kvm_flush_remote_tlbs(s)
    if fails:
        k.fire(INVALIDATION_FAILED, lambda: "the second subscriber failed the reaper's start with -EAGAIN")
        return False
    return True


def mmu_notifier_invalidate_range_end(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    if change_pte_event:  # a COW break's range (see the module docstring)
        _upstream_end(k, s, gfn, change_pte_event)
    # the reaper's range: KVM's notifier is no longer on the mm's list
