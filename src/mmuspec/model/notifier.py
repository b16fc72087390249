"""The MMU-notifier chain as the mm calls it (mm/mmu_notifier.c).

``__mmu_notifier_*`` walk the mm's subscriber list under SRCU and call each
subscriber's op.  KVM is modelled in full; a scenario may add a second subscriber of
the kind that fails a non-blockable range with -EAGAIN (a GPU or RDMA driver whose
start() would have to sleep), which has no other visible effect.  Each function here
forwards to KVM's callback, or does nothing where KVM has no such op (v6.10 has no
.change_pte) or is not subscribed (a scenario with device mirrors only).
``change_pte_event`` marks ranges that carry a set_pte_at_notify() (KSM and COW), which
the 2019 proposal flagged MMU_NOTIFIER_USE_CHANGE_PTE.

**Notifier calls of several steps.**  In a scenario with device mirrors or a pfn cache,
``__mmu_notifier_invalidate_range_start()`` is several lock sections, each a point other
threads can observe: the interval tree's ``mn_itree_inv_start_range()`` under
subscriptions->lock, then each hit subscription's ``invalidate()`` under its driver's
lock, then (v5.5 on, the interval tree comes before the hlist) KVM's callback, whose
``mn_active_invalidate_count++`` and ``gfn_to_pfn_cache_invalidate_start()`` come before
it takes mmu_lock.  ``__mmu_notifier_invalidate_range_end()`` is ``mn_itree_inv_end()``
then KVM's callback.  The caller's own step (marked ``@step(notifier=...)``) keeps the
last section, KVM's mmu_lock part, as in every other scenario; the sections before it
are *phase steps* (``interval.py``, ``hmm.py``, ``pfncache.py``) that the model puts at
the caller's program counter, just before its step.  The thread's ``mn`` field counts
the phases done; each phase step is enabled at its own count, and the caller's step when
the count is complete (``mn_start_ready``, ``mn_end_ready``), which resets it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import INVALIDATION_FAILED
from mmuspec.model.layout import K_TARGET, R_TARGET, T_TARGET, V_GFN
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

MN_FAILED = 255  # ``mn`` after the interval tree failed a non-blockable start with -EAGAIN


# How a notifying thread names the gfn of its notifier call (``Kernel.mn_target``).
TARGET_FAULT, TARGET_KSM, TARGET_UNMAP, TARGET_RECLAIM = range(4)
TARGET_OF_KIND = {"ksmd": TARGET_KSM, "madvise": TARGET_UNMAP, "oom_reaper": TARGET_UNMAP, "munmap": TARGET_UNMAP,
                  "kswapd": TARGET_RECLAIM}


def notifier_target(k: Kernel, s: bytes | bytearray, t: int) -> int:
    """The gfn whose range thread ``t``'s current notifier call covers."""
    b = k.base[t]
    kind = k.mn_target[t]
    if kind == TARGET_KSM:
        gfn, _ = k.ksm_targets[s[b + K_TARGET]]
        return gfn
    if kind == TARGET_UNMAP:
        return k.unmap_targets[t][s[b + T_TARGET]]
    if kind == TARGET_RECLAIM:
        return k.scenario.aging[s[b + R_TARGET]]
    return s[b + V_GFN]  # a fault breaking COW: vCPU, host accessor, device, pfn cache


