"""The mmu_interval_notifier core: the mm's interval tree of subscriptions and its
collision-retry sequence (mm/mmu_notifier.c, 99cb252f5e68, v5.5).

Read in mm/mmu_notifier.c and include/linux/mmu_notifier.h of a 2025 tree (the
damonitor/linux mirror at dc29564804a7) and checked against the 2022 patch mails of
319561669a59.  The mm keeps ``invalidate_seq``, "a collision-retry read-side/write-side
'lock', a lot like a seqcount, however this allows multiple write-sides to hold it at
once", and ``active_invalidate_ranges``:

* **Write side** (the invalidating thread, as phase steps of its notifier call, see
  ``notifier.py``): ``mn_itree_inv_start_range()`` counts the range and, if it overlaps
  a subscription, makes the sequence odd ("seq |= 1  # Begin writing"); each overlapped
  subscription's ``ops->invalidate(sub, range, cur_seq)`` runs (the driver's, ``hmm.py``);
  ``mn_itree_inv_end()`` uncounts the range and, when it was the last one and the
  sequence is odd, makes it even and applies the inserts and removes that were deferred
  while the tree could not change.
* **Read side** (the driver's fault path): ``mmu_interval_read_begin()`` returns the
  subscription's own ``invalidate_seq``, first sleeping while it equals the mm's odd one
  (the subscription is being invalidated); ``mmu_interval_read_retry()``, under the
  driver lock that ``invalidate()`` takes around ``mmu_interval_set_seq()``, says whether
  an invalidation collided; ``mmu_interval_check_retry()`` is the same test without the
  lock, a hint.
* **Subscriptions** come and go through ``mmu_interval_notifier_insert()`` and
  ``mmu_interval_notifier_remove()``, deferred to the last ``mn_itree_inv_end()`` while
  an invalidation is running.  Remove then waits for that end; before 319561669a59
  (v5.18-rc4) its wait read the sequence without subscriptions->lock and could return
  between the increment and the deferred-list walk of the same critical section, so that
  the caller freed a subscription the walk then unlinked.  To show that window the
  model makes that critical section two steps, with subscriptions->lock held between
  them, in scenarios that remove a subscription (``[device] remove``).

Modelled as dmirror uses it: one subscription per device, covering the whole address
space (``mmu_interval_notifier_insert(..., 0, ULONG_MAX & PAGE_MASK, ...)``), so every
invalidation overlaps every subscription in the tree; or, with ``[device] interval``, one
page each, as nouveau_range_fault() inserts them, so that a range elsewhere is counted in
active_invalidate_ranges and leaves the sequence even.  The mm already has its interval
tree when the scenario starts (``has_itree``: ``mmu_notifier_register(NULL, mm)`` runs
with mmap_lock held for write, which excludes the invalidations the model starts under
mmap_lock [I]); the sequence starts at 2, as ``__mmu_notifier_register()`` sets it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mmuspec.model.events import USE_AFTER_FREE
from mmuspec.model.layout import (
    PC,
    SUB_DEFER_INSERT,
    SUB_DEFER_REMOVE,
    SUB_FREED,
    SUB_NAMES,
    SUB_REMOVED,
    SUB_TREE,
    V_SNAP,
)
from mmuspec.model.notifier import MN_FAILED, mn_phase_is, notifier_target
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

ITREE_INITIAL_SEQ = 2  # __mmu_notifier_register(): subscriptions->invalidate_seq = 2

# Program counters of a device thread (``hmm.py``), here because the read side and the
# subscription's lifetime run in it.  The first eleven are the vCPU's (guest.py), so that
# the COW steps a fault takes serve the device too: GUP is hmm_range_fault(), MAP the
# driver's locked section, RELEASE its device page-table update.
(D_ACCESS, D_RETRY, D_FAULT, _D_WAIT_PAGE_LOCK, _D_COW_START, _D_COW_LOCK, _D_COW_NOTIFY, _D_COW_END,
 D_LOCK, D_UPDATE, D_DONE, D_READ_BEGIN, D_WAIT_SEQ, D_INSERT, D_REMOVE, D_REMOVE_WAIT, D_FREE) = range(17)


def in_tree(state: int) -> bool:
    """The subscription's node is in the interval tree (a deferred remove is still there)."""
    return state & 7 in (SUB_TREE, SUB_DEFER_REMOVE)


