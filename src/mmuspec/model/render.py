"""Words for states: page names, PTEs, SPTEs, and what a step changed.

Used by traces and reports; never on the search's hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mmuspec.model.layout import (
    KSM_PFN,
    NOPAGE,
    PG_KSM,
    PG_LOCKED,
    PROT_NAMES,
    PTE_NONE,
    PTE_SWAP,
    SUB_FREED,
    SUB_NAMES,
    THREAD_FIELDS,
    ZERO_PFN,
)

if TYPE_CHECKING:
    from mmuspec.model.layout import Layout, Thread
    from mmuspec.model.scenario import Scenario

_PAGE_FIELDS = {"pfn", "page", "kpage", "orig_pfn", "new_page", "old_page"}


class Renderer:
    L: Layout
    scenario: Scenario
    threads: list[Thread]

    def pc_name(self, s: bytes | bytearray, t: int) -> str:
        raise NotImplementedError

    def page_name(self, pfn: int) -> str:
        if pfn == NOPAGE:
            return "-"
        if pfn == ZERO_PFN:
            return "Z"
        if pfn == KSM_PFN and self.scenario.stable_page:
            return "K"
        return f"P{pfn - self.L.first_pool_pfn + 1}"

    def pte_text(self, s: bytes | bytearray, gfn: int) -> str:
        L = self.L
        prot, pfn = s[L.PTE_PROT[gfn]], s[L.PTE_PFN[gfn]]
        if prot == PTE_SWAP:
            return f"swap({s[L.SWAP_VAL[gfn]]})"
        if prot == PTE_NONE:
            return f"none (clearing, next {self.page_name(pfn)})" if pfn else "none"
        return f"{self.page_name(pfn)} {PROT_NAMES[prot]}"

    def spte_text(self, pfn: int, writable: int) -> str:
        if not pfn:
            return "none"
        return f"{self.page_name(pfn)} {'rw' if writable else 'ro'}"

    def state_text(self, s: bytes | bytearray) -> list[str]:
        """A few lines that describe the whole state."""
        L = self.L
        lines = [
            f"mmu_notifier_seq={s[L.SEQ]} mmu_notifier_count={s[L.COUNT]} "
            f"ptl={'held' if s[L.PTL] else 'free'} spt_table={'yes' if s[L.SPT_TABLE] else 'no'}"
        ]
        for g in range(L.gfns):
            lines.append(
                f"gfn {g}: pte {self.pte_text(s, g)}, spte "
                f"{self.spte_text(s[L.SPTE_PFN[g]], s[L.SPTE_W[g]])}, guest last wrote {s[L.EXPECT[g]]}"
            )
        frames = []
        for pfn in range(1, L.frames):
            if s[L.REF[pfn]]:
                flags = s[L.FLAGS[pfn]]
                frames.append(f"{self.page_name(pfn)}(ref {s[L.REF[pfn]]}, map {s[L.MAP[pfn]]}, "
                              f"{flags_text(flags) + ', ' if flags else ''}val {s[L.VAL[pfn]]})")
        lines.append("pages: " + " ".join(frames))
        lines.append("threads: " + ", ".join(f"{th.name}@{self.pc_name(s, th.index)}" for th in self.threads))
        return lines

    def diff_text(self, before: bytes | bytearray, after: bytes | bytearray) -> str:
        """What a step changed, in kernel words, e.g. ``spte[0] P3 rw -> none; seq 1 -> 2``."""
        L = self.L
        parts: list[str] = []
        seen: set[int] = set()
        for g in range(L.gfns):
            pte = (L.PTE_PFN[g], L.PTE_PROT[g])
            if any(before[i] != after[i] for i in pte) or (L.track_swap and before[L.SWAP_VAL[g]] != after[L.SWAP_VAL[g]]):
                where = "file" if L.track_gmem else "pte"  # guest_memfd: the file's folio at index g
                parts.append(f"{where}[{g}] {self.pte_text(before, g)} -> {self.pte_text(after, g)}")
            seen.update(pte)
            if L.track_swap:
                seen.add(L.SWAP_VAL[g])
            spte = (L.SPTE_PFN[g], L.SPTE_W[g])
            if any(before[i] != after[i] for i in spte):
                parts.append(
                    f"spte[{g}] {self.spte_text(before[spte[0]], before[spte[1]])} -> "
                    f"{self.spte_text(after[spte[0]], after[spte[1]])}"
                )
            seen.update(spte)
            for d in range(L.devices):
                dev = (L.DEV_PTE_PFN[d * L.gfns + g], L.DEV_PTE_W[d * L.gfns + g])
                if any(before[i] != after[i] for i in dev):
                    parts.append(f"dmirror{d}.pt[{g}] {self.spte_text(before[dev[0]], before[dev[1]])} -> "
                                 f"{self.spte_text(after[dev[0]], after[dev[1]])}")
                seen.update(dev)
        for d, i in enumerate(L.DEV_SUB):
            seen.add(i)
            if before[i] != after[i]:
                parts.append(f"dmirror{d}.notifier {sub_text(before[i])} -> {sub_text(after[i])}")
        for g, i in enumerate(L.GMEM_UPTE):
            seen.add(i)
            if before[i] != after[i]:
                parts.append(f"gmem_mmap.pte[{g}] {self.page_name(before[i])} -> {self.page_name(after[i])}")
        if L.GPC_PFN >= 0:
            seen.add(L.GPC_PFN)
            if before[L.GPC_PFN] != after[L.GPC_PFN]:
                parts.append(f"gpc.pfn {self.page_name(before[L.GPC_PFN])} -> {self.page_name(after[L.GPC_PFN])}")
        for pfn in range(1, L.frames):
            for what, index in (("ref", L.REF), ("map", L.MAP), ("flags", L.FLAGS), ("val", L.VAL)):
                i = index[pfn]
                seen.add(i)
                if before[i] != after[i]:
                    a, b = before[i], after[i]
                    if what == "flags":
                        parts.append(f"{self.page_name(pfn)}.flags {flags_text(a)} -> {flags_text(b)}")
                    else:
                        parts.append(f"{self.page_name(pfn)}.{what} {a} -> {b}")
        short = {L.SEQ: "seq", L.COUNT: "count", L.PTL: "ptl", L.SPT_TABLE: "spt_table"}
        for th in self.threads:
            fields = th.fields or THREAD_FIELDS[th.kind]
            for offset, field in enumerate(fields):
                i = th.base + offset
                seen.add(i)
                if before[i] == after[i]:
                    continue
                if field in ("pc", "mn"):
                    continue
                a, b = before[i], after[i]
                if field in _PAGE_FIELDS:
                    parts.append(f"{th.name}.{field} {self.page_name(a)} -> {self.page_name(b)}")
                else:
                    parts.append(f"{th.name}.{field} {a} -> {b}")
        for i, name in enumerate(L.names):
            if i in seen or before[i] == after[i]:
                continue
            label = short.get(i, name)
            parts.append(f"{label} {before[i]} -> {after[i]}")
        return "; ".join(parts)


def sub_text(state: int) -> str:
    """An mmu_interval_notifier subscription's state, e.g. ``deferred remove, freed``."""
    return SUB_NAMES[state & 7] + (", freed" if state & SUB_FREED else "")


def flags_text(flags: int) -> str:
    names = [n for bit, n in ((PG_KSM, "ksm"), (PG_LOCKED, "locked")) if flags & bit]
    return ",".join(names) or "-"
