"""A device mirror: a driver thread that reads and writes process memory through a device
page table, kept coherent by an mmu_interval_notifier (``interval.py``).

It follows lib/test_hmm.c, the HMM test driver ("dmirror"), step by step, as read in a
2025 tree (the damonitor/linux mirror at 2b99ecbbd25c), with mm/hmm.c of the same tree and
the usage pattern of Documentation/mm/hmm.rst (read in the patch mails that rewrote it for
the interval notifier): "take_lock(driver->update); if (mmu_interval_read_retry(...)) {
release_lock(driver->update); goto again; } /* Use pfns array content to update device page
table, under the update lock */ release_lock(driver->update);", where "the driver->update
lock is the same lock that the driver takes inside its invalidate() callback":

* ``dmirror_read()`` / ``dmirror_write()``: under ``dmirror->mutex``, ``dmirror_do_read()`` /
  ``dmirror_do_write()`` look the page up in the device page table (an xarray, which
  "doesn't hold references to pages since it relies on the mmu notifier to clear page
  pointers when they become stale") and copy from or to it; a write needs an entry
  tagged writable.  A missing entry (-ENOENT) calls ``dmirror_fault()``, and the loop
  reads again.
* ``dmirror_range_fault()``: ``mmu_interval_read_begin()``; ``mmap_read_lock()``;
  ``hmm_range_fault()``; then ``mutex_lock(&dmirror->mutex)``;
  ``mmu_interval_read_retry()`` (collided: unlock and start over); ``dmirror_do_fault()``
  stores each page in the device page table; ``mutex_unlock()``.
* ``hmm_range_fault()``: ``mmu_interval_check_retry()`` (-EBUSY: start over), then a walk
  that reads each PTE without the PTL (``hmm_vma_handle_pte()``) and records its pfn,
  writable if the PTE is; an entry that is missing, or read-only for a write, is faulted
  in with ``handle_mm_fault()``, which may break COW (the same ``wp_page_copy()`` steps a
  vCPU's fault takes, with their notifier calls), and the walk restarts.  It takes no
  page reference.
* ``dmirror_interval_invalidate()``, the subscription's ``invalidate()``: for a blockable
  range ``mutex_lock(&dmirror->mutex)``, for a non-blockable one ``mutex_trylock()`` or
  return false; ``mmu_interval_set_seq()``; ``dmirror_do_update()`` erases the range from
  the device page table; ``mutex_unlock()``.  It runs as a phase step of the invalidating
  thread's notifier call (``notifier.py``).

The driver's lock section from ``mmu_interval_read_retry()`` to the end of the update is
two steps, with ``dmirror->mutex`` held between them, so that an invalidation blocks on
it (or, non-blockable, fails).  ``hmm.device_update`` puts the known wrong patterns in
its place: dropping the lock between the check and the update (amdgpu userptr before
1ed3d2567c80, "keep the MMU lock until the update ends"), or checking without the lock.
In a model where each step is atomic the two are alike: in both, ``invalidate()`` can run
between the check and the update.  The MMU_NOTIFY_MIGRATE short cut of
``dmirror_interval_invalidate()`` (device-private pages) is not modelled, nor nouveau's
MMU_NOTIFY_EXCLUSIVE one (review D24).  ``dmirror_read()``/``dmirror_write()`` hold the
mutex across ``dmirror_do_read/_write``, so a non-blockable ``invalidate()`` also fails its
trylock in those windows; the model's access is one step, so it fails only between
``read_retry`` and the update, with the same outcome (the interval tree ends its own range
and the reaper skips the range: review D23).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import FAULT_RETRIED, SPTE_ZAPPED, USE_AFTER_FREE
from mmuspec.model.guest import COW_STEPS, VIA_DEVICE, check_access, mmap_free
from mmuspec.model.interval import (
    D_ACCESS,
    D_DONE,
    D_FAULT,
    D_FREE,
    D_INSERT,
    D_LOCK,
    D_READ_BEGIN,
    D_REMOVE,
    D_REMOVE_WAIT,
    D_RETRY,
    D_UPDATE,
    D_WAIT_SEQ,
    in_tree,
    mmu_interval_check_retry,
    mmu_interval_read_retry,
)
from mmuspec.model.layout import (
    PC,
    PTE_RO,
    PTE_RW,
    SUB_FREED,
    V_DONE,
    V_GFN,
    V_PFN,
    V_PFN_W,
    V_SNAP,
    V_WRITE,
)
from mmuspec.model.notifier import MN_FAILED, MN_FAILED_DEFERRED, mn_phase_is, notifier_target
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

DONE = D_DONE
PC_NAMES = (
    "dmirror_read_write", "retry", "hmm_range_fault", "lock_page", "cow_start", "cow_lock", "cow_notify",
    "cow_end", "mutex_lock", "update", "done", "read_begin", "wait_seq", "insert", "remove", "remove_wait",
    "free",
)


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    sc = k.scenario
    return {
        D_ACCESS: [("dmirror_access", gfn * 2 + (op == "write")) for gfn in sc.device_gfns for op in sc.device_ops],
        D_RETRY: [("dmirror_retry", 0)],
        D_FAULT: [("hmm_range_fault", 0)],
        **COW_STEPS,
        D_LOCK: [("dmirror_range_fault", 0)],
        D_UPDATE: [("dmirror_do_fault", 0)],
        D_DONE: [],
        D_READ_BEGIN: [("mmu_interval_read_begin", 0)],
        D_WAIT_SEQ: [("mmu_interval_read_begin_wait", 0)],
        D_INSERT: [("mmu_interval_notifier_insert", 0)],
        D_REMOVE: [("mmu_interval_notifier_remove", 0)],
        D_REMOVE_WAIT: [("mmu_interval_notifier_remove_wait", 0)],
        D_FREE: [("dmirror_fops_release", 0)],
    }


def first_pc(k: Kernel) -> int:
    if k.scenario.device_insert:
        return D_INSERT
    return D_ACCESS if k.scenario.device_accesses else D_REMOVE


# -- the device's accesses ------------------------------------------------------------

@step("dmirror", "dmirror_read() / dmirror_write(): mutex_lock(&dmirror->mutex); dmirror_do_read() / "
      "dmirror_do_write(): xa_load() from the device page table and memcpy_from_page() / "
      "memcpy_to_page(); mutex_unlock(); -ENOENT: dmirror_fault()",
      lock="dmirror->mutex",
      reads="data page pte dev", writes="data")
def dmirror_access(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = divmod(arg, 2)
    k.dmirror_attempt(s, t)


@step("dmirror", "the loop of dmirror_read() / dmirror_write() after dmirror_fault(): dmirror_do_read() / "
      "dmirror_do_write() again, under dmirror->mutex",
      lock="dmirror->mutex",
      reads="data page pte dev", writes="data")
def dmirror_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.dmirror_attempt(s, t)


@helper
def dmirror_attempt(k: Kernel, s: bytearray, t: int) -> None:
    L = k.L
    b = k.base[t]
    d = k.device_index[t]
    gfn, write = s[b + V_GFN], s[b + V_WRITE]
    pfn = s[L.DEV_PTE_PFN[d * L.gfns + gfn]]
    if pfn and (not write or s[L.DEV_PTE_W[d * L.gfns + gfn]]):
        k.device_touch(s, t, gfn, write, pfn)
        done = s[b + V_DONE] + 1
        s[b + V_DONE] = done
        s[b + V_GFN] = s[b + V_WRITE] = 0
        if done < k.accesses[t]:
            s[b + PC] = D_ACCESS
        elif k.scenario.device_remove:
            s[b + PC] = D_REMOVE
        else:
            k.thread_finished(s, t)
        return
    k.say(lambda: f"{'write' if write else 'read'} of gfn {gfn}: no "
          f"{'writable ' if write and pfn else ''}entry in the device page table (-ENOENT): dmirror_fault()")
    s[b + PC] = D_READ_BEGIN


@helper
def device_touch(k: Kernel, s: bytearray, t: int, gfn: int, write: int, pfn: int) -> None:
    """The device reads or writes ``pfn`` through its page table: check it, as a guest
    access through an SPTE is checked."""
    check_access(k, s, t, gfn, write, pfn, VIA_DEVICE)


# -- the fault path: dmirror_fault() -> dmirror_range_fault() ---------------------------

def hmm_range_fault_can_run(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """The walk reads PTEs without the PTL; faulting one in (handle_mm_fault()) waits for
    it.  mmap_read_lock() waits while munmap holds mmap_lock for write."""
    if not mmap_free(k, s, t, arg):
        return False
    L = k.L
    b = k.base[t]
    gfn = s[b + V_GFN]
    prot = s[L.PTE_PROT[gfn]]
    if prot == PTE_RW or (prot == PTE_RO and not s[b + V_WRITE]):
        return True
    return not s[L.PTL]


@step("dmirror", "dmirror_range_fault(): mmap_read_lock(); hmm_range_fault(): "
      "mmu_interval_check_retry() -> -EBUSY; walk_page_range() -> hmm_vma_handle_pte(): the PTE's pfn, "
      "writable if pte_write(); a missing or (HMM_PFN_REQ_WRITE) read-only entry: hmm_vma_fault() -> "
      "handle_mm_fault() under the PTL, and the walk restarts; mmap_read_unlock()",
      lock="none (walk) or ptl (fault)", guard=hmm_range_fault_can_run,
      reads="data page pte ptl itree mmap", writes="data page pte")
def hmm_range_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    d = k.device_index[t]
    gfn, write = s[b + V_GFN], bool(s[b + V_WRITE])
    if mmu_interval_check_retry(k, s, d, s[b + V_SNAP]):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name}: mmu_interval_check_retry() in hmm_range_fault(): "
               "-EBUSY, start over")
        s[b + PC] = D_READ_BEGIN
        return
    prot = s[L.PTE_PROT[gfn]]
    if prot == PTE_RW or (prot == PTE_RO and not write):
        s[b + V_PFN] = s[L.PTE_PFN[gfn]]
        s[b + V_PFN_W] = 1 if prot == PTE_RW else 0
        s[b + PC] = D_LOCK
        return
    k.handle_mm_fault(s, t, gfn, write)  # pc stays at the walk unless a COW or a page lock follows


def dmirror_range_fault_can_lock(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """mutex_lock(&dmirror->mutex), except where the driver checks without it."""
    return k.device_update == "unlocked_retry" or not s[k.L.DEV_MUTEX[k.device_index[t]]]


@step("dmirror", "dmirror_range_fault(): mutex_lock(&dmirror->mutex); if "
      "(mmu_interval_read_retry(range->notifier, range->notifier_seq)) { mutex_unlock(); continue; } "
      "(hmm.device_update: after_unlock drops the mutex here; unlocked_retry checks without it)",
      lock="dmirror->mutex", guard=dmirror_range_fault_can_lock,
      reads="itree dev", writes="dev")
def dmirror_range_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    d = k.device_index[t]
    if mmu_interval_read_retry(k, s, d, s[b + V_SNAP]):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name}: mmu_interval_read_retry() says an invalidation "
               f"collided (invalidate_seq {s[L.DEV_SEQ[d]]} != {s[b + V_SNAP]}): start over")
        s[b + V_PFN] = s[b + V_PFN_W] = 0
        s[b + PC] = D_READ_BEGIN
        return
    if k.device_update == "under_lock":
        s[L.DEV_MUTEX[d]] = 1
    s[b + PC] = D_UPDATE


def dmirror_do_fault_can_run(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """With the check made without the mutex, the update takes it."""
    return k.device_update != "unlocked_retry" or not s[k.L.DEV_MUTEX[k.device_index[t]]]


@step("dmirror", "dmirror_range_fault(): dmirror_do_fault(): xa_store() of each pfn into the device "
      "page table, tagged DPT_XA_TAG_WRITE if HMM_PFN_WRITE; mutex_unlock(&dmirror->mutex)",
      lock="dmirror->mutex (held since read_retry; hmm.device_update=after_unlock: none)",
      guard=dmirror_do_fault_can_run,
      reads="dev", writes="dev")
def dmirror_do_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    d = k.device_index[t]
    gfn = s[b + V_GFN]
    s[L.DEV_PTE_PFN[d * L.gfns + gfn]] = s[b + V_PFN]
    s[L.DEV_PTE_W[d * L.gfns + gfn]] = s[b + V_PFN_W]
    s[L.DEV_MUTEX[d]] = 0
    s[b + V_PFN] = s[b + V_PFN_W] = s[b + V_SNAP] = 0
    s[b + PC] = D_RETRY


@step("dmirror", "dmirror_fops_release(): after mmu_interval_notifier_remove() returned: "
      "xa_destroy(&dmirror->pt); kfree(dmirror)",
      reads="itree", writes="itree dev")
def dmirror_fops_release(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    d = k.device_index[t]
    s[L.DEV_SUB[d]] |= SUB_FREED
    for g in range(L.gfns):
        s[L.DEV_PTE_PFN[d * L.gfns + g]] = s[L.DEV_PTE_W[d * L.gfns + g]] = 0
    k.thread_finished(s, t)


# -- invalidate(): a phase step of the invalidating thread ---------------------------

def dmirror_invalidate_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """Its turn in the notifier call; a blockable range waits in mutex_lock(), a
    non-blockable one tries the lock (and fails, in the step, if it is held)."""
    if not mn_phase_is(k, s, t, arg):
        return False
    return k.nonblock[t] or not s[k.L.DEV_MUTEX[k.start_phase_device[arg]]]


@step("mm", "mn_itree_invalidate(): interval_sub->ops->invalidate() = dmirror_interval_invalidate(): "
      "mutex_lock(&dmirror->mutex) (non-blockable: mutex_trylock() or return false); "
      "mmu_interval_set_seq(mni, cur_seq); dmirror_do_update(): xa_erase() the range; mutex_unlock()",
      lock="dmirror->mutex", guard=dmirror_invalidate_ready,
      reads="itree dev", writes="itree dev")
def dmirror_interval_invalidate(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    d = k.start_phase_device[arg]
    mn = k.mn_field[t]
    state = s[L.DEV_SUB[d]]
    if not in_tree(state) or not k.interval_overlaps(s, t):
        s[mn] = arg + 1
        return
    if state & SUB_FREED:
        k.fire(USE_AFTER_FREE, lambda: f"mn_itree_invalidate() calls dmirror{d}'s invalidate() after "
               "mmu_interval_notifier_remove() returned and the driver freed it")
    if s[L.DEV_MUTEX[d]]:
        # mutex_trylock() failed in a non-blockable range: return false; the core calls
        # mn_itree_inv_end() itself and returns -EAGAIN before the hlist.
        k.say(lambda: f"mutex_trylock(&dmirror{d}->mutex) failed: invalidate() returns false, -EAGAIN")
        s[mn] = MN_FAILED_DEFERRED if k.mn_itree_inv_end_failed(s) else MN_FAILED
        return
    k.mmu_interval_set_seq(s, d)
    gfn = notifier_target(k, s, t)
    if s[L.DEV_PTE_PFN[d * L.gfns + gfn]]:
        k.fire(SPTE_ZAPPED, lambda: f"dmirror{d}'s invalidate() erased gfn {gfn} from the device page table")
    s[L.DEV_PTE_PFN[d * L.gfns + gfn]] = s[L.DEV_PTE_W[d * L.gfns + gfn]] = 0
    s[mn] = arg + 1
