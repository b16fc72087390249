"""guest_memfd: a second source of invalidations, with its own start/end symmetry hazard.

From v6.8 (a7800aa80ea4 "KVM: Add KVM_CREATE_GUEST_MEMFD ioctl() for guest-specific
backing memory") a memslot may take its pages from a guest_memfd file instead of an hva;
the gfns of a gmem-only memslot (v6.18) never go through the host page tables.  The
scenario's ``[gmem]`` table makes the file back every gfn: the file's page cache stands
where the primary PTEs stand in the other scenarios (``pte[g]`` is the folio at index g,
present and writable, or a hole), so the data checks of ``guest.py`` apply unchanged: a
guest store must land in the file's folio, a load must see the last value written, a hole
reads as zeroes.  Checked in virt/kvm/guest_memfd.c of the 6.12.118 stable tree, of a
6.10-based tree (amazonlinux/linux 3794708418) and of a mainline tree after v6.18
(torvalds/linux 01f492e181) [V]; v6.8's text is the 6.10 one without kvm_gmem_prepare_folio()
[I]:

* **The vCPU's fault** (``kvm_gmem_get_pfn()``, replacing ``hva_to_pfn()``): snapshot
  ``mmu_invalidate_seq``; the file from ``slot->gmem.file`` (-EFAULT once released, and
  the vCPU exits to userspace); ``kvm_gmem_get_folio()`` = ``filemap_grab_folio()`` (after
  6.18 a policy-aware ``__filemap_get_folio_mpol()``), which locks the folio and allocates one
  for a hole, zeroed before the guest sees it; a folio reference; then the usual ``mmu_lock``
  section and ``is_page_fault_stale()``.  The lockless pre-check before the lookup
  (d02c357e5bfa) sees a range still INVALID_GPA as holding no gfn.
* **Punching a hole** (``kvm_gmem_punch_hole()``): ``filemap_invalidate_lock()``;
  ``kvm_gmem_invalidate_begin()``, which takes ``mmu_lock`` and calls
  ``kvm_mmu_invalidate_begin()`` *only if a binding overlaps* ("if (!found_memslot)") and
  zaps those gfns; ``truncate_inode_pages_range()``; ``kvm_gmem_invalidate_end()``, which
  calls ``kvm_mmu_invalidate_end()`` *only if* ``xa_find(&gmem->bindings, ...)`` finds
  one; ``filemap_invalidate_unlock()``.  "Bindings must be stable across invalidation to
  ensure the start+end are balanced": ``kvm_gmem_bind()`` and ``kvm_gmem_unbind()`` take
  the same lock (``kvm.gmem_bind_lock``).  The September 2023 posting called begin
  unconditionally and end conditionally; the asymmetry was found in review and fixed
  before the merge (``kvm.gmem_invalidate_begin=always`` replays it).
* **Releasing the file** (``kvm_gmem_release()``): under ``kvm->slots_lock`` and the same
  lock, clear ``slot->gmem.file`` of every binding (v6.8: ``rcu_assign_pointer()`` and
  ``synchronize_rcu()``; 6.12: ``WRITE_ONCE()``, a fault cannot hold a file whose last
  reference is gone), then invalidate_begin/end over the whole file; the memory lives as long
  as the inode, so nothing is freed.  slots_lock keeps memslot updates out of the release
  and the release out of a memslot update.
* **A memslot going or coming** (``gmem.slot``): deletion zaps the slot's SPTEs once no
  fault that saw it is in flight (the SRCU wait of ``kvm_swap_active_memslots()``), then
  ``kvm_free_memslot()`` -> ``kvm_gmem_unbind()``; creation is ``kvm_gmem_bind()`` in
  ``kvm_set_memory_region()``, then the slot becomes visible.
* **Host mappings of the file** (v6.18, ``gmem.mmap``, ``kvm.guest_memfd=mmap``): host
  userspace faults the file's folios into its own PTEs (``kvm_gmem_fault_user_mapping()``,
  SIGBUS unless the file was created with GUEST_MEMFD_FLAG_INIT_SHARED, whose invalidations
  then use ``KVM_FILTER_SHARED``), so a hole punch reaches the same gfn twice: through
  guest_memfd's begin/end, and through ``unmap_mapping_folio()``'s MMU-notifier range,
  which KVM's hva handler also applies to the gmem-only slot mapped at that hva [I: when the
  slot's userspace_addr is that mapping].

Modelled coarser: a fault's folio lookup, the host's fault, a memslot deletion and each
bind are one step each; the truncation of one folio holds its folio lock across the host
unmap, as ``truncate_inode_pages_range()`` does, so faults wait for it.  Scenarios with
guest_memfd get no partial-order reduction (``Kernel.footprints``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mmuspec.model.events import FAULT_RETRIED, MMIO_EXIT, SPTE_ZAPPED
from mmuspec.model.guest import GMEM_GET_PFN, MAP, RETRY, VIA_PTE, check_access, in_srcu
from mmuspec.model.layout import (
    ALL_ONES,
    G_MAPPED,
    PC,
    PG_LOCKED,
    PTE_NONE,
    PTE_RW,
    T_PAGE,
    T_TARGET,
    V_DONE,
    V_GFN,
    V_PFN,
    V_PFN_W,
    V_SNAP,
    V_WRITE,
)
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

# The hole-punching (or releasing) thread.
(GP_BEGIN, GP_UNMAP_START, GP_ZAP, GP_UNMAP_END, GP_REMOVE, GP_END, GP_RELEASE, GP_DONE) = range(8)
PC_NAMES = ("punch_hole", "unmap_start", "zap_pte", "unmap_end", "truncate", "invalidate_end", "release", "done")
# The memslot thread.
GS_DELETE, GS_UNBIND, GS_BIND, GS_CREATE, GS_DONE = range(5)
SLOT_PC_NAMES = ("delete_memslot", "unbind", "bind", "create_memslot", "done")
# Host userspace on the mmap of the file.
GU_ACCESS, GU_FAULT, GU_RETRY, GU_DONE = range(4)
USER_PC_NAMES = ("access", "fault", "retry", "done")


def punch_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        GP_BEGIN: [("kvm_gmem_punch_hole", 0)],
        GP_UNMAP_START: [("unmap_mapping_folio_start", 0)],
        GP_ZAP: [("unmap_mapping_folio_zap", 0)],
        GP_UNMAP_END: [("unmap_mapping_folio_end", 0)],
        GP_REMOVE: [("truncate_inode_folio", 0)],
        GP_END: [("kvm_gmem_invalidate_end", 0)],
        GP_RELEASE: [("kvm_gmem_release", 0)],
        GP_DONE: [],
    }


def slot_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    return {
        GS_DELETE: [("kvm_gmem_delete_memslot", 0)],
        GS_UNBIND: [("kvm_gmem_unbind", 0)],
        GS_BIND: [("kvm_gmem_bind", 0)],
        GS_CREATE: [("kvm_gmem_create_memslot", 0)],
        GS_DONE: [],
    }


def user_program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    sc = k.scenario
    return {
        GU_ACCESS: [("gmem_user_access", gfn * 2 + (op == "write")) for gfn in range(sc.gfns)
                    for op in sc.gmem_host_ops],
        GU_FAULT: [("kvm_gmem_fault_user_mapping", 0)],
        GU_RETRY: [("gmem_user_retry", 0)],
        GU_DONE: [],
    }


def initial(k: Kernel, s: bytearray) -> None:
    """The file's folios are referenced by its page cache only (no PTE maps them); the
    binding, the memslot and slot->gmem.file exist unless a thread is about to create them."""
    L = k.L
    for gfn in range(L.gfns):
        pfn = s[L.PTE_PFN[gfn]]
        if pfn:
            s[L.MAP[pfn]] = 0
    created = k.scenario.gmem_slot == "create"
    if L.GMEM_BOUND >= 0:
        s[L.GMEM_BOUND] = 0 if created else 1
        s[L.GMEM_SLOT] = 0 if created else 1
    if L.GMEM_FILE >= 0:
        s[L.GMEM_FILE] = 1
    for thread in k.threads:
        if thread.kind == "gmem":
            s[thread.base + PC] = GP_BEGIN if k.scenario.gmem_punch_hole else GP_RELEASE
        elif thread.kind == "gmem_slot":
            s[thread.base + PC] = GS_BIND if created else GS_DELETE


def bound(k: Kernel, s: bytes | bytearray) -> bool:
    """``xa_find(&gmem->bindings, ...)``: the memslot is bound to the file."""
    return k.L.GMEM_BOUND < 0 or bool(s[k.L.GMEM_BOUND])


def memslot_present(k: Kernel, s: bytes | bytearray) -> bool:
    return k.L.GMEM_SLOT < 0 or bool(s[k.L.GMEM_SLOT])


def file_attached(k: Kernel, s: bytes | bytearray) -> bool:
    """``slot->gmem.file`` is still set (kvm_gmem_release() clears it)."""
    return k.L.GMEM_FILE < 0 or bool(s[k.L.GMEM_FILE])


def invalidate_lock_free(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """filemap_invalidate_lock() can be taken."""
    return k.L.GMEM_LOCK < 0 or not s[k.L.GMEM_LOCK]


def folio_unlocked(k: Kernel, s: bytes | bytearray, gfn: int) -> bool:
    pfn = s[k.L.PTE_PFN[gfn]]
    return not pfn or not s[k.L.FLAGS[pfn]] & PG_LOCKED


def punch_target(k: Kernel, s: bytes | bytearray, t: int) -> int:
    return k.scenario.gmem_punch_hole[s[k.base[t] + T_TARGET]]


# -- guest_memfd's invalidation ------------------------------------------------------------

@helper
def kvm_gmem_invalidate_begin(k: Kernel, s: bytearray, start: int, end: int) -> None:
    """__kvm_gmem_invalidate_begin(): for each binding that overlaps, the first time
    ``KVM_MMU_LOCK(); kvm_mmu_invalidate_begin()``, then kvm_mmu_unmap_gfn_range(), which is
    ``kvm_mmu_invalidate_range_add()`` of the binding's gfns and the zap; flush.  With
    ``kvm.invalidate_api=begin_add_end`` (every era with guest_memfd) these are the model's
    v6.8 helpers, so a begin with no range added WARNs here as on the MMU-notifier path.
    ``kvm.gmem_invalidate_begin=always`` is the September 2023 posting: begin under mmu_lock
    before the walk of the bindings, whether or not one overlaps, so with none the count is
    raised and no range is added."""
    hit = bound(k, s)
    if hit or k.gmem_invalidate_begin == "always":
        if k.invalidate_begin_add_end:
            k.kvm_mmu_invalidate_begin(s)
        else:  # the pre-v6.8 API, a what-if: the count and its range at once
            k.kvm_inc_notifier_count(s, start, end) if hit else k.kvm_inc_notifier_count(s, 0, ALL_ONES)
    if not hit:
        return
    if k.invalidate_begin_add_end:
        k.kvm_mmu_invalidate_range_add(s, start, end)
    zapped = False
    for gfn in range(start, end):
        if s[k.L.SPTE_PFN[gfn]]:
            k.fire(SPTE_ZAPPED, _zapped_text(gfn))
        zapped = k.kvm_unmap_gfn_range(s, gfn) or zapped
    if zapped:
        k.kvm_flush_remote_tlbs(s)


def _zapped_text(gfn: int) -> Callable[[], str]:
    return lambda: f"kvm_gmem_invalidate_begin zapped spte[{gfn}]"


@step("gmem", "kvm_gmem_punch_hole(): filemap_invalidate_lock(); kvm_gmem_invalidate_begin(): if a binding "
      "overlaps: KVM_MMU_LOCK(); kvm_mmu_invalidate_begin(); kvm_mmu_unmap_gfn_range() (range_add(), zap); flush; "
      "KVM_MMU_UNLOCK()",
      lock="filemap_invalidate_lock, mmu_lock", guard=invalidate_lock_free,
      reads="count spte spt_table gmem", writes="count spte spt_table gmem")
def kvm_gmem_punch_hole(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    gfn = punch_target(k, s, t)
    s[k.L.GMEM_LOCK] = 1
    k.kvm_gmem_invalidate_begin(s, gfn, gfn + 1)
    s[k.base[t] + PC] = GP_UNMAP_START if k.scenario.gmem_mmap else GP_REMOVE


@step("gmem", "truncate_inode_pages_range(): folio_lock(); truncate_cleanup_folio(): if folio_mapped(): "
      "unmap_mapping_folio() -> zap_page_range_single(): mmu_notifier_invalidate_range_start()",
      lock="folio lock, mmu_lock",
      reads="count page pte spte spt_table slot gmem", writes="count page spte spt_table")
def unmap_mapping_folio_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = punch_target(k, s, t)
    pfn = s[L.PTE_PFN[gfn]]
    if not pfn:
        s[b + PC] = GP_END  # a hole: nothing to truncate
        return
    s[L.FLAGS[pfn]] |= PG_LOCKED
    s[b + T_PAGE] = pfn
    if s[L.GMEM_UPTE[gfn]] != pfn:
        s[b + PC] = GP_REMOVE
        return
    k.mmu_notifier_invalidate_range_start(s, gfn, False)
    s[b + PC] = GP_ZAP


@step("gmem", "unmap_mapping_folio(): zap_pte_range() of the host mapping of the file; the page is gathered",
      lock="folio lock, ptl",
      reads="page gmem", writes="page gmem")
def unmap_mapping_folio_zap(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = punch_target(k, s, t)
    pfn = s[L.GMEM_UPTE[gfn]]
    s[L.GMEM_UPTE[gfn]] = 0
    k.page_remove_rmap(s, pfn)
    s[b + G_MAPPED] = 1
    s[b + PC] = GP_UNMAP_END


@step("gmem", "zap_page_range_single(): mmu_notifier_invalidate_range_end(); tlb_finish_mmu()",
      lock="folio lock, mmu_lock",
      reads="count seq slot page", writes="count seq page data")
def unmap_mapping_folio_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mmu_notifier_invalidate_range_end(s, punch_target(k, s, t), False)
    k.put_page(s, s[b + T_PAGE])  # the host mapping's reference
    s[b + G_MAPPED] = 0
    s[b + PC] = GP_REMOVE


@step("gmem", "truncate_inode_folio(): filemap_remove_folio(); folio_unlock(); folio_put() of the page "
      "cache's reference", lock="folio lock",
      reads="page pte", writes="page pte data")
def truncate_inode_folio(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = punch_target(k, s, t)
    pfn = s[L.PTE_PFN[gfn]]
    if pfn:
        s[L.PTE_PFN[gfn]] = 0
        s[L.PTE_PROT[gfn]] = PTE_NONE
        s[L.EXPECT[gfn]] = 0  # the hole reads as zeroes from now on
        s[L.FLAGS[pfn]] &= ~PG_LOCKED
        k.put_page(s, pfn)
    s[b + T_PAGE] = 0
    s[b + PC] = GP_END


@step("gmem", "kvm_gmem_invalidate_end(): if (xa_find(&gmem->bindings, ...)) { KVM_MMU_LOCK(); "
      "kvm_mmu_invalidate_end(); KVM_MMU_UNLOCK(); } filemap_invalidate_unlock()",
      lock="mmu_lock, filemap_invalidate_lock",
      reads="count seq gmem", writes="count seq gmem")
def kvm_gmem_invalidate_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    if bound(k, s):
        if k.invalidate_begin_add_end:
            k.kvm_mmu_invalidate_end(s)
        else:
            k.kvm_dec_notifier_count(s)
    s[L.GMEM_LOCK] = 0
    nxt = s[b + T_TARGET] + 1
    punches = len(k.scenario.gmem_punch_hole)
    if nxt < punches:
        s[b + T_TARGET] = nxt
        s[b + PC] = GP_BEGIN
    elif nxt == punches and k.scenario.gmem_release:
        s[b + T_TARGET] = nxt
        s[b + PC] = GP_RELEASE
    else:
        s[b + T_TARGET] = 0
        k.thread_finished(s, t)


def release_may_start(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """kvm_gmem_release() takes kvm->slots_lock, then filemap_invalidate_lock(): it waits for
    a memslot update in progress (bound but not yet created, or deleted but not yet unbound:
    kvm_set_memslot() holds slots_lock across both)."""
    L = k.L
    mid_update = L.GMEM_BOUND >= 0 and bool(s[L.GMEM_BOUND]) and not s[L.GMEM_SLOT]
    return invalidate_lock_free(k, s, t, arg) and not mid_update


def slots_lock_free(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """No kvm_gmem_release() between its begin and its end, which hold kvm->slots_lock (the
    only window in which the release has cleared slot->gmem.file and holds the invalidate lock)."""
    L = k.L
    return L.GMEM_FILE < 0 or bool(s[L.GMEM_FILE]) or not s[L.GMEM_LOCK]


@step("gmem", "kvm_gmem_release(): mutex_lock(&kvm->slots_lock); filemap_invalidate_lock(); "
      "xa_for_each(bindings) slot->gmem.file = NULL (v6.8: rcu_assign_pointer() and synchronize_rcu(); "
      "v6.12: WRITE_ONCE()); kvm_gmem_invalidate_begin(gmem, 0, -1ul)",
      lock="slots_lock, filemap_invalidate_lock, mmu_lock", guard=release_may_start,
      reads="count spte spt_table gmem", writes="count spte spt_table gmem")
def kvm_gmem_release(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    s[L.GMEM_LOCK] = 1
    s[L.GMEM_FILE] = 0
    k.kvm_gmem_invalidate_begin(s, 0, L.gfns)
    s[k.base[t] + PC] = GP_END


# -- the memslot and its binding -----------------------------------------------------------

def binding_may_change(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """kvm_gmem_bind() / kvm_gmem_unbind() take filemap_invalidate_lock() (every kernel);
    ``kvm.gmem_bind_lock=false`` is the what-if without it.  Both run under slots_lock
    (kvm_set_memory_region(), kvm_free_memslot()), which a release holds."""
    return slots_lock_free(k, s, t, arg) and (not k.gmem_bind_lock or invalidate_lock_free(k, s, t, arg))


def no_fault_in_flight(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """The SRCU wait of kvm_swap_active_memslots(): no fault that saw the old slot is still
    between its memslot lookup and its end; and slots_lock, which kvm_set_memslot() takes
    first, is not held by a release."""
    return slots_lock_free(k, s, t, arg) and all(not in_srcu(k, s, b) for b in k.vcpu_bases)


@step("gmem_slot", "kvm_set_memslot(KVM_MR_DELETE): kvm_invalidate_memslot(); synchronize_srcu(); "
      "kvm_arch_flush_shadow_memslot(); kvm_delete_memslot()", lock="slots_lock, mmu_lock",
      guard=no_fault_in_flight,
      reads="spte spt_table gmem", writes="spte spt_table gmem")
def kvm_gmem_delete_memslot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    s[L.GMEM_SLOT] = 0
    zapped = False
    for gfn in range(L.gfns):
        zapped = k.kvm_unmap_gfn_range(s, gfn) or zapped
    if zapped:
        k.kvm_flush_remote_tlbs(s)
    s[k.base[t] + PC] = GS_UNBIND


@step("gmem_slot", "kvm_free_memslot() -> kvm_gmem_unbind(): filemap_invalidate_lock(); "
      "xa_store_range(&gmem->bindings, start, end - 1, NULL); filemap_invalidate_unlock()",
      lock="filemap_invalidate_lock", guard=binding_may_change,
      reads="gmem", writes="gmem")
def kvm_gmem_unbind(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    s[k.L.GMEM_BOUND] = 0
    k.thread_finished(s, t)


@step("gmem_slot", "kvm_set_memory_region(KVM_MR_CREATE) -> kvm_gmem_bind(): filemap_invalidate_lock(); "
      "xa_store_range(&gmem->bindings, start, end - 1, slot); filemap_invalidate_unlock()",
      lock="filemap_invalidate_lock", guard=binding_may_change,
      reads="gmem", writes="gmem")
def kvm_gmem_bind(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    s[k.L.GMEM_BOUND] = 1
    s[k.base[t] + PC] = GS_CREATE


@step("gmem_slot", "kvm_set_memslot(KVM_MR_CREATE): kvm_create_memslot() -> kvm_swap_active_memslots()",
      lock="slots_lock", guard=slots_lock_free, reads="gmem", writes="gmem")
def kvm_gmem_create_memslot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    s[k.L.GMEM_SLOT] = 1
    k.thread_finished(s, t)


# -- the vCPU's fault on a gfn of the file ----------------------------------------------------

@helper
def kvm_gmem_fault(k: Kernel, s: bytearray, t: int) -> None:
    """The VM exit on a gfn of a gmem-only memslot: no memslot, an MMIO exit; else snapshot
    mmu_invalidate_seq and look the folio up in the file (no hva involved)."""
    L = k.L
    b = k.base[t]
    gfn = s[b + V_GFN]
    if not memslot_present(k, s):
        k.fire(MMIO_EXIT, lambda: f"{k.threads[t].name} accesses gfn {gfn}: no memslot, MMIO exit")
        k.access_done(s, t)
        return
    s[b + V_SNAP] = s[L.SEQ]
    s[b + PC] = GMEM_GET_PFN
    k.say(lambda: f"{'write' if s[b + V_WRITE] else 'read'} fault on gfn {gfn} (a gmem-only memslot): "
          f"mmu_seq = {s[L.SEQ]}")


def gmem_folio_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    """filemap_grab_folio() sleeps on the folio lock a truncation holds."""
    return folio_unlocked(k, s, s[k.base[t] + V_GFN])


@helper
def kvm_gmem_get_folio(k: Kernel, s: bytearray, gfn: int) -> int:
    """kvm_gmem_get_folio() -> filemap_grab_folio(): the file's folio at the index, a new
    zeroed one for a hole (added to the page cache, which holds its reference)."""
    L = k.L
    pfn = s[L.PTE_PFN[gfn]]
    if not pfn:
        pfn = k.alloc_page(s, 0)
        s[L.PTE_PFN[gfn]] = pfn
        s[L.PTE_PROT[gfn]] = PTE_RW
    return int(pfn)


@step("vcpu", "kvm_faultin_pfn() -> kvm_gmem_get_pfn(): file = kvm_gmem_get_file(slot) (-EFAULT if released: exit to "
      "userspace); kvm_gmem_get_folio(): filemap_grab_folio(); folio_get(); folio_unlock()",
      lock="folio lock", guard=gmem_folio_ready,
      reads="data page pte count seq gmem", writes="data page pte")
def kvm_gmem_get_pfn(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    gfn = s[b + V_GFN]
    if k.lockless_precheck and k.mmu_invalidate_retry_gfn_unsafe(s, s[b + V_SNAP], gfn):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {gfn}: "
               "mmu_invalidate_retry_gfn_unsafe() says retry before the lookup")
        s[b + PC] = RETRY
        return
    if not file_attached(k, s) or not bound(k, s):
        k.fire(MMIO_EXIT, lambda: f"{k.threads[t].name} faults on gfn {gfn}: kvm_gmem_get_pfn() -EFAULT "
               "(the file is released or unbound), KVM_EXIT_MEMORY_FAULT")
        s[b + V_SNAP] = 0
        k.access_done(s, t)
        return
    pfn = k.kvm_gmem_get_folio(s, gfn)
    k.get_page(s, pfn)
    s[b + V_PFN] = pfn
    s[b + V_PFN_W] = 1
    s[b + PC] = MAP


# -- host userspace on the mmap of the file (v6.18) ----------------------------------------------

@step("gmem_user", "a load or store of host userspace through its mmap of the guest_memfd file; a missing PTE "
      "faults (kvm_gmem_fault_user_mapping())",
      reads="data page pte gmem", writes="data")
def gmem_user_access(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = divmod(arg, 2)
    k.gmem_user_attempt(s, t)


@step("gmem_user", "the access re-executes once kvm_gmem_fault_user_mapping() has mapped the folio", reads="data page pte gmem", writes="data")
def gmem_user_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.gmem_user_attempt(s, t)


@helper
def gmem_user_attempt(k: Kernel, s: bytearray, t: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, write = s[b + V_GFN], s[b + V_WRITE]
    pfn = s[L.GMEM_UPTE[gfn]]
    if not pfn:
        s[b + PC] = GU_FAULT
        return
    check_access(k, s, t, gfn, write, pfn, VIA_PTE)
    done = s[b + V_DONE] + 1
    s[b + V_DONE] = done
    s[b + V_GFN] = s[b + V_WRITE] = 0
    if done == k.scenario.gmem_host_accesses:
        k.thread_finished(s, t)
    else:
        s[b + PC] = GU_ACCESS


def user_folio_ready(k: Kernel, s: bytes | bytearray, t: int, arg: int) -> bool:
    return folio_unlocked(k, s, s[k.base[t] + V_GFN])


@step("gmem_user", "kvm_gmem_fault_user_mapping(): kvm_gmem_get_folio() (locked); finish_fault() maps it in the "
      "host page table with its own reference", lock="folio lock, ptl", guard=user_folio_ready,
      reads="data page pte gmem", writes="data page pte gmem")
def kvm_gmem_fault_user_mapping(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    gfn = s[k.base[t] + V_GFN]
    pfn = k.kvm_gmem_get_folio(s, gfn)
    k.get_page(s, pfn)
    k.page_add_rmap(s, pfn)
    s[L.GMEM_UPTE[gfn]] = pfn
    s[k.base[t] + PC] = GU_RETRY
