"""The fault path checks for a racing invalidation under mmu_lock, drops the lock, and
only then maps the page: the shape of the amdgpu userptr bug ("keep the MMU lock until
the update ends", 1ed3d2567c80) in KVM's fault path.

The mmu_interval_notifier contract says the same for every driver: the read_retry check
and the device page-table update must be in one critical section with
mmu_interval_set_seq().  Here the check is direct_page_fault() and the update moves to
the step after it, outside mmu_lock.  The corpus entry B8 shows the bug in a device
driver itself (``hmm.device_update=after_unlock``); this variant is its form in KVM's
fault path: ``mmuspec check zap --variant examples/variants/unlock_before_install.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import FAULT_RETRIED
from mmuspec.model.guest import RELEASE
from mmuspec.model.guest import kvm_release_pfn_clean as _release
from mmuspec.model.layout import PC, V_GFN, V_PFN, V_PFN_W, V_SNAP

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

_PASSED = 255  # kept in the snapshot field: the check passed, map after the unlock


def direct_page_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    gfn = s[b + V_GFN]
    if k.is_page_fault_stale(s, gfn, s[b + V_SNAP]):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {gfn} retried")
    else:
        s[b + V_SNAP] = _PASSED
    s[b + PC] = RELEASE


def kvm_release_pfn_clean(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    if s[b + V_SNAP] == _PASSED:
        k.kvm_install_spte(s, s[b + V_GFN], s[b + V_PFN], bool(s[b + V_PFN_W]), 0)
    _release(k, s, t, arg)
