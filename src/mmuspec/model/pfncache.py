"""KVM's gfn_to_pfn_cache: a kernel mapping of one guest page that KVM itself reads and
writes (Xen shared info and runstate, kvmclock), refreshed on demand and invalidated by
KVM's MMU notifier (virt/kvm/pfncache.c).

Read in virt/kvm/pfncache.c of torvalds/linux at 0318f207d1c2 (a v6.2-era tree [I]), the
v5.17 code it replaced as the removed lines of 58cd407ca4c6's patch mail, and the
current virt/kvm/kvm_main.c (``kvm_mmu_notifier_invalidate_range_start()``):

* A user (the pfn cache thread here) takes ``read_lock(&gpc->lock)``, and
  ``kvm_gpc_check()`` says whether the cache is valid; if so it reads or writes the page
  through ``gpc->khva`` under that lock, else it drops the lock and refreshes.
* ``kvm_gpc_refresh()`` -> ``hva_to_pfn_retry()``: under ``gpc->lock`` for write, mark
  the cache invalid and snapshot ``mmu_invalidate_seq``; drop the lock; ``hva_to_pfn()``
  (always for write: "We always request a writeable mapping"), which may fault the page
  in or break COW; take the lock again and ``mmu_notifier_retry_cache()``: retry while
  ``mn_active_invalidate_count`` is raised, or if the sequence moved.  Otherwise the
  cache becomes valid with the new pfn, and the reference ``hva_to_pfn()`` took is
  dropped: "The pfn is now tracked by the cache and can be safely migrated, swapped,
  etc... as the cache will invalidate any mappings in response to relevant mmu_notifier
  events" (since 85165781c5d9, "KVM: Do not pin pages tracked by gfn=>pfn caches").
* ``kvm_mmu_notifier_invalidate_range_start()`` raises ``mn_active_invalidate_count`` and
  calls ``gfn_to_pfn_cache_invalidate_start()`` *before* it takes mmu_lock and raises
  ``mmu_invalidate_in_progress``: "Because this runs without holding mmu_lock, the pfn
  caches must use mn_active_invalidate_count (see above) instead of mmu_notifier_count."
  That is the retry rule's difference from the fault path's.  In this model it is a
  phase step of the invalidating thread (``notifier.py``) before KVM's mmu_lock part.

``kvm.pfncache_retry=in_progress`` puts back the rule the pfn cache had before
58cd407ca4c6 (``mmu_notifier_retry_hva()``: the in-progress count over the range, then
the sequence), in the refresh as 58cd407ca4c6 left it (the cache is marked invalid before
gpc->lock is dropped).  With the unpinned pfn that is mainline between 85165781c5d9 ("Do
not pin pages tracked by gfn=>pfn caches", applied just before the fix) and 58cd407ca4c6,
not a release (review D25).  ``in_progress_pinned`` is the v5.17 release's pin: the cache
keeps the reference hva_to_pfn() took until a later refresh installs another pfn, so the
race gives stale data, not a use after free.  Two more differences of v5.17 are not
modelled: its refresh set ``gpc->valid = true`` with an error pfn as a placeholder (which
gfn_to_pfn_cache_invalidate_start() skips) and retried with mmu_notifier_retry_hva() under
``read_lock(&kvm->mmu_lock)`` (the same test as this step's, at one point in time).  One cache, one user, so ``gpc->refresh_lock`` (93984f19e7bc),
which serializes concurrent refreshes, never waits here; concurrent refreshes, memslot
generations and the KVM_GUEST_USES_PFN vCPU kick are not modelled (review D26:
``kvm_gpc_check()`` also tests ``gpc->active``, the gpa and the memslot generation, which
one host-use cache never changes; the ``WARN_ON_ONCE(called && !may_block)`` of a guest-used
cache under the OOM reaper cannot be expressed).  When the retry test
says retry, the kernel snapshots the sequence under gpc->lock and drops the thrown-away
pfn's reference after unlocking, at the top of the loop; the model does both in the
locked step (the reference only ever drops earlier, and nothing maps that pfn).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import FAULT_RETRIED, SPTE_ZAPPED
from mmuspec.model.guest import (
    COW_STEPS,
    DONE,
    GUP,
    MAP,
    NEW,
    RETRY,
    VIA_GPC,
    check_access,
    mmap_free,
)
from mmuspec.model.kvm import _stale
from mmuspec.model.layout import (
    PC,
    PTE_RW,
    V_GFN,
    V_PFN,
    V_PFN_W,
    V_SNAP,
    V_WRITE,
)
from mmuspec.model.notifier import mn_phase_is, notifier_target
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

REFRESH = 11
PC_NAMES = (
    "kvm_gpc_check", "retry", "hva_to_pfn", "lock_page", "cow_start", "cow_lock", "cow_notify", "cow_end",
    "gpc_lock", "-", "done", "refresh",
)


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        NEW: [("kvm_gpc_check", int(op == "write")) for op in k.scenario.pfncache_ops],
        RETRY: [("kvm_gpc_check_retry", 0)],
        GUP: [("hva_to_pfn_retry", 0)],
        **COW_STEPS,
        MAP: [("mmu_notifier_retry_cache", 0)],
        DONE: [],
        REFRESH: [("kvm_gpc_refresh", 0)],
    }


# -- the cache's user ---------------------------------------------------------------

@step("gpc", "read_lock_irqsave(&gpc->lock); kvm_gpc_check(): gpc->valid; then the access through "
      "gpc->khva (e.g. kvm_setup_guest_pvclock(), kvm_xen_update_runstate_guest()); read_unlock_irqrestore(); "
      "not valid: kvm_gpc_refresh()",
      lock="gpc->lock (read)",
      reads="data page pte gpc", writes="data")
def kvm_gpc_check(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = k.scenario.pfncache_gfn, arg
    k.gpc_attempt(s, t)


@step("gpc", "the caller's loop after kvm_gpc_refresh(): read_lock_irqsave(&gpc->lock); kvm_gpc_check() "
      "again, and the access", lock="gpc->lock (read)",
      reads="data page pte gpc", writes="data")
def kvm_gpc_check_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.gpc_attempt(s, t)


@helper
def gpc_attempt(k: Kernel, s: bytearray, t: int) -> None:
    L = k.L
    b = k.base[t]
    if s[L.GPC_VALID]:
        k.gpc_touch(s, t, s[b + V_GFN], s[b + V_WRITE], s[L.GPC_PFN])
        k.access_done(s, t)
        return
    k.say(lambda: "kvm_gpc_check(): the cache is not valid: kvm_gpc_refresh()")
    s[b + PC] = REFRESH


@helper
def gpc_touch(k: Kernel, s: bytearray, t: int, gfn: int, write: int, pfn: int) -> None:
    """KVM reads or writes ``pfn`` through the cache's kernel mapping: check it."""
    check_access(k, s, t, gfn, write, pfn, VIA_GPC)