@helper
def interval_overlaps(k: Kernel, s: bytes | bytearray, t: int) -> bool:
    """Whether thread ``t``'s invalidation overlaps the subscriptions' interval: always where
    each covers the whole address space (lib/test_hmm.c); with ``device.interval`` (one page,
    as nouveau_range_fault() inserts them: review D22) only a range on that page does."""
    interval = k.scenario.device_interval
    return interval < 0 or notifier_target(k, s, t) == interval


def itree_lock_free(k: Kernel, s: bytes | bytearray) -> bool:
    """spin_lock(&subscriptions->lock) can be taken (the lock exists only where held across
    steps)."""
    return not k.L.track_itree_lock or not s[k.L.ITREE_LOCK]


def mn_itree_is_invalidating(k: Kernel, s: bytes | bytearray) -> bool:
    """mn_itree_is_invalidating(): ``subscriptions->invalidate_seq & 1``."""
    return bool(s[k.L.ITREE_SEQ] & 1)


def itree_phase_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    return mn_phase_is(k, s, t, arg) and itree_lock_free(k, s)


def itree_lock_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    return itree_lock_free(k, s)


# -- the write side: phase steps of the invalidating thread ---------------------------

@step("mm", "__mmu_notifier_invalidate_range_start() -> mn_itree_invalidate() -> "
      "mn_itree_inv_start_range(): spin_lock(&subscriptions->lock); active_invalidate_ranges++; "
      "interval_tree_iter_first(); if a subscription overlaps: invalidate_seq |= 1; spin_unlock()",
      lock="subscriptions->lock", guard=itree_phase_ready,
      reads="itree", writes="itree")
