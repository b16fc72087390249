"""The memslot updater: KVM_SET_USER_MEMORY_REGION creating or deleting the memslot that
maps the scenario's gfns, racing MMU-notifier invalidations.

Creation is one swap of the active memslots (``kvm_create_memslot()`` ->
``kvm_activate_memslot()``).  Deletion is ``kvm_invalidate_memslot()``: install a copy
flagged KVM_MEMSLOT_INVALID (faults retry or exit on it), wait for the faults that saw the
old slot (``synchronize_srcu_expedited()``), zap the slot's SPTEs
(``kvm_arch_flush_shadow_memslot()``), and only then ``kvm_delete_memslot()``.  From v5.15
each swap waits until no invalidation is between start() and end()
(``mn_active_invalidate_count``, 52ac8b358b0c), so that the two see the same memslots.

The wait for faults reads the vCPUs' program counters, so scenarios with a memslot
updater get no partial-order reduction (``footprints.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import MEMSLOT_CHANGED, SPTE_OUTSIDE_MEMSLOT, SPTE_ZAPPED
from mmuspec.model.guest import in_srcu
from mmuspec.model.kvm_mmu import zapped_text
from mmuspec.model.layout import PC, SLOT_ABSENT, SLOT_INVALID, SLOT_VALID
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

MS_CREATE, MS_INVALIDATE, MS_SRCU, MS_FLUSH, MS_DELETE, MS_DONE = range(6)
PC_NAMES = ("create", "invalidate", "synchronize_srcu", "flush", "delete", "done")


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        MS_CREATE: [("kvm_create_memslot", 0)],
        MS_INVALIDATE: [("kvm_invalidate_memslot", 0)],
        MS_SRCU: [("synchronize_srcu_expedited", 0)],
        MS_FLUSH: [("kvm_arch_flush_shadow_memslot", 0)],
        MS_DELETE: [("kvm_delete_memslot", 0)],
        MS_DONE: [],
    }


def first_pc(k: Kernel) -> int:
    return MS_CREATE if k.scenario.memslot_change == "create" else MS_INVALIDATE


def no_invalidation_active(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """kvm_swap_active_memslots(): wait until mn_active_invalidate_count is 0 (v5.15)."""
    return not k.memslot_update_waits or not s[k.L.MN_ACTIVE]


def no_fault_on_old_slot(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """synchronize_srcu_expedited(): every fault holds kvm->srcu from its memslot lookup to
    its end, and a KVM_PRE_FAULT_MEMORY ioctl until it returns; a fault that started after
    the swap saw the invalid slot and never gets here (the wait is for every reader: D28)."""
    return all(not in_srcu(k, s, b) for b in k.vcpu_bases)


@helper
def set_memslot(k: Kernel, s: bytearray, state: int, what: str) -> None:
    s[k.L.SLOT] = state
    k.fire(MEMSLOT_CHANGED, lambda: f"memslot {what}")


@step("memslot", "kvm_set_memslot(KVM_MR_CREATE): kvm_create_memslot() -> kvm_activate_memslot() -> "
      "kvm_swap_active_memslots()", lock="slots_lock", guard=no_invalidation_active,
      reads="count slot", writes="slot")
def kvm_create_memslot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.set_memslot(s, SLOT_VALID, "created")
    k.thread_finished(s, t)


@step("memslot", "kvm_set_memslot(KVM_MR_DELETE): kvm_invalidate_memslot(): kvm_replace_memslot() of a "
      "KVM_MEMSLOT_INVALID copy; kvm_swap_active_memslots()", lock="slots_lock",
      guard=no_invalidation_active,
      reads="count slot", writes="slot")
def kvm_invalidate_memslot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.set_memslot(s, SLOT_INVALID, "flagged KVM_MEMSLOT_INVALID")
    s[k.base[t] + PC] = MS_SRCU


@step("memslot", "kvm_swap_active_memslots(): synchronize_srcu_expedited(&kvm->srcu)",
      lock="slots_lock", guard=no_fault_on_old_slot, reads="", writes="")
def synchronize_srcu_expedited(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    s[k.base[t] + PC] = MS_FLUSH


@step("memslot", "kvm_invalidate_memslot(): kvm_arch_flush_shadow_memslot(): zap the slot's SPTEs "
      "under mmu_lock and flush", lock="slots_lock, mmu_lock",
      reads="spte", writes="spte spt_table")
def kvm_arch_flush_shadow_memslot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    zapped = False
    for gfn in range(k.L.gfns):
        if s[k.L.SPTE_PFN[gfn]]:
            k.fire(SPTE_ZAPPED, zapped_text("kvm_arch_flush_shadow_memslot zapped", gfn))
        zapped = k.kvm_unmap_gfn_range(s, gfn) or zapped
    if zapped:
        k.kvm_flush_remote_tlbs(s)
    s[k.base[t] + PC] = MS_DELETE


@step("memslot", "kvm_delete_memslot(): kvm_replace_memslot(old, NULL); kvm_activate_memslot() -> "
      "kvm_swap_active_memslots()", lock="slots_lock", guard=no_invalidation_active,
      reads="count slot spte", writes="slot")
def kvm_delete_memslot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    k.set_memslot(s, SLOT_ABSENT, "deleted")
    for gfn in range(L.gfns):
        if s[L.SPTE_PFN[gfn]]:
            mapping = k.spte_text(s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])
            k.fire(SPTE_OUTSIDE_MEMSLOT, zapped_text(
                "the memslot is gone but", gfn, f" still maps {mapping}: guest accesses reach RAM instead of "
                "exiting to userspace"))
    k.thread_finished(s, t)
