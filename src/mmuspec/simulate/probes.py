"""What one page goes through, per era and arch, read off the exact model.

The simulator never decides from a table which era zaps, retries or updates in
place.  It asks the model: build a one-page state of ``Kernel`` (the very model
``mmuspec check`` explores), run one thread's steps to completion in a fixed
order, and record what happened (VM exits, retries, COW breaks, change_pte calls
and whether they changed the SPTE, zaps, flushes) and the page's state after.
These outcomes are computed once per era and arch and then applied to millions of
pages at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cache

from mmuspec.model import Config, Kernel, Scenario, Variant
from mmuspec.model import guest as g
from mmuspec.model import ksm as k
from mmuspec.model.events import BIT
from mmuspec.model.host import R_DONE
from mmuspec.model.layout import KSM_PFN, PTE_RO, PTE_RW, PTE_SWAP, ZERO_PFN

# Page states shared by the simulator and the probes.
PTE_KINDS = ("none", "anon", "ksm", "zero", "swap")  # what the primary PTE maps
SPTE_KINDS = ("none", "ro", "rw")  # the secondary MMU's entry for the page
NONE, RO, RW = 0, 1, 2
P_NONE, P_ANON, P_KSM, P_ZERO, P_SWAP = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class Outcome:
    """What running one thread's steps to completion did to one page."""

    exits: int = 0  # VM exits the access took (0 if it went straight through the SPTE)
    retries: int = 0  # faults that saw mmu_notifier_retry() and returned to the guest
    cow: int = 0  # COW breaks (wp_page_copy)
    merged: int = 0  # replace_page() mapped the KSM page
    change_pte_calls: int = 0
    change_pte_installed: int = 0
    change_pte_repointed: int = 0
    change_pte_removed: int = 0
    zaps: int = 0  # present SPTEs removed by an invalidation
    flushes: int = 0  # remote TLB flushes (zap or change of a present SPTE)
    invalidations: int = 0  # invalidate_range_start/end pairs the mm issued
    pte_after: int = P_NONE
    spte_after: int = NONE


def _scenario(pte: int, *, merge: bool, op: str = "read", reclaim: bool = False) -> Scenario:
    return Scenario(
        name="probe",
        description="one page, one thread",
        gfns=1,
        initial=(PTE_KINDS[pte] if pte != P_SWAP else "anon",),
        table_kept_alive=True,
        stable_page=True,
        merge=(0,) if merge else (),
        vcpus=1,
        accesses=1,
        ops=(op,),
        guest_gfns=(0,),
        zap=(),
        aging=(0,) if reclaim else (),
        reclaim=reclaim,
    )


def _with_spte(kernel: Kernel, state: bytes, spte: int) -> bytes:
    L = kernel.L
    s = bytearray(state)
    if spte != NONE:
        s[L.SPTE_PFN[0]] = s[L.PTE_PFN[0]]
        s[L.SPTE_W[0]] = 1 if spte == RW else 0
    return bytes(s)


def _kind_of(kernel: Kernel, s: bytes) -> tuple[int, int]:
    L = kernel.L
    pfn, prot = s[L.PTE_PFN[0]], s[L.PTE_PROT[0]]
    if prot == PTE_SWAP:
        pte = P_SWAP
    elif prot not in (PTE_RO, PTE_RW):
        pte = P_NONE
    elif pfn == ZERO_PFN:
        pte = P_ZERO
    elif pfn == KSM_PFN:
        pte = P_KSM
    else:
        pte = P_ANON
    spte = NONE if not s[L.SPTE_PFN[0]] else (RW if s[L.SPTE_W[0]] else RO)
    return pte, spte


def _tally(kernel: Kernel, s: bytes, action: int, out: Outcome) -> tuple[bytes, Outcome]:
    nxt, ev, _ = kernel.explain_action(s, action)
    step = kernel.action_parts(action)[1]
    # A change to a present SPTE needs a remote TLB flush; installing one does not.
    repointed = bool(ev & BIT["change_pte_repointed_spte"])
    removed = bool(ev & BIT["change_pte_removed_spte"])
    out = replace(
        out,
        retries=out.retries + bool(ev & BIT["fault_retried"]),
        cow=out.cow + bool(ev & BIT["cow_broken"]),
        merged=out.merged + bool(ev & BIT["ksm_merged"]),
        change_pte_calls=out.change_pte_calls + bool(ev & BIT["change_pte_called"]),
        change_pte_installed=out.change_pte_installed + bool(ev & BIT["change_pte_installed_spte"]),
        change_pte_repointed=out.change_pte_repointed + repointed,
        change_pte_removed=out.change_pte_removed + removed,
        zaps=out.zaps + bool(ev & BIT["spte_zapped"]),
        flushes=out.flushes + bool(ev & BIT["spte_zapped"]) + repointed + removed,
        invalidations=out.invalidations + step.endswith("_start"),
    )
    return nxt, out