def mn_itree_inv_start_range(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    s[L.ITREE_ACTIVE] += 1
    hit = k.interval_overlaps(s, t) and any(in_tree(s[f]) for f in L.DEV_SUB)
    if hit:
        s[L.ITREE_SEQ] |= 1
    # Nothing overlaps: the loop over the tree ends at once, no invalidate() is called.
    s[k.mn_field[t]] = arg + 1 if hit else k.start_after_itree


@step("mm", "__mmu_notifier_invalidate_range_end() -> mn_itree_inv_end(): spin_lock(); "
      "if (--active_invalidate_ranges || !mn_itree_is_invalidating()) unlock and return; "
      "invalidate_seq++ (even); the deferred inserts and removes; spin_unlock(); wake_up_all()",
      lock="subscriptions->lock", guard=itree_phase_ready,
      reads="itree", writes="itree")
def mn_itree_inv_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    mn = k.mn_field[t]
    s[L.ITREE_ACTIVE] -= 1
    if s[L.ITREE_ACTIVE] or not mn_itree_is_invalidating(k, s):
        s[mn] = k.end_phase_count
        return
    s[L.ITREE_SEQ] += 1  # "Make invalidate_seq even"
    if L.track_itree_lock:
        # The same critical section goes on in the next step, still under the lock; a
        # reader without the lock can see the even sequence in between.
        s[L.ITREE_LOCK] = 1
        s[mn] = arg + 1
        return
    k.mn_itree_deferred(s)
    s[mn] = k.end_phase_count


@step("mm", "mn_itree_inv_end(), still under subscriptions->lock: hlist_for_each_entry_safe("
      "deferred_list): interval_tree_insert() or interval_tree_remove(); hlist_del(); "
      "spin_unlock(); wake_up_all(&subscriptions->wq)",
      lock="subscriptions->lock (held since mn_itree_inv_end)", guard=mn_phase_is,
      reads="itree", writes="itree")
def mn_itree_inv_end_deferred(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.mn_itree_deferred(s)
    s[k.L.ITREE_LOCK] = 0
    s[k.mn_field[t]] = arg + 1


@helper
def mn_itree_deferred(k: Kernel, s: bytearray) -> None:
    """The deferred list of mn_itree_inv_end(): "Adds and removes are queued until the final
    inv_end happens then they are progressed."  Unlinking a subscription its driver has
    freed is a use after free (319561669a59)."""
    L = k.L
    for d in range(L.devices):
        f = L.DEV_SUB[d]
        state = s[f]
        kind = state & 7
        if kind != SUB_DEFER_INSERT and kind != SUB_DEFER_REMOVE:
            continue
        if state & SUB_FREED:
            k.fire(USE_AFTER_FREE, _unlinks_freed_text(d))
        s[f] = (SUB_TREE if kind == SUB_DEFER_INSERT else SUB_REMOVED) | (state & SUB_FREED)


def _unlinks_freed_text(d: int) -> Callable[[], str]:
    return lambda: (f"mn_itree_inv_end() unlinks dmirror{d}'s subscription from the deferred list and the "
                    "interval tree, but mmu_interval_notifier_remove() has returned and the driver freed it")


@helper
def mn_itree_inv_end_inline(k: Kernel, s: bytearray) -> None:
    """mn_itree_inv_end() called inside another step, as one critical section."""
    if k.mn_itree_inv_end_failed(s):
        k.mn_itree_deferred(s)
        s[k.L.ITREE_LOCK] = 0


@helper
def mn_itree_inv_end_failed(k: Kernel, s: bytearray) -> bool:
    """mn_itree_inv_end() called by mn_itree_invalidate() itself when a non-blockable
    invalidate() returned false ("On -EAGAIN the non-blocking caller is not allowed to call
    invalidate_range_end()").  It is the same critical section as the normal end, so in a
    scenario that removes a subscription it stops after the increment with
    subscriptions->lock held, and ``mn_itree_inv_end_failed_deferred`` walks the deferred
    list (review D21: a lockless remove-waiter returns in between there too).  True if that
    walk is still to come."""
    L = k.L
    s[L.ITREE_ACTIVE] -= 1
    if s[L.ITREE_ACTIVE] or not mn_itree_is_invalidating(k, s):
        return False
    s[L.ITREE_SEQ] += 1
    if L.track_itree_lock:
        s[L.ITREE_LOCK] = 1
        return True
    k.mn_itree_deferred(s)
    return False


@step("mm", "mn_itree_inv_end() of mn_itree_invalidate()'s out_would_block path, still under "
      "subscriptions->lock: the deferred inserts and removes; spin_unlock(); wake_up_all(); "
      "return -EAGAIN", lock="subscriptions->lock (held since the failed invalidate())",
      guard=mn_phase_is, reads="itree", writes="itree")
def mn_itree_inv_end_failed_deferred(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.mn_itree_deferred(s)
    s[k.L.ITREE_LOCK] = 0
    s[k.mn_field[t]] = MN_FAILED


@helper
def mmu_interval_set_seq(k: Kernel, s: bytearray, d: int) -> None:
    """mmu_interval_set_seq(): ``WRITE_ONCE(interval_sub->invalidate_seq, cur_seq)``, called
    by invalidate() "unconditionally ... under the same lock that is used to call
    mmu_interval_read_retry()".  cur_seq is the odd value mn_itree_inv_start_range()
    returned, which is still the mm's: no range can end the writing state while this one
    is counted."""
    s[k.L.DEV_SEQ[d]] = s[k.L.ITREE_SEQ]


def mmu_interval_read_retry(k: Kernel, s: bytes | bytearray, d: int, seq: int) -> bool:
    """mmu_interval_read_retry(): ``interval_sub->invalidate_seq != seq``; "This MUST be
    called under a user provided lock that is also held unconditionally by op->invalidate()
    when it calls mmu_interval_set_seq()"."""
    return s[k.L.DEV_SEQ[d]] != seq


def mmu_interval_check_retry(k: Kernel, s: bytes | bytearray, d: int, seq: int) -> bool:
    """mmu_interval_check_retry(): the same test with READ_ONCE() and no lock, "to expedite a
    retry"."""
    return s[k.L.DEV_SEQ[d]] != seq


# -- the read side and the subscription's lifetime: steps of the device thread ---------

@step("dmirror", "mmu_interval_read_begin(): spin_lock(&subscriptions->lock); seq = "
      "READ_ONCE(interval_sub->invalidate_seq); is_invalidating = seq == "
      "subscriptions->invalidate_seq; spin_unlock()",
      lock="subscriptions->lock", guard=itree_lock_ready,
      reads="itree", writes="")
def mmu_interval_read_begin(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    d = k.device_index[t]
    seq = s[L.DEV_SEQ[d]]
    s[b + V_SNAP] = seq
    s[b + PC] = D_WAIT_SEQ if seq == s[L.ITREE_SEQ] else D_FAULT
    k.say(lambda: f"notifier_seq = {seq}" + (" (being invalidated: wait)" if seq == s[L.ITREE_SEQ] else ""))


def read_begin_woken(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """wait_event(subscriptions->wq, READ_ONCE(subscriptions->invalidate_seq) != seq)."""
    return s[k.L.ITREE_SEQ] != s[k.base[t] + V_SNAP]


@step("dmirror", "mmu_interval_read_begin(): if (is_invalidating) wait_event(subscriptions->wq, "
      "READ_ONCE(subscriptions->invalidate_seq) != seq); return seq",
      guard=read_begin_woken,
      reads="itree", writes="")
def mmu_interval_read_begin_wait(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    s[k.base[t] + PC] = D_FAULT


@step("dmirror", "dmirror_fops_open(): mmu_interval_notifier_insert(&dmirror->notifier, current->mm, 0, "
      "ULONG_MAX & PAGE_MASK) -> __mmu_interval_notifier_insert(): spin_lock(); while a range is "
      "active: defer the insert if invalidating, else invalidate_seq |= 1 and insert, and "
      "interval_sub->invalidate_seq = invalidate_seq; else invalidate_seq - 1 and insert; spin_unlock()",
      lock="subscriptions->lock", guard=itree_lock_ready,
      reads="itree", writes="itree")
def mmu_interval_notifier_insert(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    d = k.device_index[t]
    if s[L.ITREE_ACTIVE]:
        if mn_itree_is_invalidating(k, s):
            s[L.DEV_SUB[d]] = SUB_DEFER_INSERT
        else:
            s[L.ITREE_SEQ] |= 1
            s[L.DEV_SUB[d]] = SUB_TREE
        s[L.DEV_SEQ[d]] = s[L.ITREE_SEQ]
    else:
        # "The starting seq for a subscription not under invalidation should be odd, not
        # equal to the current invalidate_seq".
        s[L.DEV_SEQ[d]] = s[L.ITREE_SEQ] - 1
        s[L.DEV_SUB[d]] = SUB_TREE
    s[k.base[t] + PC] = D_ACCESS if k.accesses[t] else D_REMOVE  # a device may open and close at once
    k.say(lambda: f"dmirror{d}'s subscription: {SUB_NAMES[s[L.DEV_SUB[d]] & 7]}")


@step("dmirror", "dmirror_fops_release(): mmu_interval_notifier_remove(): spin_lock(); if invalidating: "
      "hlist_del() of a deferred insert, or defer the remove and seq = invalidate_seq; else "
      "interval_tree_remove(); spin_unlock()",
      lock="subscriptions->lock", guard=itree_lock_ready,
      reads="itree", writes="itree")
def mmu_interval_notifier_remove(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    d = k.device_index[t]
    seq = 0
    if mn_itree_is_invalidating(k, s):
        if s[L.DEV_SUB[d]] == SUB_DEFER_INSERT:
            s[L.DEV_SUB[d]] = SUB_REMOVED  # "remove is being called after insert put this on the deferred list"
        else:
            s[L.DEV_SUB[d]] = SUB_DEFER_REMOVE
            seq = s[L.ITREE_SEQ]
    else:
        s[L.DEV_SUB[d]] = SUB_REMOVED
    s[b + V_SNAP] = seq
    waits = seq and k.interval_remove_wait != "none"
    s[b + PC] = D_REMOVE_WAIT if waits else D_FREE
    k.say(lambda: f"dmirror{d}'s subscription: {SUB_NAMES[s[L.DEV_SUB[d]] & 7]}"
          + (f"; wait until invalidate_seq != {seq}" if waits else ""))


def seq_released(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """The wait of mmu_interval_notifier_remove(): since 319561669a59,
    mmu_interval_seq_released() reads invalidate_seq under subscriptions->lock; before it,
    ``READ_ONCE(subscriptions->invalidate_seq) != seq``."""
    if k.interval_remove_wait == "locked" and not itree_lock_free(k, s):
        return False
    return s[k.L.ITREE_SEQ] != s[k.base[t] + V_SNAP]


@step("dmirror", "mmu_interval_notifier_remove(): wait_event(subscriptions->wq, "
      "mmu_interval_seq_released(subscriptions, seq)) (before 319561669a59: "
      "READ_ONCE(subscriptions->invalidate_seq) != seq); mmdrop()",
      guard=seq_released,
      reads="itree", writes="")
def mmu_interval_notifier_remove_wait(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_SNAP] = 0
    s[b + PC] = D_FREE
