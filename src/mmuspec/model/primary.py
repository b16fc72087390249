"""The primary MMU: one anonymous private mapping, its PTEs and page faults.

Helpers here run inside a step that holds the page-table lock (``ptl``), except
``gup_fast_pfn`` which, like get_user_pages_fast(), reads the PTE without it.

A PTE that its lock holder has cleared with ``ptep_clear_flush()`` reads as not
present to everyone, but keeps the frame the holder is about to install in its
pfn field.  Only the data-integrity check looks at that frame: during the window
the page the primary MMU maps "at that moment" is the one it is about to expose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.layout import PTE_NONE, PTE_RO, PTE_RW, PTE_SWAP, ZERO_PFN
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


@helper
def set_pte_at(k: Kernel, s: bytearray, gfn: int, pfn: int, prot: int) -> None:
    """set_pte_at(): install an entry (young, as new entries are)."""
    L = k.L
    s[L.PTE_PFN[gfn]] = pfn
    s[L.PTE_PROT[gfn]] = prot
    if L.track_young:
        s[L.PTE_YOUNG[gfn]] = 1 if prot in (PTE_RO, PTE_RW) else 0


@helper
def ptep_clear_flush(k: Kernel, s: bytearray, gfn: int, next_pfn: int) -> None:
    """ptep_clear_flush(): clear the entry and flush the CPU TLBs, which also waits out
    any lockless get_user_pages_fast() walk.  ``next_pfn`` is the frame the lock holder
    is about to install (0 for a plain zap)."""
    L = k.L
    s[L.PTE_PFN[gfn]] = next_pfn
    s[L.PTE_PROT[gfn]] = PTE_NONE
    if L.track_young:
        s[L.PTE_YOUNG[gfn]] = 0


def pte_present(k: Kernel, s: bytes | bytearray, gfn: int) -> bool:
    return s[k.L.PTE_PROT[gfn]] in (PTE_RO, PTE_RW)


def pte_maps(k: Kernel, s: bytes | bytearray, gfn: int, pfn: int, prot: int) -> bool:
    """pte_same() against an entry mapping ``pfn`` with ``prot``."""
    return s[k.L.PTE_PFN[gfn]] == pfn and s[k.L.PTE_PROT[gfn]] == prot


def gup_fast_pfn(k: Kernel, s: bytes | bytearray, gfn: int, write: bool) -> int:
    """What get_user_pages_fast() would return without the PTL: the mapped frame if the
    entry is present and allows the access, else 0 (fall back to the slow path)."""
    L = k.L
    prot = s[L.PTE_PROT[gfn]]
    if prot == PTE_RW or (prot == PTE_RO and not write):
        return s[L.PTE_PFN[gfn]]
    return 0


@helper
def pte_mkyoung(k: Kernel, s: bytearray, gfn: int) -> None:
    """FOLL_TOUCH / hardware access: mark the entry young."""
    if k.L.track_young and pte_present(k, s, gfn):
        s[k.L.PTE_YOUNG[gfn]] = 1


@helper
def do_anonymous_page(k: Kernel, s: bytearray, gfn: int, write: bool) -> None:
    """do_anonymous_page(): a read maps the shared zero page read-only; a write allocates
    a zeroed page and maps it writable (both under the PTL, if the PTE is still none)."""
    if not write:
        k.set_pte_at(s, gfn, ZERO_PFN, PTE_RO)
        return
    page = k.alloc_page(s, 0)
    k.page_add_rmap(s, page)
    k.set_pte_at(s, gfn, page, PTE_RW)


@helper
def do_swap_page(k: Kernel, s: bytearray, gfn: int, write: bool) -> None:
    """do_swap_page(): read the swap slot into a new page; map it writable for a write
    fault (the page is exclusive), read-only otherwise.  The swap cache is not modelled:
    swap-in always allocates a fresh frame."""
    L = k.L
    page = k.alloc_page(s, s[L.SWAP_VAL[gfn]])
    s[L.SWAP_VAL[gfn]] = 0
    k.page_add_rmap(s, page)
    k.set_pte_at(s, gfn, page, PTE_RW if write else PTE_RO)


def visible_contents(k: Kernel, s: bytes | bytearray, gfn: int) -> int:
    """What the process would read at the gfn's hva now: the mapped page (or the page
    about to be mapped), the swap slot, or a zero-filled page for an empty PTE."""
    L = k.L
    prot = s[L.PTE_PROT[gfn]]
    if prot == PTE_SWAP:
        return s[L.SWAP_VAL[gfn]]
    pfn = s[L.PTE_PFN[gfn]]
    return s[L.VAL[pfn]] if pfn else 0
