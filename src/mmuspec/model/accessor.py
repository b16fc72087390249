"""A host accessor: QEMU or vhost reading and writing guest memory through the hva.

Its accesses go through the primary PTE, not the SPTE, so its writes are what a later
guest read must return, and a guest that still reads an old page through a stale SPTE
after a host write is caught (the set_pte_at()/change_pte order of 48af0d7cb3c8).  A
missing or read-only PTE faults like any user access: ``handle_mm_fault()`` under the
PTL, with the same do_wp_page()/wp_page_copy() steps a vCPU's GUP takes, then the access
re-executes.  The thread block has the vCPU's fields (the snapshot and pfn fields stay
unused), so the COW steps serve both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.guest import (
    COW_STEPS,
    DONE,
    GUP,
    NEW,
    RETRY,
    VIA_PTE,
    access_choices,
    check_access,
    mmap_free,
    ptl_free,
)
from mmuspec.model.layout import PC, PTE_RO, PTE_RW, V_GFN, V_WRITE
from mmuspec.model.registry import helper, step

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


def program(k: Kernel) -> dict[int, list[tuple[str, int]]]:
    sc = k.scenario
    return {
        NEW: [("accessor_access", arg) for _, arg in access_choices(k, sc.accessor_gfns, sc.accessor_ops)],
        RETRY: [("accessor_retry", 0)],
        GUP: [("accessor_fault", 0)],
        **COW_STEPS,
        DONE: [],
    }


def fault_can_run(k: Kernel, s: bytes, t: int, arg: int) -> bool:
    return ptl_free(k, s, t, arg) and mmap_free(k, s, t, arg)


@step("accessor", "a load or store by QEMU or vhost through the hva (copy_to_user(), "
      "copy_from_user()): the CPU's TLB fill from the primary PTE, or a page fault",
      reads="data page pte", writes="data pte")
def accessor_access(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    b = k.base[t]
    s[b + V_GFN], s[b + V_WRITE] = divmod(arg, 2)
    k.accessor_attempt(s, t)


@step("accessor", "the load or store re-executes after handle_mm_fault() returned",
      reads="data page pte", writes="data pte")
def accessor_retry(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    k.accessor_attempt(s, t)


@helper
def accessor_attempt(k: Kernel, s: bytearray, t: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, write = s[b + V_GFN], s[b + V_WRITE]
    prot = s[L.PTE_PROT[gfn]]
    if prot == PTE_RW or (prot == PTE_RO and not write):
        k.host_touch(s, gfn, write, s[L.PTE_PFN[gfn]], t)
        k.access_done(s, t)
    else:
        s[b + PC] = GUP


@helper
def host_touch(k: Kernel, s: bytearray, gfn: int, write: int, pfn: int, t: int) -> None:
    """The host's load or store reaches ``pfn`` through the primary PTE: check it."""
    check_access(k, s, t, gfn, write, pfn, VIA_PTE)
    k.pte_mkyoung(s, gfn)


@step("accessor", "handle_mm_fault(): do_anonymous_page(), do_swap_page() or do_wp_page() under "
      "the PTL; the access then re-executes", lock="ptl", guard=fault_can_run,
      reads="data page pte ptl mmap", writes="data page pte")
def accessor_fault(k: Kernel, s: bytearray, t: int, arg: int) -> None:
    L = k.L
    b = k.base[t]
    gfn, write = s[b + V_GFN], bool(s[b + V_WRITE])
    prot = s[L.PTE_PROT[gfn]]
    if not (prot == PTE_RW or (prot == PTE_RO and not write)):
        k.handle_mm_fault(s, t, gfn, write)
        if s[b + PC] != GUP:
            return  # a COW or a page lock to wait for
    s[b + PC] = RETRY
