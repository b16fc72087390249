"""Where each field lives in a state, and how to print one.

A state is a ``bytes`` object with one byte per field: immutable, hashable,
picklable, cheap to copy (``bytearray(s)``) and to fingerprint.  The layout is
fixed per scenario: globals, then per guest frame (gfn) the primary PTE and the
SPTE, then per physical page frame its reference count, map count, flags and
contents, then one block per thread.  Fields a scenario cannot touch are left out
so that they do not split states.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmuspec.model.scenario import Scenario

# Physical frames.  Frame 0 means "no page"; the shared zero page and the stable
# KSM page (when the scenario has one) have fixed numbers; the rest is a pool.
NOPAGE = 0
ZERO_PFN = 1
KSM_PFN = 2

# Primary PTE protection.
PTE_NONE = 0  # pte_none(), or cleared under the PTL while a new entry is prepared
PTE_RO = 1
PTE_RW = 2
PTE_SWAP = 3  # a swap entry: the contents are in the swap slot

# Page flags (struct page / folio flags that matter here).
PG_KSM = 1  # PageKsm(): a stable KSM page
PG_LOCKED = 2  # PG_locked: lock_page()/trylock_page()

# Fixed fields of every thread block.
PC = 0

# vCPU block.
V_DONE, V_GFN, V_WRITE, V_SNAP, V_PFN, V_PFN_W, V_NEW, V_OLD = range(1, 9)
VCPU_FIELDS = ("pc", "done", "gfn", "write", "mmu_seq", "pfn", "writable", "new_page", "old_page")

# ksmd block.
K_TARGET, K_PAGE, K_KPAGE, K_ORIG_PFN, K_ORIG_PROT = range(1, 6)
KSMD_FIELDS = ("pc", "target", "page", "kpage", "orig_pfn", "orig_prot")

# madvise(MADV_DONTNEED) block.
Z_TARGET, Z_PAGE = range(1, 3)
ZAP_FIELDS = ("pc", "target", "page")

# reclaim / aging block.
R_TARGET, R_PAGE = range(1, 3)
RECLAIM_FIELDS = ("pc", "target", "page")

THREAD_FIELDS = {"vcpu": VCPU_FIELDS, "ksmd": KSMD_FIELDS, "madvise": ZAP_FIELDS, "kswapd": RECLAIM_FIELDS}


@dataclass(frozen=True)
class Thread:
    index: int
    name: str
    kind: str
    base: int


class Layout:
    """Byte offsets of every field for one scenario."""

    def __init__(self, scenario: Scenario) -> None:
        self.names: list[str] = []
        self.gfns = scenario.gfns
        self.track_young = bool(scenario.aging)
        self.track_swap = scenario.reclaim
        self.first_pool_pfn = KSM_PFN + 1 if scenario.stable_page else KSM_PFN
        # Enough frames for every gfn's page, each vCPU's COW copy and GUP'd page,
        # plus pages on their way to being freed; allocation fails loudly if not.
        self.frames = self.first_pool_pfn + scenario.gfns + 2 * scenario.vcpus + 2

        self.SEQ = self._add("mmu_notifier_seq")
        self.COUNT = self._add("mmu_notifier_count")
        self.PTL = self._add("ptl")
        self.SPT_TABLE = self._add("spt_table")
        self.PTE_PFN = tuple(self._add(f"pte[{g}].pfn") for g in range(self.gfns))
        self.PTE_PROT = tuple(self._add(f"pte[{g}].prot") for g in range(self.gfns))
        self.SPTE_PFN = tuple(self._add(f"spte[{g}].pfn") for g in range(self.gfns))
        self.SPTE_W = tuple(self._add(f"spte[{g}].w") for g in range(self.gfns))
        if self.track_young:
            self.PTE_YOUNG = tuple(self._add(f"pte[{g}].young") for g in range(self.gfns))
            self.SPTE_YOUNG = tuple(self._add(f"spte[{g}].young") for g in range(self.gfns))
        else:
            self.PTE_YOUNG = self.SPTE_YOUNG = ()
        self.REF = self._frame_fields("ref")
        self.MAP = self._frame_fields("mapcount")
        self.FLAGS = self._frame_fields("flags")
        # Data values, kept together so that a change to any of them is one slice compare.
        self.VALUES_START = len(self.names)
        self.EXPECT = tuple(self._add(f"expect[{g}]") for g in range(self.gfns))
        self.SWAP_VAL = tuple(self._add(f"swap[{g}]") for g in range(self.gfns)) if self.track_swap else ()
        self.VAL = self._frame_fields("val")
        self.LAST_WRITTEN = self._add("last_written")
        self.VALUES_END = len(self.names)

        self.threads: list[Thread] = []
        for v in range(scenario.vcpus):
            self._thread(f"vcpu{v}", "vcpu")
        if scenario.merge:
            self._thread("ksmd", "ksmd")
        if scenario.zap:
            self._thread("madvise", "madvise")
        if scenario.aging:
            self._thread("kswapd", "kswapd")
        self.size = len(self.names)

    def _add(self, name: str) -> int:
        self.names.append(name)
        return len(self.names) - 1

    def _frame_fields(self, what: str) -> tuple[int, ...]:
        # Index 0 (NOPAGE) maps to a dummy slot so that REF[pfn] never needs a test.
        first = len(self.names)
        for f in range(self.frames):
            self._add(f"{page_name(f)}.{what}")
        return tuple(range(first, first + self.frames))

    def _thread(self, name: str, kind: str) -> None:
        base = len(self.names)
        for field in THREAD_FIELDS[kind]:
            self._add(f"{name}.{field}")
        self.threads.append(Thread(len(self.threads), name, kind, base))

    def vcpus(self) -> list[Thread]:
        return [t for t in self.threads if t.kind == "vcpu"]


def page_name(pfn: int) -> str:
    if pfn == NOPAGE:
        return "-"
    if pfn == ZERO_PFN:
        return "Z"
    return f"P{pfn}"


PROT_NAMES = {PTE_NONE: "none", PTE_RO: "ro", PTE_RW: "rw", PTE_SWAP: "swap"}
