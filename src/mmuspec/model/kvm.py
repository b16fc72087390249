"""KVM's side of the protocol: its MMU-notifier callbacks, the invalidation count and
range, and the retry tests of the fault path.

Each callback runs entirely under ``kvm->mmu_lock`` (taken for write), so it is part of
one atomic step of the thread that calls the notifier.  The fields are the pre-v6.0
names (``mmu_notifier_seq``/``mmu_notifier_count``; renamed ``mmu_invalidate_seq``/
``mmu_invalidate_in_progress`` by 20ec3ebd707c).  Callbacks take the index ``gfn`` of
the page the mm is changing; its hva is ``gfn + hva_offset`` (one memslot maps every
gfn of the scenario at ``userspace_addr = hva_offset``).  When the scenario does not
make the memslot come and go, ``__kvm_handle_hva_range()`` always finds it, so
``on_lock`` always runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.events import (
    BUG_COUNT_NEGATIVE,
    CHANGE_PTE_CALLED,
    SPTE_ZAPPED,
    WARN_CHANGE_PTE,
    WARN_NO_RANGE,
)
from mmuspec.model.layout import ALL_ONES, SLOT_ABSENT, SLOT_INVALID
from mmuspec.model.registry import helper

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel


def memslot_hit(k: Kernel, s: bytes | bytearray) -> bool:
    """Whether the hva walk of ``__kvm_handle_hva_range()`` finds a memslot: the slot exists,
    valid or flagged KVM_MEMSLOT_INVALID (the walk visits both)."""
    return not k.L.track_slot or s[k.L.SLOT] != SLOT_ABSENT


def range_unit(k: Kernel, gfn: int) -> int:
    """What KVM records of an invalidated page in its retry range: the hva for
    mmu_notifier_retry_hva() (v5.12), the gfn for mmu_invalidate_retry_gfn() (v6.8)."""
    return gfn + k.hva_offset if k.retry_range == "hva" else gfn


@helper
def kvm_inc_notifier_count(k: Kernel, s: bytearray, start: int, end: int) -> None:
    """kvm_inc_notifier_count() (v5.12; kvm_mmu_invalidate_begin() + range_add() from v6.0):
    count++; the first in-flight invalidation sets the range, later ones widen it (min/max),
    so "any ranges invalidated concurrently will accumulate and persist until all
    outstanding invalidates complete" (4a42d848db95)."""
    L = k.L
    s[L.COUNT] += 1
    if not L.track_ranges:
        return
    if s[L.COUNT] == 1:
        s[L.RANGE_START], s[L.RANGE_END] = start, end
    else:
        s[L.RANGE_START] = min(s[L.RANGE_START], start)
        s[L.RANGE_END] = max(s[L.RANGE_END], end)


@helper
def kvm_dec_notifier_count(k: Kernel, s: bytearray) -> None:
    """kvm_dec_notifier_count() / kvm_mmu_invalidate_end(): seq++; smp_wmb(); count--;
    BUG_ON(count < 0).  When the count is back at 0 the model clears the range: the kernel
    leaves it stale, but nothing reads it while the count is 0 and the next begin
    overwrites it, so clearing it only merges states that behave the same."""
    L = k.L
    if k.end_bumps_seq:
        s[L.SEQ] += 1
    if s[L.COUNT] == 0:
        k.fire(BUG_COUNT_NEGATIVE, lambda: "invalidate_range_end with mmu_notifier_count == 0")
        return
    s[L.COUNT] -= 1
    if L.track_ranges and s[L.COUNT] == 0:
        s[L.RANGE_START] = s[L.RANGE_END] = 0


def range_invalid(k: Kernel, s: bytes | bytearray) -> bool:
    """``kvm->mmu_invalidate_range_start == INVALID_GPA``: kvm_mmu_invalidate_begin() ran and
    no kvm_mmu_invalidate_range_add() since.  The model's INVALID_GPA is the cleared range
    0..0, which no real range is (each ends past its start); scenarios without range
    fields keep a flag where a begin() can miss its range_add() (``Layout.RANGE_ADDED``)."""
    L = k.L
    if L.track_ranges:
        return s[L.RANGE_START] == 0 and s[L.RANGE_END] == 0
    return L.RANGE_ADDED >= 0 and not s[L.RANGE_ADDED]


@helper
def kvm_mmu_invalidate_begin(k: Kernel, s: bytearray) -> None:
    """kvm_mmu_invalidate_begin() (v6.8): ``in_progress++; if (likely(in_progress == 1))
    range_start = range_end = INVALID_GPA;``, under mmu_lock.  The range comes from
    range_add() in the same mmu_lock section (``__kvm_handle_hva_range()`` calls it from the
    handler of each memslot the hva range hits, kvm_zap_gfn_range() right after begin()),
    so the model runs them in one step: a lockless reader that saw the window between them
    (the 6.8 pre-check) treats INVALID_GPA as "not in the range" and still meets the locked
    check, so the window decides nothing."""
    L = k.L
    s[L.COUNT] += 1
    if s[L.COUNT] == 1:
        if L.track_ranges:
            s[L.RANGE_START] = s[L.RANGE_END] = 0
        if L.RANGE_ADDED >= 0:
            s[L.RANGE_ADDED] = 0


