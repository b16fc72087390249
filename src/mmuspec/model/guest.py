"""A vCPU: guest accesses, and KVM's page-fault path in the kernel's own steps.

The fault path is x86's ``direct_page_fault()`` (arm64's ``user_mem_abort()`` has
the same shape): snapshot ``mmu_notifier_seq``, look the page up with
``hva_to_pfn()`` (which may fault the page in or break COW, and takes a page
reference), take ``mmu_lock``, retry if the era's retry test says so, else map the
pfn; drop the reference; return to the guest, which re-executes the access (a retried
fault returns to the guest too).

Opt-in parts, each only where the scenario asks for it: a memslot that may be absent
(the access exits to userspace as MMIO) or being deleted; arm64's ``vma_lookup()`` and
the order of the snapshot and ``mmap_read_unlock()``; what the fault derives besides the
pfn (``attr``); a per-vCPU TLB in front of the SPTE.

The COW steps (``wp_page_copy_*``) and ``wait_on_page_locked`` are the primary MMU's
fault handling; the host accessor thread (``accessor.py``) runs them too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmuspec.model.events import (
    COW_BROKEN,
    DATA_INTEGRITY,
    FAULT_RETRIED,
    MMIO_EXIT,
    STALE_SPTE,
    USE_AFTER_FREE,
)
from mmuspec.model.kvm import snapshot_as_compared
from mmuspec.model.layout import (
    PC,
    PG_KSM,
    PTE_RO,
    PTE_RW,
    PTE_SWAP,
    SLOT_ABSENT,
    SLOT_VALID,
    V_DONE,
    V_GFN,
    V_NEW,
    V_OLD,
    V_PFN,
    V_PFN_W,
    V_SNAP,
    V_WRITE,
    ZERO_PFN,
)
from mmuspec.model.notifier import mn_end_ready, mn_start_ready
from mmuspec.model.pages import page_locked
from mmuspec.model.primary import gup_fast_pfn, pte_maps, pte_present
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

# Program counters of a vCPU.  VMA_LOOKUP and SNAPSHOT exist only in scenarios that
# change VMAs (arm64's vma_lookup() before the snapshot); they come after DONE so that
# the numbering of every other scenario stays as it was.
NEW, RETRY, GUP, WAIT_PAGE_LOCK, COW_START, COW_LOCK, COW_NOTIFY, COW_END, MAP, RELEASE, DONE = range(11)
VMA_LOOKUP, SNAPSHOT = 11, 12
GMEM_GET_PFN = 13  # a fault on a gfn of a guest_memfd file (gmem.py)
RECHECK = 14  # the second lockless pre-check, after the lookup (``second_precheck_matters``)


@dataclass(frozen=True)
class Pc:
    """What holds at one program counter of a vCPU (or host accessor), between its steps.

    ``snapshot``: the fault's snapshot of mmu_notifier_seq (``V_SNAP``) is still to be
    compared, so the sequence quotient (``symmetry.py``) keeps whether it is stale; at any
    other pc it forgets it (``tests/model/test_pcs.py`` checks that no step reads it there).
    ``in_fault``: between the fault's memslot lookup and its end, inside kvm->srcu, so a
    memslot update's synchronize_srcu() waits for it (the x86 fault path, kvm_gmem_get_pfn()
    included, runs under the vCPU's srcu read lock, which KVM_RUN drops only to enter the
    guest).  ``locks``: the locks the thread holds here, for traces."""

    name: str
    snapshot: bool = False
    in_fault: bool = False
    locks: tuple[str, ...] = ()


# One row per program counter: a new step is a row here and its function below.
PCS: dict[int, Pc] = {
    NEW: Pc("guest"),
    RETRY: Pc("retry"),
    GUP: Pc("hva_to_pfn", snapshot=True, in_fault=True),
    WAIT_PAGE_LOCK: Pc("lock_page", snapshot=True, in_fault=True),
    COW_START: Pc("cow_start", snapshot=True, in_fault=True),
    COW_LOCK: Pc("cow_lock", snapshot=True, in_fault=True),
    COW_NOTIFY: Pc("cow_notify", snapshot=True, in_fault=True, locks=("ptl",)),
    COW_END: Pc("cow_end", snapshot=True, in_fault=True),
    MAP: Pc("mmu_lock", snapshot=True, in_fault=True),
    RELEASE: Pc("release", in_fault=True),
    DONE: Pc("done"),
    VMA_LOOKUP: Pc("vma_lookup"),
    SNAPSHOT: Pc("snapshot", in_fault=True),
    GMEM_GET_PFN: Pc("gmem_get_pfn", snapshot=True, in_fault=True),
    RECHECK: Pc("recheck", snapshot=True, in_fault=True),
}
assert sorted(PCS) == list(range(len(PCS))), "vCPU program counters are numbered 0, 1, 2, ..."
PC_NAMES = tuple(PCS[pc].name for pc in range(len(PCS)))
# KVM_PRE_FAULT_MEMORY holds kvm->srcu until the ioctl returns, RETRY included (``in_srcu``).
IN_FAULT = frozenset(pc for pc, d in PCS.items() if d.in_fault)
LIVE_SNAPSHOT = frozenset(pc for pc, d in PCS.items() if d.snapshot)

COW_STEPS: dict[int, list[tuple[str, int]]] = {
    WAIT_PAGE_LOCK: [("wait_on_page_locked", 0)],
    COW_START: [("wp_page_copy_start", 0)],
    COW_LOCK: [("wp_page_copy_lock", 0)],
    COW_NOTIFY: [("wp_page_copy_notify", 0)],
    COW_END: [("wp_page_copy_end", 0)],
}


def access_choices(k: Kernel, gfns: tuple[int, ...], ops: tuple[str, ...]) -> list[tuple[str, int]]:
    return [("guest_access", gfn * 2 + (op == "write")) for gfn in gfns for op in ops]


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    """Which steps a vCPU may take at each pc; the access choices come from the scenario.
    A prefaulting vCPU issues KVM_PRE_FAULT_MEMORY instead of guest accesses."""
    if k.prefault:
        new = [("kvm_vcpu_pre_fault_memory", gfn * 2) for gfn in k.scenario.guest_gfns]
        retry = [("kvm_tdp_map_page_retry", 0)]
    else:
        new, retry = access_choices(k, k.scenario.guest_gfns, k.scenario.ops), [("guest_retry", 0)]
    table = {
        NEW: new,
        RETRY: retry,
        GUP: [("hva_to_pfn", 0)],
        **COW_STEPS,
        MAP: [("direct_page_fault", 0)],
        RELEASE: [("kvm_release_pfn_clean", 0)],
        DONE: [],
    }
    if k.vma_lookup_step:
        table[VMA_LOOKUP] = [("vma_lookup", 0)]
        table[SNAPSHOT] = [("fault_snapshot", 0)]
    if k.L.track_gmem:
        table[GMEM_GET_PFN] = [("kvm_gmem_get_pfn", 0)]
    if k.precheck_after_lookup:
        table[RECHECK] = [("kvm_faultin_pfn_recheck", 0)]
    return table


def second_precheck_matters(k: Kernel) -> bool:
    """Whether the second lockless pre-check of d02c357e5bfa (after __kvm_faultin_pfn(), before
    mmu_lock) is a step of its own.  Where the locked check tests the count and the sequence and
    end() bumps the sequence, it cannot change an outcome: if it says retry, an invalidation
    covering the gfn was in progress (its range only grows until the count is 0, and its end()
    bumps the sequence) or the sequence had moved (it never moves back), so the locked check
    retries too; the model then leaves it out, which saves a step per fault.  Elsewhere (a
    what-if without the locked check, or with only half of it) it is the only guard left
    between the lookup and mmu_lock, and runs.  ``tests/model/test_second_precheck.py``
    checks the claim by searching with the step forced in."""
    return k.lockless_precheck and (k.fault_retry_checks != "seq_and_count" or not k.end_bumps_seq)


def in_srcu(k: Kernel, s: bytes | bytearray, b: int) -> bool:
    """Whether the vCPU whose block is at ``b`` is inside kvm->srcu (``IN_FAULT``)."""
    return s[b] in IN_FAULT or (k.prefault and s[b] == RETRY)


def ptl_free(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    return not s[k.L.PTL]


def mmap_free(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """mmap_read_lock() waits while munmap holds the lock for write."""
    return not k.L.track_mmap or not s[k.L.MMAP_LOCK]


def hva_to_pfn_can_run(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    """get_user_pages_fast() needs no lock; the slow path waits for the PTL (and for
    mmap_lock, when a thread may hold it for write)."""
    b = k.base[t]
    if gup_fast_pfn(k, s, s[b + V_GFN], bool(s[b + V_WRITE]) or k.gup_write_always):
        return True
    return not s[k.L.PTL] and mmap_free(k, s, t, arg)


def page_unlocked_and_ptl_free(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    return not s[k.L.PTL] and not page_locked(k, s, s[k.base[t] + V_OLD])


@step("vcpu", "guest load/store through the SPTE; on a missing or read-only SPTE: VM exit, "
      "kvm_mmu_page_fault(): mmu_seq = kvm->mmu_notifier_seq; smp_rmb()",
      reads="data page pte seq spte slot attr gmem", writes="data spte")
def guest_access(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = divmod(arg, 2)
    k.guest_attempt(s, t)


@step("vcpu", "return to the guest (after mapping, or RET_PF_RETRY): the access re-executes",
      reads="data page pte seq spte slot attr gmem", writes="data spte")
def guest_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.guest_attempt(s, t)


@step("vcpu", "kvm_vcpu_pre_fault_memory(): srcu_read_lock(&kvm->srcu); kvm_arch_vcpu_pre_fault_memory() -> "
      "kvm_tdp_map_page(): kvm_mmu_do_page_fault(prefetch) for the gfn, for read",
      reads="data page pte seq spte slot attr", writes="data spte")
def kvm_vcpu_pre_fault_memory(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = divmod(arg, 2)
    k.guest_attempt(s, t)


@step("vcpu", "kvm_tdp_map_page(): while (r == RET_PF_RETRY) { if (signal_pending()) return -EINTR; "
      "cond_resched(); r = kvm_mmu_do_page_fault(); }, still inside kvm->srcu",
      reads="data page pte seq spte slot attr", writes="data spte")
def kvm_tdp_map_page_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.guest_attempt(s, t)


@helper
def guest_attempt(k: Kernel, s: bytearray, t: int) -> None:
    """The access through the vCPU's TLB (when modelled) and the SPTE, or a VM exit."""
    L = k.L
    b = k.base[t]
    gfn, write = s[b + V_GFN], s[b + V_WRITE]
    if L.track_tlb:
        tlb_pfn = s[b + L.V_TLB_PFN[gfn]]
        if tlb_pfn and (not write or s[b + L.V_TLB_W[gfn]]):
            k.guest_touch(s, gfn, write, tlb_pfn, t)
            k.access_done(s, t)
            return
    pfn = s[L.SPTE_PFN[gfn]]
    if pfn and k.prefault:
        # The prefault found (or made) the mapping: RET_PF_SPURIOUS or RET_PF_FIXED, and the
        # ioctl returns without touching the page.
        k.access_done(s, t)
        return
    if pfn and (not write or s[L.SPTE_W[gfn]]):
        if L.track_tlb:
            s[b + L.V_TLB_PFN[gfn]], s[b + L.V_TLB_W[gfn]] = pfn, s[L.SPTE_W[gfn]]
        k.guest_touch(s, gfn, write, pfn, t)
        k.access_done(s, t)
        return
    k.kvm_mmu_page_fault(s, t)


