"""Physical page frames: allocation, references, mappings, freeing.

Mirrors the parts of ``struct page`` the protocol depends on.  A mapped PTE
holds one reference and one map count; get_user_pages() takes a reference; the
shared zero page is never reference-counted (``is_zero_pfn()``).  A frame whose
last reference goes is freed and may be handed out again by the next allocation
(lowest free frame first, so that equal histories give equal states).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.errors import ModelError
from mmuspec.model.events import BUG_GET_FREED, BUG_REFCOUNT, PAGE_FREED
from mmuspec.model.layout import PG_LOCKED, ZERO_PFN
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


@helper
def alloc_page(k: Kernel, s: bytearray, contents: int) -> int:
    """alloc_page(): take the lowest free frame; the caller fills it (zeroed or copied)."""
    L = k.L
    for pfn in range(L.first_pool_pfn, L.frames):
        if s[L.REF[pfn]] == 0:
            s[L.REF[pfn]] = 1
            s[L.MAP[pfn]] = 0
            s[L.FLAGS[pfn]] = 0
            s[L.VAL[pfn]] = contents
            return pfn
    raise ModelError(f"the model ran out of page frames ({L.frames}); this is a bug in the frame bound")


@helper
def get_page(k: Kernel, s: bytearray, pfn: int) -> None:
    """get_page(): one more reference; VM_BUG_ON_PAGE() on a frame whose last one is gone."""
    if pfn == ZERO_PFN:
        return
    ref = k.L.REF[pfn]
    if not s[ref]:
        k.fire(BUG_GET_FREED, lambda: f"get_page({k.page_name(pfn)}) on a freed frame")
    s[ref] += 1


@helper
def put_page(k: Kernel, s: bytearray, pfn: int) -> None:
    """put_page(): drop a reference; the last one frees the frame (__free_pages)."""
    if pfn == ZERO_PFN:
        return
    L = k.L
    ref = s[L.REF[pfn]]
    if ref == 0:
        k.fire(BUG_REFCOUNT, lambda: f"put_page({k.page_name(pfn)}) with a zero reference count")
        return
    s[L.REF[pfn]] = ref - 1
    if ref == 1:
        s[L.MAP[pfn]] = 0
        s[L.FLAGS[pfn]] = 0
        s[L.VAL[pfn]] = 0
        k.fire(PAGE_FREED, lambda: f"{k.page_name(pfn)} freed")


@helper
def page_add_rmap(k: Kernel, s: bytearray, pfn: int) -> None:
    """page_add_anon_rmap()/page_add_new_anon_rmap(): one more PTE maps the page."""
    if pfn != ZERO_PFN:
        s[k.L.MAP[pfn]] += 1


@helper
def page_remove_rmap(k: Kernel, s: bytearray, pfn: int) -> None:
    """page_remove_rmap(): one PTE fewer maps the page (its reference is dropped separately)."""
    if pfn != ZERO_PFN and s[k.L.MAP[pfn]]:
        s[k.L.MAP[pfn]] -= 1


def page_locked(k: Kernel, s: bytes | bytearray, pfn: int) -> bool:
    return bool(s[k.L.FLAGS[pfn]] & PG_LOCKED)


@helper
def trylock_page(k: Kernel, s: bytearray, pfn: int) -> bool:
    """trylock_page(): take PG_locked if nobody holds it."""
    flags = k.L.FLAGS[pfn]
    if s[flags] & PG_LOCKED:
        return False
    s[flags] |= PG_LOCKED
    return True


@helper
def unlock_page(k: Kernel, s: bytearray, pfn: int) -> None:
    if s[k.L.REF[pfn]]:
        s[k.L.FLAGS[pfn]] &= ~PG_LOCKED