# -- the refresh ---------------------------------------------------------------------

@step("gpc", "kvm_gpc_refresh(): mutex_lock(&gpc->refresh_lock); write_lock_irq(&gpc->lock); "
      "hva_to_pfn_retry(): gpc->valid = false; mmu_seq = kvm->mmu_invalidate_seq; smp_rmb(); "
      "write_unlock_irq(&gpc->lock)",
      lock="gpc->lock",
      reads="seq gpc", writes="gpc")
def kvm_gpc_refresh(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    s[L.GPC_VALID] = 0
    s[b + V_SNAP] = s[L.SEQ]
    s[b + PC] = GUP
    k.say(lambda: f"mmu_seq = {s[L.SEQ]}")


def hva_to_pfn_retry_can_run(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """get_user_pages_fast() needs no lock for a writable PTE; the slow path waits for the
    PTL (and mmap_lock)."""
    L = k.L
    gfn = s[k.base[t] + V_GFN]
    return s[L.PTE_PROT[gfn]] == PTE_RW or (not s[L.PTL] and mmap_free(k, s, t, arg))


@step("gpc", "hva_to_pfn_retry(): hva_to_pfn(gpc->uhva, write): get_user_pages_fast(FOLL_WRITE), else "
      "get_user_pages() -> handle_mm_fault() under the PTL; kmap()",
      lock="none (fast path) or ptl", guard=hva_to_pfn_retry_can_run,
      reads="data page pte ptl mmap", writes="data page pte")
def hva_to_pfn_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = s[b + V_GFN]
    if s[L.PTE_PROT[gfn]] == PTE_RW:
        pfn = s[L.PTE_PFN[gfn]]
        k.get_page(s, pfn)
        s[b + V_PFN], s[b + V_PFN_W] = pfn, 1
        s[b + PC] = MAP
        return
    k.handle_mm_fault(s, t, gfn, True)  # "We always request a writeable mapping"; then look again


@helper
def retry_cache(k: Kernel, s: bytes | bytearray, mmu_seq: int, gfn: int) -> bool:
    """The test of mmu_notifier_retry_cache() (58cd407ca4c6): "if
    (kvm->mn_active_invalidate_count) return true; smp_rmb(); return kvm->mmu_invalidate_seq
    != mmu_seq;".  Before it the refresh used the fault path's mmu_notifier_retry_hva(kvm,
    mmu_seq, uhva)."""
    L = k.L
    if k.pfncache_retry == "active_count":
        return bool(s[L.MN_ACTIVE]) or s[L.SEQ] != mmu_seq
    return _stale(k, s, mmu_seq, gfn + k.hva_offset, "seq_and_count")


@step("gpc", "hva_to_pfn_retry(): write_lock_irq(&gpc->lock); mmu_notifier_retry_cache(): retry: mmu_seq = "
      "kvm->mmu_invalidate_seq, write_unlock_irq(), kvm_release_pfn_clean(new_pfn) and hva_to_pfn() again; "
      "else gpc->valid = true; gpc->pfn = new_pfn; kvm_release_pfn_clean(new_pfn); write_unlock_irq(); "
      "mutex_unlock(&gpc->refresh_lock)",
      lock="gpc->lock",
      reads="count seq page gpc", writes="data page gpc")
def mmu_notifier_retry_cache(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, pfn = s[b + V_GFN], s[b + V_PFN]
    if k.retry_cache(s, s[b + V_SNAP], gfn):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name}: mmu_notifier_retry_cache() says retry "
               f"(mn_active_invalidate_count {s[L.MN_ACTIVE] if L.MN_ACTIVE >= 0 else '-'}, "
               f"count {s[L.COUNT]}, seq {s[L.SEQ]} vs mmu_seq {s[b + V_SNAP]})")
        s[b + V_SNAP] = s[L.SEQ]
        k.put_page(s, pfn)
        s[b + V_PFN] = s[b + V_PFN_W] = 0
        s[b + PC] = GUP
        return
    s[L.GPC_VALID] = 1
    old = s[L.GPC_PFN]
    s[L.GPC_PFN] = pfn
    if k.pfncache_retry != "in_progress_pinned":
        k.put_page(s, pfn)
    elif old:
        # v5.17: the cache holds its pfn until a refresh replaces it (the release of the old
        # pfn after write_unlock_irq() is in this step: nothing can use it in between).
        k.put_page(s, old)
    s[b + V_PFN] = s[b + V_PFN_W] = s[b + V_SNAP] = 0
    s[b + PC] = RETRY


# -- the invalidation: a phase step of the invalidating thread ------------------------

@step("mm", "kvm_mmu_notifier_invalidate_range_start(), before mmu_lock: mn_active_invalidate_count++ "
      "under mn_invalidate_lock; gfn_to_pfn_cache_invalidate_start(): for each cache, "
      "write_lock_irq(&gpc->lock); if (gpc->valid && !is_error_noslot_pfn(gpc->pfn) && uhva in the range) "
      "gpc->valid = false; write_unlock_irq()",
      lock="mn_invalidate_lock, gpc->lock", guard=mn_phase_is,
      reads="count gpc", writes="count gpc")
def gfn_to_pfn_cache_invalidate_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    if k.tracks_mn_active:
        s[L.MN_ACTIVE] += 1
    gfn = notifier_target(k, s, t)
    if s[L.GPC_VALID] and s[L.GPC_PFN] and gfn == k.scenario.pfncache_gfn:
        s[L.GPC_VALID] = 0
        k.fire(SPTE_ZAPPED, lambda: f"gfn_to_pfn_cache_invalidate_start() invalidated the pfn cache of gfn {gfn}")
    s[k.mn_field[t]] = arg + 1