@helper
def kvm_mmu_invalidate_range_add(k: Kernel, s: bytearray, start: int, end: int) -> None:
    """kvm_mmu_invalidate_range_add() (v6.8): the first range replaces INVALID_GPA, later
    ones widen it (min/max), so concurrent invalidations accumulate until in_progress is 0."""
    L = k.L
    if L.track_ranges:
        if range_invalid(k, s):
            s[L.RANGE_START], s[L.RANGE_END] = start, end
        else:
            s[L.RANGE_START] = min(s[L.RANGE_START], start)
            s[L.RANGE_END] = max(s[L.RANGE_END], end)
    if L.RANGE_ADDED >= 0:
        s[L.RANGE_ADDED] = 1


@helper
def kvm_mmu_invalidate_end(k: Kernel, s: bytearray) -> None:
    """kvm_mmu_invalidate_end() (v6.8): seq++; smp_wmb(); in_progress--;
    KVM_BUG_ON(in_progress < 0) (c0db19232c1e); WARN_ON_ONCE(range_start == INVALID_GPA)
    ("Assert that at least one range was added between start() and end()").  The range is
    cleared when in_progress is back at 0, as in ``kvm_dec_notifier_count``."""
    L = k.L
    if k.end_bumps_seq:
        s[L.SEQ] += 1
    if s[L.COUNT] == 0:
        k.fire(BUG_COUNT_NEGATIVE, lambda: "KVM_BUG_ON(kvm->mmu_invalidate_in_progress < 0) in "
               "kvm_mmu_invalidate_end()")
        return
    s[L.COUNT] -= 1
    if range_invalid(k, s):
        k.fire(WARN_NO_RANGE, lambda: "WARN_ON_ONCE(kvm->mmu_invalidate_range_start == INVALID_GPA) in "
               "kvm_mmu_invalidate_end(): no range was added since kvm_mmu_invalidate_begin()")
    if s[L.COUNT] == 0:
        if L.track_ranges:
            s[L.RANGE_START] = s[L.RANGE_END] = 0
        if L.RANGE_ADDED >= 0:
            s[L.RANGE_ADDED] = 0