@helper
def access_done(k: Kernel, s: bytearray, t: int) -> None:
    b = k.base[t]
    done = s[b + V_DONE] + 1
    s[b + V_DONE] = done
    s[b + V_GFN] = s[b + V_WRITE] = 0
    if done == k.accesses[t]:
        k.thread_finished(s, t)
    else:
        s[b + PC] = NEW


@helper
def kvm_mmu_page_fault(k: Kernel, s: bytearray, t: int) -> None:
    """The VM exit: find the memslot (kvm_vcpu_gfn_to_memslot()), then snapshot the sequence
    and look the page up.  No memslot: the access is MMIO and exits to userspace.  A memslot
    being deleted (KVM_MEMSLOT_INVALID): x86 retries the fault (kvm_faultin_pfn()), the other
    arches see a bad hva and exit to userspace too.  A prefault returns to userspace with
    -EAGAIN there since 3ccbf6f47098 (``if (fault->prefetch) return -EAGAIN;``), and before
    it retried inside the ioctl.  x86 retries in every era: the retry on an invalid memslot
    came in the 5.13 merge window (and 5.10.y stable); base v5.10 got KVM_PFN_NOSLOT and
    installed an MMIO SPTE [I], which maps no RAM, so no property changes (review D27)."""
    L = k.L
    b = k.base[t]
    gfn, write = s[b + V_GFN], s[b + V_WRITE]
    if L.track_slot and s[L.SLOT] != SLOT_VALID:
        if s[L.SLOT] == SLOT_ABSENT or k.arch != "x86":
            k.fire(MMIO_EXIT, lambda: f"{k.threads[t].name} accesses gfn {gfn}: no usable memslot, MMIO exit")
            k.access_done(s, t)
        elif k.prefault and k.prefault_eagain:
            k.say(lambda: f"{k.threads[t].name} prefaults gfn {gfn} on an invalid memslot: -EAGAIN to userspace")
            k.access_done(s, t)
        else:
            k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {gfn}: memslot being deleted, retry")
            s[b + PC] = RETRY
        return
    if L.track_gmem:
        k.kvm_gmem_fault(s, t)
        return
    if k.vma_lookup_step:
        s[b + PC] = VMA_LOOKUP
        return
    s[b + V_SNAP] = s[L.SEQ]
    s[b + PC] = GUP
    k.say(lambda: f"{'write' if write else 'read'} fault on gfn {gfn} (spte "
          f"{k.spte_text(s[L.SPTE_PFN[gfn]], s[L.SPTE_W[gfn]])}): mmu_seq = {s[L.SEQ]}")