def mn_phase_is(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """A phase step's turn: the thread has done the ``arg`` phases before it."""
    return s[k.mn_field[t]] == arg


def mn_start_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """The guard of a step that calls range start: every phase before KVM's part is done
    (or the interval tree failed a non-blockable range); always, without phases."""
    f = k.mn_field[t]
    return f < 0 or s[f] == k.start_phase_count or s[f] == MN_FAILED


def mn_end_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """The guard of a step that calls range end: mn_itree_inv_end() is done."""
    f = k.mn_field[t]
    return f < 0 or s[f] == k.end_phase_count


@helper
def mn_phases_reset(k: Kernel, s: bytearray, t: int) -> bool:
    """The caller's step ran: its notifier call is complete.  True unless the interval tree
    failed the (non-blockable) range, in which case the hlist was never called."""
    f = k.mn_field[t]
    if f < 0:
        return True
    failed = s[f] == MN_FAILED
    s[f] = 0
    return not failed


@helper
def mmu_notifier_invalidate_range_start(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """mmu_notifier_invalidate_range_start() -> mn_hlist_invalidate_range_start() (after the
    interval tree's phase steps, where there are any)."""
    if k.kvm_subscribed:
        k.kvm_mmu_notifier_invalidate_range_start(s, gfn, change_pte_event)


@helper
def mmu_notifier_invalidate_range_end(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """mmu_notifier_invalidate_range_end() -> mn_hlist_invalidate_end() (after
    mn_itree_inv_end(), where there is an interval tree)."""
    if k.kvm_subscribed:
        k.kvm_mmu_notifier_invalidate_range_end(s, gfn, change_pte_event)


@helper
def mmu_notifier_invalidate_range_start_nonblock(k: Kernel, s: bytearray, gfn: int, fails: bool) -> bool:
    """mmu_notifier_invalidate_range_start_nonblock() (the OOM reaper): every subscriber's
    start() runs ("We call all the notifiers on any EAGAIN"); ``fails`` says whether the
    second subscriber returned -EAGAIN.  Then, since c2655835fd8c, every subscriber's end()
    runs too, because "any that succeeded start are expecting their range_end to be
    called"; before it (93065ac753e4) the core just returned -EAGAIN.  The interval tree's
    range, counted before the hlist ran, is ended only with ``mm.nonblock_itree_end`` (no
    kernel does: reports/oom-reaper-itree-leak.md).  True if the range may be unmapped."""
    if k.kvm_subscribed:
        k.kvm_mmu_notifier_invalidate_range_start(s, gfn, False)
    if not fails:
        return True
    k.fire(INVALIDATION_FAILED, lambda: f"the second subscriber failed invalidate_range_start({gfn}) "
           "with -EAGAIN")
    if k.nonblock_end_on_failure and k.kvm_subscribed:
        k.kvm_mmu_notifier_invalidate_range_end(s, gfn, False)
    if k.nonblock_itree_end and k.L.track_itree:
        # The proposed fix: the interval tree took the range before the hlist failed, and
        # the caller will not call range_end(), so end it here as mn_itree_invalidate()'s
        # own failure path does.
        k.mn_itree_inv_end_inline(s)
    return False


@helper
def mmu_notifier_change_pte(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool) -> None:
    """mmu_notifier_change_pte() -> __mmu_notifier_change_pte(): ops->change_pte if set;
    until 6bdb913f0a70 (v3.7), ->invalidate_page for a subscriber without it ("Some drivers
    don't have change_pte, so we must call invalidate_page in that case")."""
    if not k.kvm_subscribed:
        return
    if k.has_change_pte:
        k.kvm_mmu_notifier_change_pte(s, gfn, pfn, writable)
    elif k.change_pte_fallback == "invalidate_page":
        k.kvm_mmu_notifier_invalidate_page(s, gfn)


@helper
def mmu_notifier_invalidate_page(k: Kernel, s: bytearray, gfn: int) -> None:
    """mmu_notifier_invalidate_page() (until v4.13): ops->invalidate_page."""
    if k.kvm_subscribed:
        k.kvm_mmu_notifier_invalidate_page(s, gfn)


@helper
def mmu_notifier_clear_flush_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    return k.kvm_subscribed and bool(k.kvm_mmu_notifier_clear_flush_young(s, gfn))


@helper
def mmu_notifier_clear_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    return k.kvm_subscribed and bool(k.kvm_mmu_notifier_clear_young(s, gfn))


@helper
def mmu_notifier_test_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    return k.kvm_subscribed and bool(k.kvm_mmu_notifier_test_young(s, gfn))