@helper
def kvm_mmu_notifier_invalidate_range_start(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """kvm_mmu_notifier_invalidate_range_start(): under mmu_lock, count++ ("must become
    visible at unlock time as no spte can be established without taking the mmu_lock"),
    then kvm_unmap_gfn_range() and a flush "before the pages can be freed".  From v5.15
    (52ac8b358b0c) mn_active_invalidate_count++ first, and (071064f14d87) the count moves
    only when the hva range hits a memslot.  The 2019 proposal returned early for
    MMU_NOTIFIER_USE_CHANGE_PTE ranges.  With a pfn cache, the count++ and the cache's
    invalidation before mmu_lock are a step of their own (``pfncache.py``)."""
    if change_pte_event and not k.start_zaps_change_pte_events:
        return
    L = k.L
    if k.tracks_mn_active and not k.mn_active_in_phase:
        s[L.MN_ACTIVE] += 1
    hit = memslot_hit(k, s)
    if not hit and k.count_only_if_memslot:
        return
    unit = range_unit(k, gfn)
    if k.invalidate_begin_add_end:
        # on_lock = kvm_mmu_invalidate_begin, then per memslot hit the handler
        # kvm_mmu_unmap_gfn_range(): range_add(), kvm_unmap_gfn_range().
        k.kvm_mmu_invalidate_begin(s)
        if hit:
            k.kvm_mmu_invalidate_range_add(s, unit, unit + 1)
    else:
        k.kvm_inc_notifier_count(s, unit, unit + 1)
    zapped = False
    if hit:
        if s[L.SPTE_PFN[gfn]]:
            k.fire(SPTE_ZAPPED, lambda: f"invalidate_range_start zapped spte[{gfn}]")
        zapped = k.kvm_unmap_gfn_range(s, gfn)
    k.kvm_flush_if_needed(s, zapped)


@helper
def kvm_mmu_notifier_invalidate_range_end(k: Kernel, s: bytearray, gfn: int, change_pte_event: bool) -> None:
    """kvm_mmu_notifier_invalidate_range_end(): under mmu_lock, seq++; smp_wmb(); count--;
    then BUG_ON(count < 0); from v5.15 only if the range hits a memslot *now*, then
    mn_active_invalidate_count-- and wake a waiting memslot update."""
    if change_pte_event and not k.start_zaps_change_pte_events:
        return
    L = k.L
    if memslot_hit(k, s) or not k.count_only_if_memslot:
        if k.invalidate_begin_add_end:
            k.kvm_mmu_invalidate_end(s)
        else:
            k.kvm_dec_notifier_count(s)
    if k.tracks_mn_active and s[L.MN_ACTIVE]:
        s[L.MN_ACTIVE] -= 1


@helper
def kvm_mmu_notifier_change_pte(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool) -> None:
    """kvm_mmu_notifier_change_pte(): under mmu_lock.  2009-v5.12: mmu_notifier_seq++ then
    kvm_set_spte_hva(); v5.13 (c13fda237f08): WARN_ON_ONCE(!mmu_notifier_count) instead of
    the bump, then kvm_set_spte_gfn() through the generic hva walker; v5.15:
    WARN_ON_ONCE(!mn_active_invalidate_count) and return if mmu_notifier_count is 0 ("start()
    didn't find a relevant memslot"); v6.4 (2230f9e1171a): kvm_change_spte_gfn() skips a
    memslot flagged KVM_MEMSLOT_INVALID."""
    L = k.L
    k.fire(CHANGE_PTE_CALLED, lambda: f"change_pte(gfn {gfn} -> {k.page_name(pfn)} {'rw' if writable else 'ro'})")
    mode = k.change_pte
    if mode == "bump_seq":
        s[L.SEQ] += 1
    elif mode == "warn_count" and s[L.COUNT] == 0:
        k.fire(WARN_CHANGE_PTE, lambda: "WARN_ON_ONCE(!kvm->mmu_notifier_count) in kvm_mmu_notifier_change_pte")
    elif mode == "check_count":
        # Without a modelled memslot every start() counts, so the active count is the
        # count; with one but without 52ac8b358b0c there is no active count to check.
        active = s[L.MN_ACTIVE] if k.tracks_mn_active else s[L.COUNT]
        if not active and (k.memslot_update_waits or not L.track_slot):
            k.fire(WARN_CHANGE_PTE, lambda: "WARN_ON_ONCE(!kvm->mn_active_invalidate_count) in "
                   "kvm_mmu_notifier_change_pte")
        if not s[L.COUNT]:
            return
    if not memslot_hit(k, s):
        return
    if k.change_pte_skips_invalid_slot and L.track_slot and s[L.SLOT] == SLOT_INVALID:
        return
    if k.kvm_set_spte_gfn(s, gfn, pfn, writable):
        k.kvm_flush_remote_tlbs(s)


@helper
def kvm_mmu_notifier_invalidate_page(k: Kernel, s: bytearray, gfn: int) -> None:
    """kvm_mmu_notifier_invalidate_page() (until v4.13): under mmu_lock, seq++ and
    kvm_unmap_hva(), flush if it zapped or tlbs_dirty; the page is already unmapped from the
    primary PTE."""
    s[k.L.SEQ] += 1
    if not memslot_hit(k, s):
        return
    if s[k.L.SPTE_PFN[gfn]]:
        k.fire(SPTE_ZAPPED, lambda: f"invalidate_page zapped spte[{gfn}]")
    k.kvm_flush_if_needed(s, k.kvm_unmap_gfn_range(s, gfn))


@helper
def kvm_mmu_notifier_clear_flush_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_mmu_notifier_clear_flush_young(): kvm_age_gfn() under mmu_lock, flush if young.
    Never touches seq or count."""
    return bool(k.kvm_age_gfn(s, gfn))


@helper
def kvm_mmu_notifier_clear_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_mmu_notifier_clear_young(): kvm_age_gfn() without the flush."""
    return bool(k.kvm_age_gfn(s, gfn))


@helper
def kvm_mmu_notifier_test_young(k: Kernel, s: bytearray, gfn: int) -> bool:
    """kvm_mmu_notifier_test_young(): kvm_test_age_gfn()."""
    return bool(k.kvm_test_age_gfn(s, gfn))


def _stale(k: Kernel, s: bytes | bytearray, mmu_seq: int, addr: int, checks: str) -> bool:
    """The body every retry test shares: an in-progress invalidation whose range holds
    ``addr`` (the whole space when the scenario tracks no range), else a moved sequence."""
    L = k.L
    if checks in ("seq_and_count", "count_only") and s[L.COUNT] and (
        not L.track_ranges or s[L.RANGE_START] <= addr < s[L.RANGE_END]
    ):
        return True
    return checks in ("seq_and_count", "seq_only") and s[L.SEQ] != mmu_seq


@helper
def mmu_notifier_retry(k: Kernel, s: bytes | bytearray, mmu_seq: int) -> bool:
    """mmu_notifier_retry(kvm, mmu_seq): ``if (unlikely(kvm->mmu_notifier_count)) return 1;
    smp_rmb(); if (kvm->mmu_notifier_seq != mmu_seq) return 1; return 0;``"""
    checks = k.fault_retry_checks
    if checks in ("seq_and_count", "count_only") and s[k.L.COUNT]:
        return True
    return checks in ("seq_and_count", "seq_only") and s[k.L.SEQ] != mmu_seq


@helper
def mmu_notifier_retry_hva(k: Kernel, s: bytes | bytearray, mmu_seq: int, hva: int) -> bool:
    """mmu_notifier_retry_hva() (4a42d848db95, x86 v5.12-v6.7): retry if the count is
    elevated and ``range_start <= hva < range_end``, else if the sequence moved."""
    return _stale(k, s, mmu_seq, hva, k.fault_retry_checks)


@helper
def mmu_invalidate_retry_gfn(k: Kernel, s: bytes | bytearray, mmu_seq: int, gfn: int) -> bool:
    """mmu_invalidate_retry_gfn() (8569992d64b8, v6.8): the same test on gfns; with
    in_progress raised and the range still INVALID_GPA ("Dropping mmu_lock after bumping
    mmu_invalidate_in_progress but before updating the range is a KVM bug") it WARNs and
    retries."""
    if k.invalidate_begin_add_end and k.fault_retry_checks in ("seq_and_count", "count_only") \
            and s[k.L.COUNT] and range_invalid(k, s):
        k.fire(WARN_NO_RANGE, lambda: "WARN_ON_ONCE(kvm->mmu_invalidate_range_start == INVALID_GPA) in "
               "mmu_invalidate_retry_gfn()")
        return True
    return _stale(k, s, mmu_seq, gfn, k.fault_retry_checks)


@helper
def mmu_invalidate_retry_gfn_unsafe(k: Kernel, s: bytes | bytearray, mmu_seq: int, gfn: int) -> bool:
    """mmu_invalidate_retry_gfn_unsafe() (d02c357e5bfa, v6.8): the same test read with
    READ_ONCE() and no mmu_lock, before the pfn lookup; it "*must* be paired with a call to
    the locked version"."""
    return _stale(k, s, mmu_seq, range_unit(k, gfn), "seq_and_count")


def snapshot_as_compared(k: Kernel, mmu_seq: int) -> int:
    """The snapshot as the locked test sees it.  An ``int mmu_seq`` (is_page_fault_stale(),
    a955cad84cda..ba6e3fe25543) is truncated and sign-extended back to unsigned long; the
    model's sequence is 8 bits and its int 4, so 8..15 come back as 248..255 and 16 and up
    lose their high bits, as 2^31.. did in the kernel."""
    if k.int_mmu_seq:
        low = mmu_seq & 0xF
        return low | 0xF0 if low & 0x8 else low
    return mmu_seq


@helper
def is_page_fault_stale(k: Kernel, s: bytes | bytearray, gfn: int, mmu_seq: int) -> bool:
    """The check of the fault path under mmu_lock, as each arch and era makes it: x86 with
    hva ranges from v5.12 (is_page_fault_stale() from v5.16) and gfn ranges from v6.8; arm64,
    PPC and MIPS mmu_notifier_retry() / mmu_invalidate_retry()."""
    mmu_seq = snapshot_as_compared(k, mmu_seq)
    if k.retry_range == "hva":
        return bool(k.mmu_notifier_retry_hva(s, mmu_seq, gfn + k.hva_offset))
    if k.retry_range == "gfn":
        return bool(k.mmu_invalidate_retry_gfn(s, mmu_seq, gfn))
    return bool(k.mmu_notifier_retry(s, mmu_seq))


@helper
def kvm_install_spte(k: Kernel, s: bytearray, gfn: int, pfn: int, writable: bool, attr: int) -> None:
    """__direct_map()/kvm_tdp_mmu_map() (x86), kvm_pgtable_stage2_map() from
    user_mem_abort() (arm64): map the pfn, allocating any missing table from the
    vCPU's memory cache; writable when the host page was (map_writable).  ``attr`` is
    what the fault derived besides the pfn (memory type, mapping size)."""
    L = k.L
    s[L.SPT_TABLE] = 1
    s[L.SPTE_PFN[gfn]] = pfn
    s[L.SPTE_W[gfn]] = 1 if writable else 0
    if L.track_young:
        s[L.SPTE_YOUNG[gfn]] = 1
    if L.track_attrs:
        s[L.SPTE_ATTR[gfn]] = attr


def all_ones_range() -> tuple[int, int]:
    """``0 ... ALL_ONES``: a range every fault's address falls in (6d3085e4d89a)."""
    return 0, ALL_ONES