@step("vcpu", "user_mem_abort(): mmap_read_lock(); vma_lookup() sizes the mapping (vma_shift); "
      "mmu_seq = kvm->mmu_invalidate_seq here since 13ec9308a857 (v6.3); mmap_read_unlock()",
      lock="mmap_lock (read)", guard=mmap_free,
      reads="seq attr mmap", writes="")
def vma_lookup(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    s[b + L.V_ATTR] = s[L.ATTR[s[b + V_GFN]]]
    if k.snapshot_before_unlock:
        s[b + V_SNAP] = s[L.SEQ]
        s[b + PC] = GUP
    else:
        s[b + PC] = SNAPSHOT


@step("vcpu", "user_mem_abort() before 13ec9308a857: mmu_seq = kvm->mmu_notifier_seq; smp_rmb(), "
      "after mmap_read_unlock()",
      reads="seq", writes="")
def fault_snapshot(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_SNAP] = s[k.L.SEQ]
    s[b + PC] = GUP


VIA = ("spte", "its device page table", "the pfn cache", "the pte")
VIA_SPTE, VIA_DEVICE, VIA_GPC, VIA_PTE = range(len(VIA))


def check_access(k: Kernel, s: bytearray, t: int, gfn: int, write: int, pfn: int, via: int) -> None:
    """A load or store through a secondary mapping (an SPTE, a device's page table, the pfn
    cache's kernel mapping; ``VIA``), or the host's own through the PTE, reaches ``pfn``.  The frame must still be allocated; a
    store must land in the frame the primary PTE maps, or it is lost; a load must see the
    last value written to the gfn.  A store records its value."""
    L = k.L
    who = k.threads[t].name
    if not s[L.REF[pfn]]:
        k.fire(USE_AFTER_FREE, lambda: f"{who} {'writes' if write else 'reads'} gfn {gfn} through "
               f"{VIA[via]} -> {k.page_name(pfn)}, a freed frame")
    if write:
        target = s[L.PTE_PFN[gfn]]
        if pfn != target or s[L.PTE_PROT[gfn]] == PTE_SWAP or pfn == ZERO_PFN:
            k.fire(DATA_INTEGRITY, lambda: f"{who} writes gfn {gfn} through {VIA[via]} into "
                   f"{k.page_name(pfn)} but the primary PTE maps {k.pte_text(s, gfn)}: the write is lost")
        value = s[L.LAST_WRITTEN] + 1
        s[L.LAST_WRITTEN] = value
        s[L.VAL[pfn]] = value
        s[L.EXPECT[gfn]] = value
    elif s[L.VAL[pfn]] != s[L.EXPECT[gfn]]:
        got, want = s[L.VAL[pfn]], s[L.EXPECT[gfn]]
        k.fire(DATA_INTEGRITY, lambda: f"{who} reads gfn {gfn} through {VIA[via]} -> {k.page_name(pfn)} "
               f"and gets {got}, but "
               f"{'the guest last wrote' if via == VIA_SPTE and not k.scenario.accessors else 'the last write to it wrote'}"
               f" {want}")


@helper
def guest_touch(k: Kernel, s: bytearray, gfn: int, write: int, pfn: int, t: int) -> None:
    """The guest's load or store reaches ``pfn`` through the SPTE: check it, and that the
    SPTE was built with the memory attributes a completed change gave the gfn."""
    L = k.L
    check_access(k, s, t, gfn, write, pfn, VIA_SPTE)
    if L.track_attrs and s[L.SPTE_ATTR[gfn]] != s[L.ATTR[gfn]] and not s[L.ATTR_PENDING]:
        k.fire(STALE_SPTE, lambda: f"{k.threads[t].name} accesses gfn {gfn} through an spte built with attr "
               f"{s[L.SPTE_ATTR[gfn]]}, but the completed change made it {s[L.ATTR[gfn]]}")
    if L.track_young:
        s[L.SPTE_YOUNG[gfn]] = 1


@step("vcpu", "hva_to_pfn(): get_user_pages_fast(), else get_user_pages() -> follow_page() "
      "and handle_mm_fault() under the PTL", lock="none (fast path) or ptl", guard=hva_to_pfn_can_run,
      reads="data page pte ptl count seq attr mmap", writes="data page pte")
def hva_to_pfn(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = s[b + V_GFN]
    if k.lockless_precheck and k.mmu_invalidate_retry_gfn_unsafe(s, s[b + V_SNAP], gfn):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {gfn}: "
               "mmu_invalidate_retry_gfn_unsafe() says retry before the lookup")
        s[b + PC] = RETRY
        return
    write = bool(s[b + V_WRITE]) or k.gup_write_always
    prot = s[L.PTE_PROT[gfn]]
    # get_user_pages_fast() succeeds without the PTL on any present entry that allows
    # the access; a read fault maps a writable page writable ("map read fault as
    # writable if possible").
    if prot == PTE_RW or (prot == PTE_RO and not write):
        pfn = s[L.PTE_PFN[gfn]]
        k.get_page(s, pfn)
        k.pte_mkyoung(s, gfn)
        s[b + V_PFN] = pfn
        s[b + V_PFN_W] = 1 if prot == PTE_RW else 0
        if L.track_attrs and not k.vma_lookup_step:
            # What kvm_faultin_pfn() derives before mmu_lock (the APIC-access page, the
            # memory type inputs); arm64 read it in vma_lookup().
            s[b + L.V_ATTR] = s[L.ATTR[gfn]]
        s[b + PC] = RECHECK if k.precheck_after_lookup else MAP
        return
    k.handle_mm_fault(s, t, gfn, write)


@step("vcpu", "kvm_faultin_pfn(): mmu_invalidate_retry_gfn_unsafe() again after __kvm_faultin_pfn(); "
      "if it says retry, kvm_release_pfn_clean() and RET_PF_RETRY", lock="-",
      reads="count seq", writes="")
def kvm_faultin_pfn_recheck(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    """The second pre-check of d02c357e5bfa: a lookup that may have raced an invalidation is
    dropped before mmu_lock is taken (review D29)."""
    b = k.base[t]
    gfn = s[b + V_GFN]
    if k.mmu_invalidate_retry_gfn_unsafe(s, s[b + V_SNAP], gfn):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {gfn}: "
               "mmu_invalidate_retry_gfn_unsafe() says retry after the lookup")
        s[b + PC] = RELEASE
        return
    s[b + PC] = MAP


@helper
def handle_mm_fault(k: Kernel, s: bytearray, t: int, gfn: int, write: bool) -> None:
    """handle_mm_fault() under the PTL: swap in, map the zero page or a new page, or
    do_wp_page(); the caller looks the page up again afterwards."""
    L = k.L
    prot = s[L.PTE_PROT[gfn]]
    if prot == PTE_SWAP:
        k.do_swap_page(s, gfn, write)
    elif not pte_present(k, s, gfn):
        k.do_anonymous_page(s, gfn, write)
    else:
        k.do_wp_page(s, t, gfn)


@helper
def do_wp_page(k: Kernel, s: bytearray, t: int, gfn: int) -> None:
    """do_wp_page(): a write to a read-only present PTE.  The zero page and KSM pages are
    always copied; other anonymous pages are reused in place when nobody else can see
    them (mapcount before v5.9, page_count() == 1 and trylock_page() since).  6.x's
    PageAnonExclusive shortcut is not modelled: KSM's write_protect_page() clears it
    (folio_try_share_anon_rmap_pte()), so the pages this model merges take the same path."""
    L = k.L
    b = k.base[t]
    old = s[L.PTE_PFN[gfn]]
    copy = old == ZERO_PFN or bool(s[L.FLAGS[old]] & PG_KSM)
    if not copy:
        if k.wp_reuse == "page_count":
            copy = s[L.REF[old]] != 1 or page_locked(k, s, old)
        elif s[L.MAP[old]] != 1:
            copy = True
        elif page_locked(k, s, old):
            k.get_page(s, old)
            s[b + V_OLD] = old
            s[b + PC] = WAIT_PAGE_LOCK
            return
    if copy:
        k.get_page(s, old)
        k.wp_page_prepare_copy(s, t, old)
    else:
        k.wp_page_reuse(s, gfn)


@helper
def wp_page_reuse(k: Kernel, s: bytearray, gfn: int) -> None:
    """wp_page_reuse(): make the entry writable in place; same pfn, no notifier."""
    k.set_pte_at(s, gfn, s[k.L.PTE_PFN[gfn]], PTE_RW)


@helper
def wp_page_prepare_copy(k: Kernel, s: bytearray, t: int, old: int) -> None:
    """wp_page_copy() before the lock: allocate the new page and copy the old one into it
    (cow_user_page(), or a zeroed page for the zero page)."""
    b = k.base[t]
    s[b + V_OLD] = old
    s[b + V_NEW] = k.alloc_page(s, s[k.L.VAL[old]])
    s[b + PC] = COW_START if k.wrap_change_pte else COW_LOCK


@step("vcpu", "do_wp_page(): lock_page(old_page); pte_offset_map_lock(); pte_same(); "
      "reuse_swap_page() (false for a PageKsm page)",
      lock="page lock, ptl", guard=page_unlocked_and_ptl_free,
      reads="data page pte ptl", writes="data page pte")
def wait_on_page_locked(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, old = s[b + V_GFN], s[b + V_OLD]
    if not pte_maps(k, s, gfn, old, PTE_RO):
        k.put_page(s, old)
        s[b + V_OLD] = 0
        s[b + PC] = GUP
        return
    if s[L.MAP[old]] == 1 and not s[L.FLAGS[old]] & PG_KSM:
        k.wp_page_reuse(s, gfn)
        k.put_page(s, old)
        s[b + V_OLD] = 0
        s[b + PC] = GUP
        return
    # reuse_swap_page() said no: the page became a KSM page (or gained a mapping) while the
    # fault waited for its lock, so copy it.
    k.wp_page_prepare_copy(s, t, old)


@step("vcpu", "wp_page_copy(): mmu_notifier_invalidate_range_start(MMU_NOTIFY_CLEAR, one page)",
      lock="mmu_lock", guard=mn_start_ready,
      reads="count spte slot", writes="count spte", shared_if="start_zaps_change_pte_events", notifier="start")
def wp_page_copy_start(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    k.mmu_notifier_invalidate_range_start(s, s[b + V_GFN], True)
    s[b + PC] = COW_LOCK


@step("vcpu", "wp_page_copy(): pte_offset_map_lock(); pte_same(); ptep_clear_flush(); "
      "page_add_new_anon_rmap()", lock="ptl", guard=ptl_free,
      reads="page pte ptl", writes="data page pte ptl")
def wp_page_copy_lock(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, old, new = s[b + V_GFN], s[b + V_OLD], s[b + V_NEW]
    if not pte_maps(k, s, gfn, old, PTE_RO):
        k.put_page(s, new)
        s[b + V_NEW] = 0
        k.wp_page_copy_leave(s, t)
        return
    k.ptep_clear_flush(s, gfn, new)
    k.page_add_rmap(s, new)
    if k.notifies_change_pte:
        if k.change_pte_order == "set_then_notify":
            k.set_pte_at(s, gfn, new, PTE_RW)
        s[L.PTL] = 1
        s[b + PC] = COW_NOTIFY
        return
    k.set_pte_at(s, gfn, new, PTE_RW)
    k.wp_page_copy_done(s, t)


@step("vcpu", "set_pte_at_notify() -> mmu_notifier_change_pte(); page_remove_rmap(old); "
      "pte_unmap_unlock()", lock="ptl, mmu_lock",
      reads="count page seq spt_table spte slot attr", writes="data page pte ptl seq spte spt_table")
def wp_page_copy_notify(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    gfn, new = s[b + V_GFN], s[b + V_NEW]
    k.mmu_notifier_change_pte(s, gfn, new, True)
    if k.change_pte_order == "notify_then_set":
        k.set_pte_at(s, gfn, new, PTE_RW)
    s[k.L.PTL] = 0
    k.wp_page_copy_done(s, t)


@helper
def wp_page_copy_done(k: Kernel, s: bytearray, t: int) -> None:
    """The new entry is in place: the old page loses this mapping and its reference."""
    b = k.base[t]
    gfn, old = s[b + V_GFN], s[b + V_OLD]
    k.page_remove_rmap(s, old)
    k.put_page(s, old)
    s[b + V_NEW] = 0
    k.fire(COW_BROKEN, lambda: f"{k.threads[t].name} broke COW of gfn {gfn}: "
           f"{k.page_name(old)} -> {k.page_name(s[k.L.PTE_PFN[gfn]])}")
    k.wp_page_copy_leave(s, t)


@helper
def wp_page_copy_leave(k: Kernel, s: bytearray, t: int) -> None:
    """Either invalidate_range_end() comes next, or (unwrapped, 2.6.32) the fault drops
    its reference to the old page and GUP looks again."""
    b = k.base[t]
    if k.wrap_change_pte:
        s[b + PC] = COW_END
        return
    k.put_page(s, s[b + V_OLD])
    s[b + V_OLD] = 0
    s[b + PC] = GUP


@step("vcpu", "wp_page_copy(): mmu_notifier_invalidate_range_end(); put_page(old_page)",
      lock="mmu_lock", guard=mn_end_ready,
      reads="count page seq slot", writes="count data page seq", notifier="end")
def wp_page_copy_end(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.mn_phases_reset(s, t)
    k.mmu_notifier_invalidate_range_end(s, s[b + V_GFN], True)
    k.put_page(s, s[b + V_OLD])
    s[b + V_OLD] = 0
    s[b + PC] = GUP


# Not modelled, on purpose: x86's fast_page_fault() (a lockless cmpxchg on a present SPTE
# before the snapshot), which matters only to designs that keep SPTEs across KSM or COW;
# the obsolete-root test of is_page_fault_stale() (a955cad84cda), which needs several roots;
# and arm64's kvm_pgtable_stage2_relax_perms() for a permission fault at the same granule,
# which keeps the pfn instead of installing the looked-up one (equivalent here, since the
# retry test guards both).
@step("vcpu", "direct_page_fault(): spin_lock(mmu_lock); is_page_fault_stale() / "
      "mmu_notifier_retry(); __direct_map() / kvm_tdp_mmu_map(); spin_unlock(mmu_lock)", lock="mmu_lock",
      reads="count seq", writes="spt_table spte")
def direct_page_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn = s[b + V_GFN]
    if k.is_page_fault_stale(s, gfn, s[b + V_SNAP]):
        k.fire(FAULT_RETRIED, lambda: f"{k.threads[t].name} fault on gfn {gfn} retried: count "
               f"{s[L.COUNT]}, seq {s[L.SEQ]} vs mmu_seq {s[b + V_SNAP]}")
        k.say(lambda: f"retry: count {s[L.COUNT]}, seq {s[L.SEQ]} vs mmu_seq "
              f"{snapshot_as_compared(k, s[b + V_SNAP])}")
    else:
        attr = s[b + L.V_ATTR] if L.track_attrs else 0
        k.kvm_install_spte(s, gfn, s[b + V_PFN], bool(s[b + V_PFN_W]), attr)
    s[b + PC] = RELEASE


@step("vcpu", "kvm_release_pfn_clean(): put_page() of the reference get_user_pages() took",
      reads="page", writes="data page")
def kvm_release_pfn_clean(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    k.put_page(s, s[b + V_PFN])
    s[b + V_SNAP] = s[b + V_PFN] = s[b + V_PFN_W] = 0
    if k.L.track_attrs:
        s[b + k.L.V_ATTR] = 0
    s[b + PC] = RETRY
