"""The switches as the model's steps read them (``k.retry_range``, ``k.lockless_precheck``):
one typed field each, declared with the switch it reads.

``Kernel`` copies each field onto itself, so that a step (and the compiled core's
translator, which packs ``k``'s scalars) reads ``k.NAME`` as before, and inherits this
class for type checkers, so that mypy knows every such attribute and its type.  A switch
whose code exists only on some arches (``Switch.arches``) reads as ``off_arch`` elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from mmuspec.model.switches import SWITCHES, Config, Value


def switch(name: str, *, equals: str | None = None, off_arch: Value | None = None) -> Any:
    """A field read from switch ``name``: its value (as the field's type), or whether it
    ``equals`` a value; ``off_arch`` on an arch the switch's code does not exist on."""
    return field(metadata={"switch": name, "equals": equals, "off_arch": off_arch})


@dataclass(frozen=True)
class KernelSwitches:
    wrap_change_pte: bool = switch("mm.wrap_change_pte")
    change_pte_order: str = switch("mm.change_pte_order")
    rmap_unmap_notifier: str = switch("mm.rmap_unmap_notifier")
    aging_notifiers: str = switch("mm.aging_notifiers")
    wp_reuse: str = switch("mm.wp_reuse")
    change_pte: str = switch("kvm.change_pte")
    change_pte_fallback: str = switch("mm.change_pte_fallback")
    nonblock_end_on_failure: bool = switch("mm.nonblock_end_on_failure")
    nonblock_itree_end: bool = switch("mm.nonblock_itree_end")
    gmem_bind_lock: bool = switch("kvm.gmem_bind_lock")
    gmem_invalidate_begin: str = switch("kvm.gmem_invalidate_begin")
    start_zaps_change_pte_events: bool = switch("kvm.start_zaps_change_pte_events")
    end_bumps_seq: bool = switch("kvm.end_bumps_seq")
    fault_retry_checks: str = switch("kvm.fault_retry_checks")
    gup_write_always: bool = switch("kvm.gup_write_always")
    change_pte_skips_invalid_slot: bool = switch("kvm.change_pte_skips_invalid_slot")
    # Only x86 compares ranges (arm64, PPC and MIPS keep mmu_notifier_retry()) or pre-checks
    # without mmu_lock.
    retry_range: str = switch("kvm.retry_range", off_arch="global")
    lockless_precheck: bool = switch("kvm.lockless_precheck", off_arch=False)
    # Aging without mmu_lock (v6.15 x86): the walk's read and its update are two steps (host.py).
    lockless_aging: str = switch("kvm.lockless_aging", off_arch="locked")
    zap_gfn_range_count: str = switch("kvm.zap_gfn_range_count")
    count_only_if_memslot: bool = switch("kvm.count_only_if_memslot")
    memslot_update_waits: bool = switch("kvm.memslot_update_waits")
    int_mmu_seq: bool = switch("kvm.mmu_seq_snapshot", equals="int", off_arch=False)
    tlbs_dirty: str = switch("kvm.tlbs_dirty")
    snapshot_before_unlock: bool = switch("kvm.fault_snapshot", equals="before_unlock")  # arm64's vma_lookup
    # v6.8's kvm_mmu_invalidate_begin(), range_add() and end().
    invalidate_begin_add_end: bool = switch("kvm.invalidate_api", equals="begin_add_end")
    # Whether a prefault on an invalid memslot returns -EAGAIN (3ccbf6f47098) instead of
    # retrying inside the ioctl.
    prefault_eagain: bool = switch("kvm.prefault", equals="eagain_on_invalid_slot")

    @classmethod
    def of(cls, config: Config) -> KernelSwitches:
        arch = config["arch"]
        values: dict[str, Any] = {}
        for f in fields(cls):
            name, equals, off_arch = f.metadata["switch"], f.metadata["equals"], f.metadata["off_arch"]
            raw = config[name]
            if off_arch is not None and not SWITCHES[name].acts_on(arch):
                values[f.name] = off_arch
            elif equals is not None:
                values[f.name] = raw == equals
            else:
                values[f.name] = {"bool": bool, "str": str}.get(str(f.type), lambda v: v)(raw)
        return cls(**values)