def _run(
    kernel: Kernel, s: bytes, thread: int, until: set[int], out: Outcome, *, may_block: bool = False,
    skip_first: bool = False,
) -> tuple[bytes, Outcome]:
    """Take ``thread``'s only enabled step until its pc is in ``until`` (or, with
    ``may_block``, until it waits for a lock another thread holds)."""
    base = kernel.threads[thread].base
    seen: set[bytes] = set()
    for step in range(64):
        if s[base] in until and not (skip_first and step == 0):
            return s, out
        if may_block:
            # A fault that retries while another thread holds the invalidation open comes
            # back to the same state: it waits for that thread, as a blocked step would.
            if s in seen:
                return s, out
            seen.add(s)
        actions = [a for a, _, _ in kernel.successors(s) if kernel.thread_of(a) == thread]
        if not actions and may_block:
            return s, out
        if len(actions) != 1:
            raise RuntimeError(f"probe expected one step of {kernel.threads[thread].name}, got {len(actions)}")
        if kernel.threads[thread].kind == "vcpu" and s[base] in (g.NEW, g.RETRY):
            before = s[base]
            s, out = _tally(kernel, s, actions[0], out)
            if s[base] == g.GUP and before in (g.NEW, g.RETRY):
                out = replace(out, exits=out.exits + 1)
            continue
        s, out = _tally(kernel, s, actions[0], out)
    raise RuntimeError("probe did not finish")


@cache
def access(config: Config, pte: int, spte: int, write: bool, variant: Variant | None = None) -> Outcome:
    """A guest access to a page that the primary maps as ``pte`` and the SPTE as
    ``spte``, run to completion with nothing else happening.  A swapped-out page is
    first reclaimed by the model's kswapd (its counts are not the access's)."""
    kernel = Kernel(_scenario(pte, merge=False, op="write" if write else "read", reclaim=pte == P_SWAP),
                    config, variant)
    s = _with_spte(kernel, kernel.initial(), spte)
    if pte == P_SWAP:
        kswapd = next(t.index for t in kernel.threads if t.kind == "kswapd")
        s, _ = _run(kernel, s, kswapd, {R_DONE}, Outcome())
    s, out = _run(kernel, s, 0, {g.DONE}, Outcome())
    pte_after, spte_after = _kind_of(kernel, s)
    return replace(out, pte_after=pte_after, spte_after=spte_after)


@cache
def merge(config: Config, spte: int, variant: Variant | None = None) -> Outcome:
    """ksmd merging an anonymous page into an existing stable page, with the page's SPTE
    as ``spte`` and no guest access meanwhile."""
    kernel = Kernel(_scenario(P_ANON, merge=True), config, variant)
    s = _with_spte(kernel, kernel.initial(), spte)
    ksmd = next(t.index for t in kernel.threads if t.kind == "ksmd")
    s, out = _run(kernel, s, ksmd, {k.DONE}, Outcome())
    pte_after, spte_after = _kind_of(kernel, s)
    return replace(out, pte_after=pte_after, spte_after=spte_after)


@cache
def reclaim(config: Config, spte: int, variant: Variant | None = None) -> Outcome:
    """kswapd ageing an old page (clear_young, test_young, clear_flush_young) and
    reclaiming it to swap with try_to_unmap_one(), with the page's SPTE as ``spte``."""
    kernel = Kernel(_scenario(P_ANON, merge=False, reclaim=True), config, variant)
    s = _with_spte(kernel, kernel.initial(), spte)
    kswapd = next(t.index for t in kernel.threads if t.kind == "kswapd")
    s, out = _run(kernel, s, kswapd, {R_DONE}, Outcome())
    pte_after, spte_after = _kind_of(kernel, s)
    return replace(out, pte_after=pte_after, spte_after=spte_after)


@cache
def merge_in_place(config: Config, spte: int, variant: Variant | None = None) -> Outcome:
    """ksmd making a page the KSM page in place (the first page of an unstable-tree
    pair: write_protect_page() only), with the page's SPTE as ``spte``."""
    scenario = replace(_scenario(P_ANON, merge=True), gfns=2, initial=("anon", "anon"), stable_page=False,
                       merge=(0, 1), guest_gfns=(0,))
    kernel = Kernel(scenario, config, variant)
    L = kernel.L
    s = bytearray(kernel.initial())
    if spte != NONE:
        s[L.SPTE_PFN[1]] = s[L.PTE_PFN[1]]
        s[L.SPTE_W[1]] = 1 if spte == RW else 0
    ksmd = next(t.index for t in kernel.threads if t.kind == "ksmd")
    s2, out = _run(kernel, bytes(s), ksmd, {k.SCAN, k.DONE}, Outcome(), skip_first=True)
    spte_after = NONE if not s2[L.SPTE_PFN[1]] else (RW if s2[L.SPTE_W[1]] else RO)
    return replace(out, merged=1, pte_after=P_KSM, spte_after=spte_after)


@cache
def access_during_merge(config: Config, spte: int, write: bool, variant: Variant | None = None) -> Outcome:
    """A guest access that starts while ksmd is between replace_page()'s
    invalidate_range_start() and its end (the window in which a fault races the
    merge): one fault attempt, then ksmd finishes, then the access completes.  The
    counts are the access's, except ``merged``, which says whether the merge survived."""
    kernel = Kernel(_scenario(P_ANON, merge=True, op="write" if write else "read"), config, variant)
    s = _with_spte(kernel, kernel.initial(), spte)
    ksmd = next(t.index for t in kernel.threads if t.kind == "ksmd")
    s, merging = _run(kernel, s, ksmd, {k.RP_LOCK, k.DONE, k.FINISH}, Outcome())
    s, out = _run(kernel, s, 0, {g.RELEASE, g.DONE}, Outcome(), may_block=True)
    s, merging = _run(kernel, s, ksmd, {k.DONE}, merging)
    s, out = _run(kernel, s, 0, {g.DONE}, out)
    pte_after, spte_after = _kind_of(kernel, s)
    return replace(out, merged=merging.merged, pte_after=pte_after, spte_after=spte_after)
