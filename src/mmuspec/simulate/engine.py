"""The workload simulator: millions of guest pages, KSM, and the notifier protocol.

Per-page state lives in numpy arrays (what the primary PTE maps, the SPTE, the
content, KSM's bookkeeping).  Time advances in batches; in each batch the engine
applies, as vectorised operations over all the pages concerned:

* first touches of pages (drawn once per page from its touch rate),
* events scheduled by earlier merges (the first access after a merge, the first
  write after it, which breaks COW),
* one batch of ksmd scanning (``pages_to_scan`` every ``sleep_millisecs``): stable
  tree hit, checksum gate, unstable-tree pairing, merge,
* guest accesses that race a merge's invalidation window.

What an access or a merge does to a page (exits, retries, COW, change_pte, zaps)
is never decided here: it is an ``Outcome`` read off the exact model by
``probes.py``, for the era and arch being simulated, and applied to every page in
the same state at once.  Guest writes in between are drawn from each page's write
rate when they matter, at KSM's scan (the checksum gate) and after a merge.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from mmuspec.model import Config, Variant
from mmuspec.simulate import probes
from mmuspec.simulate.probes import NONE, P_ANON, P_KSM, P_NONE, P_SWAP, P_ZERO, RO, RW, Outcome
from mmuspec.simulate.workload import Workload

CAUSES = ("first_touch", "refault_after_zap", "write_to_readonly", "retry_after_invalidation", "refault_after_reclaim")
FIRST_TOUCH, REFAULT, WRITE_RO, RETRY, RECLAIM = range(5)
KSM_COUNTERS = ("pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "full_scans", "cow_ksm",
                "general_profit")
RMAP_ITEM_BYTES = 64  # sizeof(struct ksm_rmap_item) on 64-bit
PAGE = 4096
# KSM status of a page's rmap item.
UNSCANNED, UNSHARED, VOLATILE, SHARED = range(4)
NO_CONTENT = -1  # unique data


def _cause(pte: int, spte: int, is_write: bool, seen: bool) -> int:
    """Why an access faults.  The guest's first access to a page is a first touch (so is one after
    the host dropped the page: a new page); a page gone to swap refaults after reclaim; a page the
    guest had mapped whose SPTE is gone refaults after an invalidation (only invalidations remove a
    mapped page's SPTE); a write to a read-only SPTE (KSM or the zero page) is a write fault."""
    if pte == P_NONE or not seen:
        return FIRST_TOUCH
    if pte == P_SWAP:
        return RECLAIM
    if spte == NONE:
        return REFAULT
    if is_write and pte in (P_KSM, P_ZERO) and spte != RW:
        return WRITE_RO
    return REFAULT


@dataclass
class Counters:
    exits: NDArray[np.int64] = field(default_factory=lambda: np.zeros(len(CAUSES), dtype=np.int64))
    retries: int = 0
    cow: int = 0
    cow_ksm: int = 0
    merges: int = 0
    change_pte_calls: int = 0
    change_pte_installed: int = 0
    change_pte_repointed: int = 0
    change_pte_removed: int = 0
    zaps: int = 0
    flushes: int = 0
    invalidations: int = 0
    scans: int = 0
    full_scans: int = 0
    aged: int = 0
    reclaimed: int = 0

    def add(self, outcome: Outcome, n: int, cause: int) -> None:
        """Count ``n`` pages that each went through ``outcome``; the first exit of each is
        of ``cause``, the rest are the exits after a retry."""
        if outcome.exits:
            self.exits[cause] += n
            self.exits[RETRY] += n * (outcome.exits - 1)
        self.retries += n * outcome.retries
        self.cow += n * outcome.cow
        self.change_pte_calls += n * outcome.change_pte_calls
        self.change_pte_installed += n * outcome.change_pte_installed
        self.change_pte_repointed += n * outcome.change_pte_repointed
        self.change_pte_removed += n * outcome.change_pte_removed
        self.zaps += n * outcome.zaps
        self.flushes += n * outcome.flushes
        self.invalidations += n * outcome.invalidations


class Engine:
    """One era and arch on one workload."""

    def __init__(self, workload: Workload, config: Config, seed: int, *, bin_seconds: float = 1.0,
                 batch_seconds: float = 0.5, races: bool = True, variant: Variant | None = None) -> None:
        self.w = workload
        self.config = config
        self.variant = variant
        self.costs = workload.costs(str(config["arch"]))
        # One stream per purpose, so that eras whose pages fare differently still draw the
        # same workload (layout, first touches, writes) from the same seed.
        self.rng_layout, self.rng_touch, self.rng_write, self.rng_merge, self.rng_race, self.rng_scan = (
            np.random.default_rng([seed, purpose]) for purpose in range(6))
        self.bin_seconds = bin_seconds
        self.batch_seconds = batch_seconds
        self.races = races
        self.c = Counters()
        self.outcomes: dict[tuple[str | int | bool, ...], Outcome] = {}
        n, ppv = workload.pages, workload.pages_per_vm
        self.n = n
        self.pte = np.zeros(n, dtype=np.int8)
        self.spte = np.zeros(n, dtype=np.int8)
        self.seen = np.zeros(n, dtype=bool)  # the guest has accessed the page (its SPTE existed once)
        self.node = np.full(n, -1, dtype=np.int32)
        self.epoch = np.zeros(n, dtype=np.int32)
        self.status = np.zeros(n, dtype=np.int8)
        self.last_scan = np.full(n, -np.inf, dtype=np.float32)
        self.last_write = np.full(n, -np.inf, dtype=np.float32)
        self.klass, self.rank = self._layout(ppv)  # what each page holds once the guest writes it
        self.content = self.klass.copy()  # what it holds now (-1: unique data)
        self.fill_content = int(self.klass.max(initial=0)) + 1
        self.node_content: list[int] = []
        self.node_mappers = np.zeros(1024, dtype=np.int64)
        self.stable_of = np.full(self.fill_content + 2, -1, dtype=np.int64)
        self.unstable_of = np.full(self.fill_content + 2, -1, dtype=np.int64)
        self.cursor = 0
        self.buckets: dict[int, list[tuple[str, NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_],
                                            NDArray[np.int32]]]] = defaultdict(list)
        self.phase_start = np.cumsum([0.0] + [p.duration for p in workload.phases])
        self.harmonic = [self._harmonic(p.working_set, p.zipf) for p in workload.phases]
        self.bins = max(1, math.ceil(workload.duration / bin_seconds))
        self.exit_series = np.zeros((len(CAUSES), self.bins), dtype=np.int64)
        self.saved_series = np.zeros(self.bins, dtype=np.float64)
        # kswapd's walk order, coldest pages first (built only when the workload reclaims).
        self.lru = (np.argsort(-self.rank, kind="stable").astype(np.int64) if workload.reclaim_rate
                    else np.zeros(0, dtype=np.int64))
        self.lru_cursor = 0

    # -- the workload's pages ----------------------------------------------------------

    def _layout(self, ppv: int) -> tuple[NDArray[np.int32], NDArray[np.int32]]:
        """Content ids (0 zero-filled, then pages identical across VMs at the same offset,
        then pairs duplicated within a VM; -1 unique) and each page's Zipf rank in its VM."""
        w = self.w
        order = self.rng_layout.permutation(ppv)  # the same OS image layout in every VM
        content_of_offset = np.full(ppv, NO_CONTENT, dtype=np.int32)
        zero, shared, dup = int(w.zero * ppv), int(w.shared * ppv), int(w.duplicate * ppv) // 2 * 2
        content_of_offset[order[:zero]] = 0
        content_of_offset[order[zero : zero + shared]] = 1 + np.arange(shared, dtype=np.int32)
        content = np.tile(content_of_offset, w.vms)
        pairs = order[zero + shared : zero + shared + dup]
        base = 1 + shared
        for vm in range(w.vms):
            ids = base + vm * (dup // 2) + np.arange(dup, dtype=np.int32) // 2
            content[vm * ppv + pairs] = ids
        rank = np.concatenate([self.rng_layout.permutation(ppv).astype(np.int32) for _ in range(w.vms)])
        return content, rank

    def _harmonic(self, working_set: float, zipf: float) -> float:
        size = int(working_set * self.w.pages_per_vm)
        if size <= 0:
            return 1.0
        return float(np.sum(1.0 / np.arange(1, size + 1, dtype=np.float64) ** zipf))

    def rates(self, pages: NDArray[np.int64], phase: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Touch and write rates (per second) of ``pages`` in ``phase``."""
        p = self.w.phases[phase]
        size = int(p.working_set * self.w.pages_per_vm)
        rank = self.rank[pages].astype(np.float64)
        touch = np.where(rank < size, p.rate * self.w.vcpus / (rank + 1.0) ** p.zipf / self.harmonic[phase], 0.0)
        return touch, touch * p.write_fraction

    def next_time(self, pages: NDArray[np.int64], after: NDArray[np.float64] | float, writes: bool,
                  rng: np.random.Generator | None = None) -> NDArray[np.float64]:
        """When each page is next touched (or written) after ``after``; inf if not before the end."""
        left = (rng or self.rng_merge).exponential(size=len(pages))
        start = np.broadcast_to(np.asarray(after, dtype=np.float64), (len(pages),)).copy()
        when = np.full(len(pages), np.inf)
        for k in range(len(self.w.phases)):
            lo, hi = self.phase_start[k], self.phase_start[k + 1]
            open_ = np.isinf(when) & (start < hi)
            if not open_.any():
                continue
            idx = np.flatnonzero(open_)
            touch, write = self.rates(pages[idx], k)
            rate = write if writes else touch
            seg_start = np.maximum(start[idx], lo)
            budget = rate * (hi - seg_start)
            hit = budget >= left[idx]
            with np.errstate(divide="ignore"):
                when[idx[hit]] = seg_start[hit] + left[idx[hit]] / rate[hit]
            left[idx[~hit]] -= budget[~hit]
        return when

    def write_fraction_at(self, times: NDArray[np.float64]) -> NDArray[np.float64]:
        phase = np.clip(np.searchsorted(self.phase_start, times, side="right") - 1, 0, len(self.w.phases) - 1)
        return np.array([p.write_fraction for p in self.w.phases])[phase]

    # -- applying the model's outcomes ---------------------------------------------------

    def _outcome(self, probe: str, *args: int | bool) -> Outcome:
        """The model's outcome for one page in this era and arch (computed once)."""
        key: tuple[str | int | bool, ...] = (probe, *args)
        outcome = self.outcomes.get(key)
        if outcome is None:
            outcome = self.outcomes[key] = getattr(probes, probe)(self.config, *args, variant=self.variant)
        return outcome

    def access(self, pages: NDArray[np.int64], times: NDArray[np.float64], write: NDArray[np.bool_]) -> None:
        """Guest accesses to ``pages`` at ``times``: exits, retries, COW, change_pte, as the model
        says for each page's (PTE, SPTE) state."""
        if not len(pages):
            return
        key = (self.pte[pages].astype(np.int64) * 6 + self.spte[pages] * 2 + write) * 2 + self.seen[pages]
        for combo in np.unique(key):
            sel = key == combo
            (pte, rest), seen = divmod(int(combo) // 2, 6), int(combo) % 2
            spte, is_write = divmod(rest, 2)
            group = pages[sel]
            outcome = self._outcome("access", pte, spte, bool(is_write))
            cause = _cause(pte, spte, bool(is_write), bool(seen))
            self.c.add(outcome, len(group), cause)
            self._series(times[sel], outcome, cause)
            if outcome.cow and pte == P_KSM:
                self._unmerge(group)
            self.pte[group] = outcome.pte_after
            self.spte[group] = outcome.spte_after
            self.seen[group] = True
            if is_write:
                self.last_write[group] = times[sel]
                if pte != P_NONE and outcome.pte_after == P_ANON:
                    self.content[group] = NO_CONTENT  # the guest wrote data of its own
            if outcome.cow:
                # A private copy: the zero page's copy gets the guest's data, a KSM page's
                # copy new data of its own.
                self.content[group] = self.klass[group] if pte == P_ZERO else NO_CONTENT

    def _series(self, times: NDArray[np.float64], outcome: Outcome, cause: int) -> None:
        if not outcome.exits or not len(times):
            return
        b = np.minimum((times / self.bin_seconds).astype(np.int64), self.bins - 1)
        self.exit_series[cause] += np.bincount(b, minlength=self.bins)
        if outcome.exits > 1:
            self.exit_series[RETRY] += np.bincount(b, minlength=self.bins) * (outcome.exits - 1)

    def _unmerge(self, pages: NDArray[np.int64]) -> None:
        nodes = self.node[pages]
        np.subtract.at(self.node_mappers, nodes, 1)
        gone = np.unique(nodes[self.node_mappers[nodes] <= 0])
        for node in gone:
            c = self.node_content[node]
            if c >= 0 and self.stable_of[c] == node:
                self.stable_of[c] = -1
        self.c.cow_ksm += len(pages)
        self.node[pages] = -1
        self.status[pages] = UNSCANNED
        self.epoch[pages] += 1

    def merge(self, pages: NDArray[np.int64], nodes: NDArray[np.int64], times: NDArray[np.float64],
              in_place: NDArray[np.bool_]) -> None:
        """ksmd merges ``pages`` into stable ``nodes`` (or makes them the node's page in place)."""
        if not len(pages):
            return
        raced_spte = np.full(len(pages), -1, dtype=np.int8)
        if self.races:
            pages, nodes, times, in_place, raced_spte = self._race(pages, nodes, times, in_place)
        before = self.spte[pages].copy()
        for spte in (NONE, RO, RW):
            for first in (False, True):
                sel = (before == spte) & (in_place == first)
                if not sel.any():
                    continue
                outcome = self._outcome("merge_in_place" if first else "merge", spte)
                group = pages[sel]
                self.c.add(outcome, len(group), REFAULT)
                self.spte[group] = outcome.spte_after
        raced = raced_spte >= 0
        self.spte[pages[raced]] = raced_spte[raced]  # the raced access mapped the page itself
        self.pte[pages] = P_KSM
        self.node[pages] = nodes
        np.add.at(self.node_mappers, nodes, 1)
        self.status[pages] = SHARED
        self.epoch[pages] += 1
        self.c.merges += len(pages)
        self._schedule_after_merge(pages, times)

    def _race(self, pages: NDArray[np.int64], nodes: NDArray[np.int64], times: NDArray[np.float64],
              in_place: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64],
                                                    NDArray[np.bool_], NDArray[np.int8]]:
        """Guest accesses that fall in a merge's invalidation window (replace_page()).  A
        write there breaks COW of the old page and makes the merge fail; a read completes
        after the merge, with the SPTE it returns (-1 where nothing raced)."""
        window = self.costs.merge_window_us * 1e-6
        phase = np.clip(np.searchsorted(self.phase_start, times, side="right") - 1, 0, len(self.w.phases) - 1)
        touch = np.zeros(len(pages))
        for k in np.unique(phase):
            sel = phase == k
            touch[sel] = self.rates(pages[sel], int(k))[0]
        raced = (~in_place) & (self.rng_race.random(len(pages)) < -np.expm1(-touch * window))
        raced_spte = np.full(len(pages), -1, dtype=np.int8)
        if not raced.any():
            return pages, nodes, times, in_place, raced_spte
        writes = self.rng_race.random(len(pages)) < self.write_fraction_at(times)
        failed = np.zeros(len(pages), dtype=bool)
        before = self.spte[pages].copy()
        for spte in (NONE, RO, RW):
            for is_write in (False, True):
                sel = raced & (before == spte) & (writes == is_write)
                if not sel.any():
                    continue
                outcome = self._outcome("access_during_merge", spte, is_write)
                cause = WRITE_RO if is_write else REFAULT
                self.c.add(outcome, int(sel.sum()), cause)
                self._series(times[sel], outcome, cause)
                raced_spte[sel] = outcome.spte_after
                if not outcome.merged:
                    failed |= sel
                    group = pages[sel]
                    self.pte[group] = outcome.pte_after
                    self.spte[group] = outcome.spte_after
                    self.content[group] = NO_CONTENT
                    self.last_write[group] = times[sel]
                    self.status[group] = VOLATILE
        keep = ~failed
        return pages[keep], nodes[keep], times[keep], in_place[keep], raced_spte[keep]

    def _schedule_after_merge(self, pages: NDArray[np.int64], times: NDArray[np.float64]) -> None:
        """The first access after each merge, and the first write (the COW break)."""
        first = self.next_time(pages, times, writes=False)
        is_write = self.rng_merge.random(len(pages)) < self.write_fraction_at(np.minimum(first, self.w.duration))
        cow = np.where(is_write, first, np.inf)
        reads = ~is_write & np.isfinite(first)
        cow[reads] = self.next_time(pages[reads], first[reads], writes=True)
        epoch = self.epoch[pages]
        self._push("access", pages, first, is_write, epoch)
        self._push("cow", pages[reads], cow[reads], np.ones(int(reads.sum()), dtype=bool), epoch[reads])

    def _push(self, kind: str, pages: NDArray[np.int64], times: NDArray[np.float64], write: NDArray[np.bool_],
              epoch: NDArray[np.int32]) -> None:
        ok = times < self.w.duration
        if not ok.any():
            return
        pages, times, write, epoch = pages[ok], times[ok], write[ok], epoch[ok]
        slot = (times / self.batch_seconds).astype(np.int64)
        for b in np.unique(slot):
            sel = slot == b
            self.buckets[int(b)].append((kind, pages[sel], times[sel], write[sel], epoch[sel]))

    # -- ksmd --------------------------------------------------------------------------

    def ksm_scan(self, start: float, end: float) -> None:
        """One batch of ksmd: ``pages_to_scan`` pages every ``sleep_millisecs``."""
        w = self.w
        wakeups = (end - start) * 1000.0 / w.sleep_millisecs
        count = int(w.pages_to_scan * wakeups + self.rng_scan.random())
        if count <= 0:
            return
        pages = self._next_pages(count)
        if not len(pages):
            return
        self.scan(pages, start + (end - start) * (np.arange(len(pages)) + 0.5) / len(pages))

    def scan(self, pages: NDArray[np.int64], times: NDArray[np.float64]) -> None:
        """cmp_and_merge_page() for each page, in order: stable tree, checksum gate,
        unstable tree."""
        self.c.scans += len(pages)
        anon = self.pte[pages] == P_ANON
        pages, times = pages[anon], times[anon]
        if not len(pages):
            return
        # Background guest writes since the last scan change the checksum (and the content).
        touched = self._written_since(pages, self.last_scan[pages].astype(np.float64), times)
        changed = touched | (self.last_write[pages] > self.last_scan[pages])
        self.content[pages[touched]] = NO_CONTENT
        content = self.content[pages]
        first_scan = np.isneginf(self.last_scan[pages])
        self.last_scan[pages] = times
        # Stable tree first (cmp_and_merge_page()), even on a first scan.
        candidates = content >= 0
        stable = np.zeros(len(pages), dtype=bool)
        stable[candidates] = self.stable_of[content[candidates]] >= 0
        self._merge_into_stable(pages[stable], content[stable], times[stable])
        rest = ~stable
        volatile = rest & (changed | first_scan)
        self.status[pages[volatile]] = VOLATILE
        unique = rest & ~volatile & ~candidates
        self.status[pages[unique]] = UNSHARED
        pair = rest & ~volatile & candidates
        self._unstable(pages[pair], content[pair], times[pair])

    def _next_pages(self, count: int) -> NDArray[np.int64]:
        """The next ``count`` pages with a present anonymous or KSM PTE, in address order;
        wrapping around is a full scan (and empties the unstable tree)."""
        out: list[NDArray[np.int64]] = []
        need, looked = count, 0
        while need > 0 and looked < self.n:
            base = self.cursor
            span = min(self.n - base, max(4 * need, 65536))
            window = self.pte[base : base + span]
            found = np.flatnonzero((window == P_ANON) | (window == P_KSM))
            if len(found) > need:
                found = found[:need]
                span = int(found[-1]) + 1
            out.append(found.astype(np.int64) + base)
            need -= len(found)
            looked += span
            self.cursor = base + span
            if self.cursor >= self.n:
                self.cursor = 0
                self.c.full_scans += 1
                self.unstable_of.fill(-1)
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def _written_since(self, pages: NDArray[np.int64], since: NDArray[np.float64],
                       now: NDArray[np.float64]) -> NDArray[np.bool_]:
        since = np.where(np.isfinite(since), since, now)
        hazard = np.zeros(len(pages))
        for k in range(len(self.w.phases)):
            lo, hi = self.phase_start[k], self.phase_start[k + 1]
            overlap = np.clip(np.minimum(now, hi) - np.maximum(since, lo), 0.0, None)
            if overlap.any():
                hazard += self.rates(pages, k)[1] * overlap
        return self.rng_write.random(len(pages)) < -np.expm1(-hazard)

    def _merge_into_stable(self, pages: NDArray[np.int64], content: NDArray[np.int32],
                           times: NDArray[np.float64]) -> None:
        if not len(pages):
            return
        nodes = self._assign_nodes(content, self.stable_of[content])
        self.merge(pages, nodes, times, np.zeros(len(pages), dtype=bool))

    def _assign_nodes(self, content: NDArray[np.int32], current: NDArray[np.int64]) -> NDArray[np.int64]:
        """Stable nodes for pages of ``content`` joining ``current`` nodes, opening new nodes
        (stable_node_dups) when one reaches max_page_sharing."""
        cap = self.w.max_page_sharing
        order = np.argsort(content, kind="stable")
        out = np.empty(len(content), dtype=np.int64)
        values, starts, counts = np.unique(content[order], return_index=True, return_counts=True)
        for c, s, n in zip(values.tolist(), starts.tolist(), counts.tolist(), strict=True):
            node = int(current[order[s]])
            room = cap - int(self.node_mappers[node]) if node >= 0 else 0
            idx = order[s : s + n]
            take = min(room, n)
            out[idx[:take]] = node
            k = take
            while k < n:
                node = self._new_node(c)
                out[idx[k : k + cap]] = node
                self.node_mappers[node] = 0
                k += cap
            self.stable_of[c] = node
        return out

    def _new_node(self, content: int) -> int:
        node = len(self.node_content)
        self.node_content.append(content)
        if node >= len(self.node_mappers):
            self.node_mappers = np.concatenate([self.node_mappers, np.zeros(len(self.node_mappers), dtype=np.int64)])
        return node

    def _unstable(self, pages: NDArray[np.int64], content: NDArray[np.int32], times: NDArray[np.float64]) -> None:
        """Unstable tree: a page whose content another page of this pass has makes the
        pair a new stable node (the second page in place, the first replaced by it)."""
        if not len(pages):
            return
        order = np.argsort(content, kind="stable")
        values, starts, counts = np.unique(content[order], return_index=True, return_counts=True)
        merged_pages, merged_nodes, merged_times, merged_first = [], [], [], []
        for c, s, n in zip(values.tolist(), starts.tolist(), counts.tolist(), strict=True):
            idx = order[s : s + n]
            waiting = int(self.unstable_of[c])
            if waiting >= 0 and not (self.pte[waiting] == P_ANON and self.content[waiting] == c
                                     and self.status[waiting] == UNSHARED):
                waiting = -1
            group = list(pages[idx])
            group_times = list(times[idx])
            if waiting < 0:
                waiting = group.pop(0)
                group_times.pop(0)
                self.status[waiting] = UNSHARED
            if not group:
                self.unstable_of[c] = waiting
                continue
            node = self._new_node(c)
            self.unstable_of[c] = -1
            # try_to_merge_two_pages(): the scanned page becomes the KSM page, the tree page joins it.
            merged_pages += [group[0], waiting, *group[1:]]
            merged_first += [True, False] + [False] * (len(group) - 1)
            merged_nodes += [node] * (len(group) + 1)
            merged_times += [group_times[0], group_times[0], *group_times[1:]]
            self.stable_of[c] = node
        if merged_pages:
            p = np.array(merged_pages, dtype=np.int64)
            nodes = np.array(merged_nodes, dtype=np.int64)
            self.merge(p, nodes, np.array(merged_times), np.array(merged_first, dtype=bool))

    # -- time ------------------------------------------------------------------------------

    def run(self, progress: Callable[[float], None] | None = None) -> Counters:
        """Simulate the whole workload; ``progress(t)`` is told each simulated second
        ``t`` that a batch reaches."""
        w = self.w
        first = self.next_time(np.arange(self.n, dtype=np.int64), 0.0, writes=False, rng=self.rng_touch)
        first_write = self.rng_touch.random(self.n) < self.write_fraction_at(np.minimum(first, w.duration))
        touch_order = np.argsort(first, kind="stable")
        touch_times = first[touch_order]
        pointer = 0
        edges = sorted(set(np.arange(0.0, w.duration, self.batch_seconds).tolist()) | set(self.phase_start[:-1].tolist()))
        edges.append(w.duration)
        for start, end in itertools.pairwise(edges):
            phase = int(np.searchsorted(self.phase_start, start, side="right") - 1)
            if start == self.phase_start[phase]:
                self._fill(phase, start)
            stop = int(np.searchsorted(touch_times, end, side="left"))
            if stop > pointer:
                pages = touch_order[pointer:stop].astype(np.int64)
                pages = pages[self.pte[pages] == P_NONE]
                self.access(pages, first[pages], first_write[pages])
                zero = pages[self.pte[pages] == P_ZERO]
                self._push("cow", zero, self.next_time(zero, first[zero], writes=True, rng=self.rng_touch),
                           np.ones(len(zero), dtype=bool), self.epoch[zero])
                pointer = stop
            self._due(start, end)
            self.ksm_scan(start, end)
            self.reclaim(start, end)
            # The accesses that merges and reclaim of this batch scheduled inside it (a page
            # touched again within the batch): without this they were dropped, which a guest
            # that touches its pages thousands of times a second shows (tests/lab).
            self._due(start, end)
            b = min(int(end / self.bin_seconds - 1e-9), self.bins - 1)
            self.saved_series[b] = self.pages_sharing() * PAGE / 2**20
            if progress is not None:
                progress(end)
        return self.c

    def reclaim(self, start: float, end: float) -> None:
        """kswapd ages ``reclaim_rate`` pages a second, coldest first, and swaps out those not
        touched for ``idle_seconds`` (what that does to the SPTE is the model's)."""
        w = self.w
        count = int(w.reclaim_rate * (end - start) + self.rng_scan.random())
        if count <= 0:
            return
        picks = self.lru[(self.lru_cursor + np.arange(count)) % self.n]
        self.lru_cursor = (self.lru_cursor + count) % self.n
        pages = picks[self.pte[picks] == P_ANON]
        self.c.aged += len(picks)
        if not len(pages):
            return
        phase = int(np.searchsorted(self.phase_start, start, side="right") - 1)
        touch = self.rates(pages, min(phase, len(w.phases) - 1))[0]
        young = self.rng_scan.random(len(pages)) < -np.expm1(-touch * w.idle_seconds)
        pages = pages[~young]
        if not len(pages):
            return
        before = self.spte[pages].copy()
        for spte in (NONE, RO, RW):
            group = pages[before == spte]
            if len(group):
                outcome = self._outcome("reclaim", spte)
                self.c.add(outcome, len(group), RECLAIM)
                self.spte[group] = outcome.spte_after
        self.pte[pages] = P_SWAP
        self.status[pages] = UNSCANNED
        self.epoch[pages] += 1
        self.c.reclaimed += len(pages)
        at = np.full(len(pages), end)
        back = self.next_time(pages, at, writes=False)
        write = self.rng_merge.random(len(pages)) < self.write_fraction_at(np.minimum(back, w.duration))
        self._push("access", pages, back, write, self.epoch[pages])

    def _fill(self, phase: int, at: float) -> None:
        """A phase that starts by writing part of memory (LTP ksm02's shape)."""
        p = self.w.phases[phase]
        if not p.fill:
            return
        pages = np.flatnonzero(self.rank < p.fill_fraction * self.w.pages_per_vm).astype(np.int64)
        self.access(pages, np.full(len(pages), at), np.ones(len(pages), dtype=bool))
        if p.fill == "same":
            self.content[pages] = self.fill_content
        else:
            self.content[pages] = NO_CONTENT
        self.last_write[pages] = at

    def _due(self, start: float, end: float) -> None:
        """Apply the scheduled accesses of this batch, first accesses before COW writes."""
        for b in range(int(start / self.batch_seconds), int(end / self.batch_seconds - 1e-9) + 1):
            entries = self.buckets.pop(b, [])
            for kind in ("access", "cow"):
                parts = [e for e in entries if e[0] == kind]
                if not parts:
                    continue
                pages = np.concatenate([e[1] for e in parts])
                times = np.concatenate([e[2] for e in parts])
                write = np.concatenate([e[3] for e in parts])
                live = self.epoch[pages] == np.concatenate([e[4] for e in parts])
                if kind == "cow":
                    live &= (self.pte[pages] == P_KSM) | (self.pte[pages] == P_ZERO)
                self.access(pages[live], times[live], write[live])

    def pages_sharing(self) -> int:
        mappers = self.node_mappers[: len(self.node_content)]
        return int(mappers.sum()) - int(np.count_nonzero(mappers > 0))

    def ksm_counters(self) -> dict[str, int]:
        mappers = self.node_mappers[: len(self.node_content)]
        shared = int(np.count_nonzero(mappers > 0))
        sharing = int(mappers.sum()) - shared
        unshared = int(np.count_nonzero(self.status == UNSHARED))
        volatile = int(np.count_nonzero(self.status == VOLATILE))
        return {
            "pages_shared": shared,
            "pages_sharing": sharing,
            "pages_unshared": unshared,
            "pages_volatile": volatile,
            "full_scans": self.c.full_scans,
            "cow_ksm": self.c.cow_ksm,
            "general_profit": sharing * PAGE - (sharing + shared + unshared + volatile) * RMAP_ITEM_BYTES,
        }
