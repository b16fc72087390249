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

# Memslot states (``Layout.SLOT``), when the scenario makes the memslot come or go.
SLOT_ABSENT, SLOT_VALID, SLOT_INVALID = range(3)

# The end of an invalidation range that blocks every address (``0 ... ALL_ONES``).
ALL_ONES = 255

# Fixed fields of every thread block.
PC = 0

# vCPU block (a host accessor thread has the same fields: it faults the same way, on the
# primary PTE instead of the SPTE).  V_ATTR and the per-vCPU TLB follow when the scenario
# asks for them (``Layout.V_ATTR``, ``Layout.V_TLB_PFN``).
V_DONE, V_GFN, V_WRITE, V_SNAP, V_PFN, V_PFN_W, V_NEW, V_OLD = range(1, 9)
VCPU_FIELDS = ("pc", "done", "gfn", "write", "mmu_seq", "pfn", "writable", "new_page", "old_page")

# ksmd block; K_TREE (the unstable tree's page) follows when ksmd merges two pages.
K_TARGET, K_PAGE, K_KPAGE, K_ORIG_PFN, K_ORIG_PROT, K_TREE = range(1, 7)
KSMD_FIELDS = ("pc", "target", "page", "kpage", "orig_pfn", "orig_prot")

# madvise(MADV_DONTNEED) block.
Z_TARGET, Z_PAGE = range(1, 3)
ZAP_FIELDS = ("pc", "target", "page")

# reclaim / aging block.
R_TARGET, R_PAGE = range(1, 3)
RECLAIM_FIELDS = ("pc", "target", "page")

# Threads that walk a list of gfns and hold at most one page: the OOM reaper, munmap+mmap,
# kvm_zap_gfn_range(), the shadow-paging sync_page path, the memslot updater.
T_TARGET, T_PAGE = range(1, 3)
TARGET_FIELDS = ("pc", "target", "page")

THREAD_FIELDS = {
    "vcpu": VCPU_FIELDS, "accessor": VCPU_FIELDS, "ksmd": KSMD_FIELDS, "madvise": ZAP_FIELDS,
    "kswapd": RECLAIM_FIELDS, "oom_reaper": TARGET_FIELDS, "munmap": TARGET_FIELDS,
    "kvm_zap": TARGET_FIELDS, "kvm_sync": TARGET_FIELDS, "memslot": TARGET_FIELDS,
}
HOST_KINDS = frozenset(THREAD_FIELDS) - {"vcpu"}


@dataclass(frozen=True)
class Thread:
    index: int
    name: str
    kind: str
    base: int
    fields: tuple[str, ...] = ()


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
        self.frames = self.first_pool_pfn + scenario.gfns + 2 * (scenario.vcpus + scenario.accessors) + 2

        self.SEQ = self._add("mmu_notifier_seq")
        self.COUNT = self._add("mmu_notifier_count")
        self.PTL = self._add("ptl")
        self.SPT_TABLE = self._add("spt_table")
        self.PTE_PFN = tuple(self._add(f"pte[{g}].pfn") for g in range(self.gfns))
        self.PTE_PROT = tuple(self._add(f"pte[{g}].prot") for g in range(self.gfns))
        self.SPTE_PFN = tuple(self._add(f"spte[{g}].pfn") for g in range(self.gfns))
        self.SPTE_W = tuple(self._add(f"spte[{g}].w") for g in range(self.gfns))
        # Opt-in fields: each exists only in scenarios that can observe it.
        self.track_ranges = scenario.ranges
        self.RANGE_START = self._add("mmu_notifier_range_start") if self.track_ranges else -1
        self.RANGE_END = self._add("mmu_notifier_range_end") if self.track_ranges else -1
        self.track_slot = scenario.memslots
        self.SLOT = self._add("memslot") if self.track_slot else -1
        self.MN_ACTIVE = self._add("mn_active_invalidate_count") if self.track_slot else -1
        self.track_attrs = scenario.attributes
        if self.track_attrs:
            self.ATTR = tuple(self._add(f"attr[{g}]") for g in range(self.gfns))
            self.SPTE_ATTR = tuple(self._add(f"spte[{g}].attr") for g in range(self.gfns))
            self.ATTR_PENDING = self._add("attr_change_in_progress")
        else:
            self.ATTR = self.SPTE_ATTR = ()
            self.ATTR_PENDING = -1
        self.track_mmap = bool(scenario.remap)
        self.MMAP_LOCK = self._add("mmap_lock") if self.track_mmap else -1
        self.track_tlb = scenario.tlb
        self.TLBS_DIRTY = self._add("tlbs_dirty") if scenario.sync_page else -1
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

        # vCPU fields past VCPU_FIELDS, as offsets in the block.
        vcpu_extra: list[str] = []
        self.V_ATTR = -1
        if self.track_attrs:
            self.V_ATTR = len(VCPU_FIELDS) + len(vcpu_extra)
            vcpu_extra.append("attr")
        self.V_TLB_PFN: tuple[int, ...] = ()
        self.V_TLB_W: tuple[int, ...] = ()
        if self.track_tlb:
            first = len(VCPU_FIELDS) + len(vcpu_extra)
            self.V_TLB_PFN = tuple(first + g for g in range(self.gfns))
            self.V_TLB_W = tuple(first + self.gfns + g for g in range(self.gfns))
            vcpu_extra += [f"tlb[{g}].pfn" for g in range(self.gfns)] + [f"tlb[{g}].w" for g in range(self.gfns)]
        self.vcpu_fields = VCPU_FIELDS + tuple(vcpu_extra)

        self.threads: list[Thread] = []
        for v in range(scenario.vcpus):
            self._thread(f"vcpu{v}", "vcpu", self.vcpu_fields)
        for a in range(scenario.accessors):
            self._thread(f"qemu{a}", "accessor")
        if scenario.merge:
            unstable = not scenario.stable_page
            self._thread("ksmd", "ksmd", KSMD_FIELDS + (("tree_page",) if unstable else ()))
        if scenario.zap:
            self._thread("madvise", "madvise")
        if scenario.aging:
            self._thread("kswapd", "kswapd")
        if scenario.remap:
            self._thread("munmap", "munmap")
        if scenario.oom_reap:
            self._thread("oom_reaper", "oom_reaper")
        if scenario.zap_gfn_range:
            self._thread("kvm_zap", "kvm_zap")
        if scenario.sync_page:
            self._thread("kvm_sync", "kvm_sync")
        if scenario.memslot_change != "none":
            self._thread("memslot", "memslot")
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

    def _thread(self, name: str, kind: str, fields: tuple[str, ...] | None = None) -> None:
        base = len(self.names)
        fields = fields or THREAD_FIELDS[kind]
        for field in fields:
            self._add(f"{name}.{field}")
        self.threads.append(Thread(len(self.threads), name, kind, base, fields))

    def vcpus(self) -> list[Thread]:
        return [t for t in self.threads if t.kind == "vcpu"]


def page_name(pfn: int) -> str:
    if pfn == NOPAGE:
        return "-"
    if pfn == ZERO_PFN:
        return "Z"
    return f"P{pfn}"


PROT_NAMES = {PTE_NONE: "none", PTE_RO: "ro", PTE_RW: "rw", PTE_SWAP: "swap"}
