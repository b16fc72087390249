"""What the model reports: safety properties, kernel assertions, and observations.

A step reports an event by setting its bit; the explorer only sees bits and this
catalogue.  ``property`` events are violations of what must always hold;
``warning`` events are the kernel's own WARN/BUG assertions as they stand in the
modelled code; ``observation`` events mark that something interesting happened,
so that a search can say whether it is reachable at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["property", "warning", "observation"]


@dataclass(frozen=True)
class EventSpec:
    id: str
    kind: Kind
    summary: str


EVENTS: tuple[EventSpec, ...] = (
    EventSpec(
        "data_integrity",
        "property",
        "A guest read returns the last value the guest wrote to that gfn (or the initial "
        "value), and a guest write lands on the page the primary PTE maps at that moment; the "
        "same for the reads and writes of a device mirror through its device page table and of "
        "KVM through a pfn cache.",
    ),
    EventSpec(
        "no_use_after_free",
        "property",
        "No guest access through an SPTE reaches a page frame the host has freed, nor a device's "
        "access through its device page table or KVM's through a pfn cache; and the "
        "interval-notifier core does not touch a subscription its driver has freed after "
        "mmu_interval_notifier_remove() returned.",
    ),
    EventSpec(
        "no_deadlock",
        "property",
        "Some thread can always move until every thread has finished.",
    ),
    EventSpec(
        "quiescence",
        "property",
        "When every thread has finished, mmu_notifier_count (and mn_active_invalidate_count, and "
        "the interval tree's active_invalidate_ranges) is back to 0; with [check] quiescence, also: from every reachable state every vCPU can "
        "still finish its accesses (a state from which one never can is reported with a lasso "
        "trace: the steps to it, then a cycle that repeats forever).",
    ),
    EventSpec(
        "no_stale_spte",
        "property",
        "Once an operation that changes what a fault derives besides the pfn (the memory type "
        "or APIC-access mapping kvm_zap_gfn_range() zaps for, the page size vma_lookup() "
        "reads) has completed, no guest access goes through an SPTE built from the old "
        "information.",
    ),
    EventSpec(
        "no_spte_outside_memslot",
        "property",
        "No SPTE maps a gfn that has no valid memslot once the slot is deleted: a guest access "
        "there must exit to userspace (MMIO), not reach RAM.",
    ),
    EventSpec(
        "change_pte_without_invalidation",
        "warning",
        "WARN_ON_ONCE(!kvm->mmu_notifier_count) in kvm_mmu_notifier_change_pte() (c13fda237f08).",
    ),
    EventSpec(
        "mmu_notifier_count_negative",
        "warning",
        "BUG_ON(kvm->mmu_notifier_count < 0) in kvm_mmu_notifier_invalidate_range_end(); from v6.8 "
        "KVM_BUG_ON(kvm->mmu_invalidate_in_progress < 0) in kvm_mmu_invalidate_end() "
        "(c0db19232c1e): in_progress is never negative.",
    ),
    EventSpec(
        "invalidation_without_range",
        "warning",
        "v6.8: at least one range is added between kvm_mmu_invalidate_begin() and end(): "
        "WARN_ON_ONCE(kvm->mmu_invalidate_range_start == INVALID_GPA) in kvm_mmu_invalidate_end(), "
        "and in mmu_invalidate_retry_gfn() when mmu_lock was dropped between begin() and range_add().",
    ),
    EventSpec(
        "invalidation_dangling_at_destroy",
        "warning",
        "v6.8 (d497a0fab8b8): no invalidation is left in progress when the VM is destroyed (every "
        "thread has finished) with its notifier balanced: kvm_destroy_vm() resets an unbalanced "
        "mn_active_invalidate_count, else WARN_ON(kvm->mmu_invalidate_in_progress).",
    ),
    EventSpec(
        "page_refcount_underflow",
        "warning",
        "VM_BUG_ON_PAGE(page_ref_count(page) == 0) in put_page(): a reference dropped twice.",
    ),
    EventSpec(
        "get_page_on_freed_page",
        "warning",
        "VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow(page)) in get_page(): a reference "
        "taken on a freed frame.  Also the model's own consistency check: a step that does this "
        "holds a page it should have kept a reference on.",
    ),
    EventSpec(
        "change_pte_installed_spte",
        "observation",
        "A change_pte call made an SPTE present where there was none (arm64 and MIPS, when the "
        "last-level table survived): the next guest access needs no exit.",
    ),
    EventSpec(
        "change_pte_repointed_spte",
        "observation",
        "A change_pte call re-pointed or re-protected a present SPTE (x86 to a read-only pte, "
        "arm64, MIPS): the guest keeps running without an exit.",
    ),
    EventSpec(
        "change_pte_removed_spte",
        "observation",
        "A change_pte call removed a present SPTE (x86 to a writable pte, PPC): it saves no exit, "
        "the next access faults.",
    ),
    EventSpec("change_pte_called", "observation", "KVM's .change_pte() callback ran."),
    EventSpec("fault_retried", "observation", "A page fault saw mmu_notifier_retry() and returned to the guest "
              "(or a device's fault saw mmu_interval_read_retry()/check_retry(), or a pfn cache refresh "
              "mmu_notifier_retry_cache(), and started over)."),
    EventSpec("ksm_merged", "observation", "ksmd's replace_page() mapped the KSM page in place of the guest page."),
    EventSpec(
        "ksm_merge_aborted",
        "observation",
        "ksmd gave up a merge: write_protect_page()'s page_count check or replace_page()'s "
        "pte_same check failed.",
    ),
    EventSpec("cow_broken", "observation", "wp_page_copy() replaced a read-only page by a private copy."),
    EventSpec("spte_zapped", "observation", "An invalidation removed a present SPTE (or a device page-table "
              "entry, or invalidated a valid pfn cache)."),
    EventSpec("page_freed", "observation", "A page frame's last reference went and it was freed."),
    EventSpec("aging_found_young", "observation", "Page aging found the page young in the primary or secondary MMU."),
    EventSpec("page_reclaimed", "observation", "Reclaim unmapped the page to swap."),
    EventSpec("mmio_exit", "observation",
              "A guest access found no usable memslot and went to userspace as MMIO."),
    EventSpec("invalidation_failed", "observation",
              "A subscriber failed a non-blockable invalidate_range_start() with -EAGAIN."),
    EventSpec("memslot_changed", "observation", "A memslot was created, invalidated or deleted."),
)

BIT: dict[str, int] = {e.id: 1 << i for i, e in enumerate(EVENTS)}

DATA_INTEGRITY = BIT["data_integrity"]
USE_AFTER_FREE = BIT["no_use_after_free"]
DEADLOCK = BIT["no_deadlock"]
QUIESCENCE = BIT["quiescence"]
STALE_SPTE = BIT["no_stale_spte"]
SPTE_OUTSIDE_MEMSLOT = BIT["no_spte_outside_memslot"]
BUG_GET_FREED = BIT["get_page_on_freed_page"]
MMIO_EXIT = BIT["mmio_exit"]
INVALIDATION_FAILED = BIT["invalidation_failed"]
MEMSLOT_CHANGED = BIT["memslot_changed"]
WARN_CHANGE_PTE = BIT["change_pte_without_invalidation"]
BUG_COUNT_NEGATIVE = BIT["mmu_notifier_count_negative"]
WARN_NO_RANGE = BIT["invalidation_without_range"]
WARN_DANGLING = BIT["invalidation_dangling_at_destroy"]
BUG_REFCOUNT = BIT["page_refcount_underflow"]
CHANGE_PTE_INSTALLED_SPTE = BIT["change_pte_installed_spte"]
CHANGE_PTE_REPOINTED_SPTE = BIT["change_pte_repointed_spte"]
CHANGE_PTE_REMOVED_SPTE = BIT["change_pte_removed_spte"]
CHANGE_PTE_CALLED = BIT["change_pte_called"]
FAULT_RETRIED = BIT["fault_retried"]
KSM_MERGED = BIT["ksm_merged"]
KSM_MERGE_ABORTED = BIT["ksm_merge_aborted"]
COW_BROKEN = BIT["cow_broken"]
SPTE_ZAPPED = BIT["spte_zapped"]
PAGE_FREED = BIT["page_freed"]
AGING_FOUND_YOUNG = BIT["aging_found_young"]
PAGE_RECLAIMED = BIT["page_reclaimed"]
