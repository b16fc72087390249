"""Host threads that unmap besides MADV_DONTNEED: the OOM reaper and munmap() + mmap().

Both reuse madvise's ``zap_pte_range``, ``zap_page_range_end`` and ``tlb_finish_mmu``
steps (``host.py``) and differ in how they start and end:

* ``oom_reaper`` (``__oom_reap_task_mm()``) starts with
  ``mmu_notifier_invalidate_range_start_nonblock()``; a subscriber may fail it with
  -EAGAIN (each outcome is a step of its own), and the reaper then skips the range
  without unmapping it.
* ``munmap`` holds mmap_lock for write across the whole operation, and the new mapping
  (mmap() over the same range) has another page size, which a fault that looked at the
  old VMA (arm64's ``vma_lookup()``) may still use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.guest import mmap_free
from mmuspec.model.host import Z_CLEAR, Z_DONE, Z_END, Z_FREE, Z_START, zap_target
from mmuspec.model.layout import PC, T_TARGET, Z_PAGE
from mmuspec.model.notifier import mn_start_ready
from mmuspec.model.registry import step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

PC_NAMES = ("start", "clear", "end", "free", "done")
FAILS = 1  # the argument of the reaper's start step when the second subscriber fails it


def reaper_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    outcomes = [("oom_reap_range_start", 0)]
    if k.scenario.second_subscriber == "fails_nonblock":
        outcomes.append(("oom_reap_range_start", FAILS))
    return {
        Z_START: outcomes,
        Z_CLEAR: [("zap_pte_range", 0)],
        Z_END: [("zap_page_range_end", 0)],
        Z_FREE: [("tlb_finish_mmu", 0)],
        Z_DONE: [],
    }


def munmap_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        Z_START: [("munmap_start", 0)],
        Z_CLEAR: [("munmap_zap_pte_range", 0)],
        Z_END: [("zap_page_range_end", 0)],
        Z_FREE: [("munmap_finish", 0)],
        Z_DONE: [],
    }


@step("oom_reaper", "__oom_reap_task_mm(): mmu_notifier_invalidate_range_start_nonblock(); on -EAGAIN "
      "tlb_finish_mmu() and skip the vma", lock="mmu_lock", guard=mn_start_ready,
      reads="count seq spte slot itree", writes="count seq spte spt_table itree", notifier="start_nonblock")
def oom_reap_range_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    if not k.mn_phases_reset(s, t):
        # The interval tree failed the range (a driver lock was held): the core returned
        # -EAGAIN before the hlist, so KVM and the second subscriber never saw it.
        s[k.base[t] + PC] = Z_FREE
        return
    ok = k.mmu_notifier_invalidate_range_start_nonblock(s, zap_target(k, s, t), arg == FAILS)
    s[k.base[t] + PC] = Z_CLEAR if ok else Z_FREE


@step("munmap", "munmap(): mmap_write_lock(); do_munmap() -> unmap_region(): "
      "mmu_notifier_invalidate_range_start(MMU_NOTIFY_UNMAP)", lock="mmap_lock (write), mmu_lock",
      guard=mmap_free,
      reads="count spte slot mmap", writes="count spte spt_table mmap attr")
def munmap_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    s[L.MMAP_LOCK] = 1
    s[L.ATTR_PENDING] = 1
    k.mmu_notifier_invalidate_range_start(s, zap_target(k, s, t), False)
    s[k.base[t] + PC] = Z_CLEAR


@step("munmap", "unmap_region(): zap_pte_range(); the mmap() that follows maps the range with another "
      "page size (a new VMA)", lock="ptl",
      reads="page pte ptl attr", writes="data page pte attr")
def munmap_zap_pte_range(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    gfn = zap_target(k, s, t)
    k.zap_pte(s, t, gfn)
    s[k.L.ATTR[gfn]] ^= 1
    s[k.base[t] + PC] = Z_END


@step("munmap", "unmap_region(): tlb_finish_mmu() frees the page; mmap(); mmap_write_unlock()",
      lock="mmap_lock (write)",
      reads="page", writes="data page mmap attr")
def munmap_finish(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    if s[b + Z_PAGE]:
        k.put_page(s, s[b + Z_PAGE])
    s[b + Z_PAGE] = 0
    s[L.MMAP_LOCK] = 0
    s[L.ATTR_PENDING] = 0
    nxt = s[b + T_TARGET] + 1
    if nxt >= len(k.unmap_targets[t]):
        s[b + T_TARGET] = 0
        k.thread_finished(s, t)
    else:
        s[b + T_TARGET] = nxt
        s[b + PC] = Z_START
