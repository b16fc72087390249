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
from typing import Any, cast

from mmuspec.errors import ModelError
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

# A device mirror (lib/test_hmm.c's dmirror) and a pfn cache's user fault pages in the way a
# vCPU does (hmm_range_fault(), hva_to_pfn()), through the same COW steps, so their blocks
# have the vCPU's fields; ``notifier_seq`` is the device's mmu_interval_read_begin() value.
DEVICE_FIELDS = ("pc", "done", "gfn", "write", "notifier_seq", "pfn", "writable", "new_page", "old_page")
GPC_FIELDS = VCPU_FIELDS
# guest_memfd (``gmem.py``): the thread that punches holes in the file or closes it (the
# folio it is truncating, and whether a host PTE mapped it), the memslot thread that
# deletes or creates the gmem-only slot and its binding, and host userspace accessing the
# file through its mmap (v6.18).
GMEM_FIELDS = ("pc", "target", "page", "mapped")
G_MAPPED = 3
GMEM_SLOT_FIELDS = ("pc",)
GMEM_USER_FIELDS = ("pc", "done", "gfn", "write")

THREAD_FIELDS = {
    "vcpu": VCPU_FIELDS, "accessor": VCPU_FIELDS, "ksmd": KSMD_FIELDS, "madvise": ZAP_FIELDS,
    "kswapd": RECLAIM_FIELDS, "oom_reaper": TARGET_FIELDS, "munmap": TARGET_FIELDS,
    "kvm_zap": TARGET_FIELDS, "kvm_sync": TARGET_FIELDS, "memslot": TARGET_FIELDS,
    "dmirror": DEVICE_FIELDS, "gpc": GPC_FIELDS,
    "gmem": GMEM_FIELDS, "gmem_slot": GMEM_SLOT_FIELDS, "gmem_user": GMEM_USER_FIELDS,
}
HOST_KINDS = frozenset(THREAD_FIELDS) - {"vcpu"}
# Threads whose steps call the notifier chain's range start and end (through a COW break,
# a KSM merge, a zap or reclaim).  Where those calls take several steps, each of these
# threads keeps in one more field (``mn``) how far its current call has got.
NOTIFYING_KINDS = frozenset({"vcpu", "accessor", "ksmd", "madvise", "kswapd", "oom_reaper", "munmap",
                             "dmirror", "gpc"})

# An mmu_interval_notifier subscription (``Layout.DEV_SUB``): not inserted yet, in the
# interval tree, on the deferred list to be inserted or removed at the last
# mn_itree_inv_end(), removed; SUB_FREED is or-ed in once the driver freed it.
SUB_NONE, SUB_TREE, SUB_DEFER_INSERT, SUB_DEFER_REMOVE, SUB_REMOVED = range(5)
SUB_FREED = 8
SUB_NAMES = {SUB_NONE: "not inserted", SUB_TREE: "in the tree", SUB_DEFER_INSERT: "deferred insert",
             SUB_DEFER_REMOVE: "deferred remove", SUB_REMOVED: "removed"}


# What the compiled core holds for an absent field's offset: below 0, as -1 was (``L.X >= 0``
# asks whether a field exists), and far enough below that no offset arithmetic reaches a state.
ABSENT = -(1 << 20)


class AbsentField(ModelError):
    """A step read or wrote a field that this scenario's state does not have."""

    def __init__(self, name: str) -> None:
        super().__init__(f"the state has no field {name} in this scenario (it models nothing that needs it), "
                         "yet a step reads or writes it")


class Absent:
    """The offset of a field a scenario leaves out.  It compares as -1, so ``L.X >= 0`` still
    asks whether the field exists, but using it as an offset (``s[L.X]``, ``s[b + L.V_ATTR]``)
    raises ``AbsentField`` where a -1 read the state's last byte.  The compiled core packs
    it as ``ABSENT``, whose reads and writes stop the core, and the interpreter then raises."""

    __slots__ = ("name",)
    absent_field = True

    def __init__(self, name: str) -> None:
        self.name = name

    def __index__(self) -> int:
        raise AbsentField(self.name)

    def __int__(self) -> int:
        return ABSENT

    def _refuse(self, other: Any) -> Any:
        raise AbsentField(self.name)

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Absent) or other == -1

    def __hash__(self) -> int:
        return hash(-1)

    def __lt__(self, other: int) -> bool:
        return other > -1

    def __le__(self, other: int) -> bool:
        return other >= -1

    def __gt__(self, other: int) -> bool:
        return other < -1

    def __ge__(self, other: int) -> bool:
        return other <= -1

    def __repr__(self) -> str:
        return f"absent({self.name!r})"


class AbsentTuple(tuple):  # type: ignore[type-arg]
    """The per-gfn (or per-device) offsets of fields a scenario leaves out: empty, and an
    index into it raises ``AbsentField`` rather than IndexError."""

    absent_name = ""

    def __getitem__(self, index: Any) -> Any:
        raise AbsentField(f"{self.absent_name}[{index}]")


def absent(name: str) -> int:
    """The offset of a field this scenario does not have (see ``Absent``)."""
    return cast(int, Absent(name))


def absent_tuple(name: str) -> tuple[int, ...]:
    found = AbsentTuple()
    found.absent_name = name
    return found


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
        faulting = scenario.vcpus + scenario.accessors + scenario.device_threads + int(scenario.pfncache) \
            + int(scenario.gmem_host_accesses > 0)
        self.frames = self.first_pool_pfn + scenario.gfns + 2 * faulting + 2

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
        self.RANGE_START = self._add("mmu_notifier_range_start") if self.track_ranges else absent("RANGE_START")
        self.RANGE_END = self._add("mmu_notifier_range_end") if self.track_ranges else absent("RANGE_END")
        self.track_slot = scenario.memslots
        # Without range fields, whether kvm_mmu_invalidate_range_add() ran since begin() (v6.8):
        # only where a begin() can miss it (an invalidation that hits no memslot).
        self.RANGE_ADDED = self._add("mmu_invalidate_range_added") if self.track_slot and not self.track_ranges \
            else absent("RANGE_ADDED")
        self.SLOT = self._add("memslot") if self.track_slot else absent("SLOT")
        self.track_pfncache = scenario.pfncache
        self.MN_ACTIVE = self._add("mn_active_invalidate_count") if self.track_slot or self.track_pfncache else absent("MN_ACTIVE")
        self.track_attrs = scenario.attributes
        if self.track_attrs:
            self.ATTR = tuple(self._add(f"attr[{g}]") for g in range(self.gfns))
            self.SPTE_ATTR = tuple(self._add(f"spte[{g}].attr") for g in range(self.gfns))
            self.ATTR_PENDING = self._add("attr_change_in_progress")
        else:
            self.ATTR, self.SPTE_ATTR = absent_tuple("ATTR"), absent_tuple("SPTE_ATTR")
            self.ATTR_PENDING = absent("ATTR_PENDING")
        self.track_mmap = bool(scenario.remap)
        self.MMAP_LOCK = self._add("mmap_lock") if self.track_mmap else absent("MMAP_LOCK")
        self.track_tlb = scenario.tlb
        self.TLBS_DIRTY = self._add("tlbs_dirty") if scenario.sync_page else absent("TLBS_DIRTY")
        if self.track_young:
            self.PTE_YOUNG = tuple(self._add(f"pte[{g}].young") for g in range(self.gfns))
            self.SPTE_YOUNG = tuple(self._add(f"spte[{g}].young") for g in range(self.gfns))
        else:
            self.PTE_YOUNG, self.SPTE_YOUNG = absent_tuple("PTE_YOUNG"), absent_tuple("SPTE_YOUNG")
        # The interval tree of mmu_interval_notifier subscriptions (mm/mmu_notifier.c), one
        # subscription and one device page table per device; subscriptions->lock only where
        # a subscription is removed (its lockless wait can see the end of an invalidation
        # half done).
        self.devices = scenario.device_threads
        self.track_itree = self.devices > 0
        if self.track_itree:
            self.ITREE_SEQ = self._add("subscriptions.invalidate_seq")
            self.ITREE_ACTIVE = self._add("subscriptions.active_invalidate_ranges")
            self.track_itree_lock = scenario.device_remove
            self.ITREE_LOCK = self._add("subscriptions.lock") if self.track_itree_lock else absent("ITREE_LOCK")
            self.DEV_SUB = tuple(self._add(f"dmirror{d}.notifier.state") for d in range(self.devices))
            self.DEV_SEQ = tuple(self._add(f"dmirror{d}.notifier.invalidate_seq") for d in range(self.devices))
            self.DEV_MUTEX = tuple(self._add(f"dmirror{d}.mutex") for d in range(self.devices))
            # Device d's entry for gfn g is at [d * gfns + g].
            self.DEV_PTE_PFN = tuple(self._add(f"dmirror{d}.pt[{g}].pfn")
                                     for d in range(self.devices) for g in range(self.gfns))
            self.DEV_PTE_W = tuple(self._add(f"dmirror{d}.pt[{g}].w")
                                   for d in range(self.devices) for g in range(self.gfns))
        else:
            self.ITREE_SEQ, self.ITREE_ACTIVE = absent("ITREE_SEQ"), absent("ITREE_ACTIVE")
            self.ITREE_LOCK = absent("ITREE_LOCK")
            self.track_itree_lock = False
            self.DEV_SUB, self.DEV_SEQ = absent_tuple("DEV_SUB"), absent_tuple("DEV_SEQ")
            self.DEV_MUTEX = absent_tuple("DEV_MUTEX")
            self.DEV_PTE_PFN, self.DEV_PTE_W = absent_tuple("DEV_PTE_PFN"), absent_tuple("DEV_PTE_W")
        # A gfn_to_pfn_cache (virt/kvm/pfncache.c): valid, and the pfn it maps.
        self.GPC_VALID = self._add("gpc.valid") if self.track_pfncache else absent("GPC_VALID")
        self.GPC_PFN = self._add("gpc.pfn") if self.track_pfncache else absent("GPC_PFN")
        # guest_memfd (virt/kvm/guest_memfd.c): the file backs every gfn, and its page cache
        # takes the place of the primary PTEs (``pte[g]`` is the file's folio at index g).
        # The rest exists only where a thread can change it: filemap_invalidate_lock, the
        # binding of the memslot in gmem->bindings and the memslot itself, slot->gmem.file,
        # and the host userspace PTE of each gfn's folio in the mmap of the file.
        self.track_gmem = scenario.gmem
        gmem_thread = bool(scenario.gmem_punch_hole or scenario.gmem_release)
        slot_changes = scenario.gmem_slot != "none"
        self.GMEM_LOCK = self._add("filemap_invalidate_lock") if gmem_thread else absent("GMEM_LOCK")
        self.GMEM_BOUND = self._add("gmem.bindings") if slot_changes else absent("GMEM_BOUND")
        self.GMEM_SLOT = self._add("gmem.memslot") if slot_changes else absent("GMEM_SLOT")
        self.GMEM_FILE = self._add("slot.gmem.file") if scenario.gmem_release else absent("GMEM_FILE")
        self.GMEM_UPTE = tuple(self._add(f"gmem_mmap.pte[{g}]") for g in range(self.gfns)) \
            if scenario.gmem_mmap else absent_tuple("GMEM_UPTE")
        # Where a notifier call takes several steps, the notifying threads count them.
        self.track_mn = self.track_itree or self.track_pfncache
        self.REF = self._frame_fields("ref")
        self.MAP = self._frame_fields("mapcount")
        self.FLAGS = self._frame_fields("flags")
        # Data values, kept together so that a change to any of them is one slice compare.
        self.VALUES_START = len(self.names)
        self.EXPECT = tuple(self._add(f"expect[{g}]") for g in range(self.gfns))
        self.SWAP_VAL = tuple(self._add(f"swap[{g}]") for g in range(self.gfns)) if self.track_swap else absent_tuple("SWAP_VAL")
        self.VAL = self._frame_fields("val")
        self.LAST_WRITTEN = self._add("last_written")
        self.VALUES_END = len(self.names)

        # vCPU fields past VCPU_FIELDS, as offsets in the block.
        vcpu_extra: list[str] = []
        self.V_ATTR = absent("V_ATTR")
        if self.track_attrs:
            self.V_ATTR = len(VCPU_FIELDS) + len(vcpu_extra)
            vcpu_extra.append("attr")
        self.V_TLB_PFN: tuple[int, ...] = absent_tuple("V_TLB_PFN")
        self.V_TLB_W: tuple[int, ...] = absent_tuple("V_TLB_W")
        if self.track_tlb:
            first = len(VCPU_FIELDS) + len(vcpu_extra)
            self.V_TLB_PFN = tuple(first + g for g in range(self.gfns))
            self.V_TLB_W = tuple(first + self.gfns + g for g in range(self.gfns))
            vcpu_extra += [f"tlb[{g}].pfn" for g in range(self.gfns)] + [f"tlb[{g}].w" for g in range(self.gfns)]
        mn = ("mn",) if self.track_mn else ()
        self.vcpu_fields = VCPU_FIELDS + tuple(vcpu_extra) + mn

        self.threads: list[Thread] = []
        for v in range(scenario.vcpus):
            self._thread(f"vcpu{v}", "vcpu", self.vcpu_fields)
        for a in range(scenario.accessors):
            self._thread(f"qemu{a}", "accessor", VCPU_FIELDS + mn)
        for d in range(self.devices):
            self._thread(f"dmirror{d}", "dmirror", DEVICE_FIELDS + mn)
        if self.track_pfncache:
            self._thread("gpc_user", "gpc", GPC_FIELDS + mn)
        if scenario.merge:
            unstable = not scenario.stable_page
            self._thread("ksmd", "ksmd", KSMD_FIELDS + (("tree_page",) if unstable else ()) + mn)
        if scenario.zap:
            self._thread("madvise", "madvise", ZAP_FIELDS + mn)
        if scenario.aging:
            self._thread("kswapd", "kswapd", RECLAIM_FIELDS + mn)
        if scenario.remap:
            self._thread("munmap", "munmap", TARGET_FIELDS + mn)
        if scenario.oom_reap:
            self._thread("oom_reaper", "oom_reaper", TARGET_FIELDS + mn)
        if scenario.zap_gfn_range:
            self._thread("kvm_zap", "kvm_zap")
        if scenario.sync_page:
            self._thread("kvm_sync", "kvm_sync")
        if scenario.memslot_change != "none":
            self._thread("memslot", "memslot")
        if gmem_thread:
            self._thread("fallocate" if scenario.gmem_punch_hole else "gmem_release", "gmem")
        if slot_changes:
            self._thread("gmem_memslot", "gmem_slot")
        if scenario.gmem_host_accesses:
            self._thread("vmm", "gmem_user")
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

    def mn_fields(self) -> list[int]:
        """Each thread's ``mn`` field (see NOTIFYING_KINDS), or an absent one."""
        return [t.base + t.fields.index("mn") if "mn" in t.fields else absent(f"{t.name}.mn") for t in self.threads]


def page_name(pfn: int) -> str:
    if pfn == NOPAGE:
        return "-"
    if pfn == ZERO_PFN:
        return "Z"
    return f"P{pfn}"


PROT_NAMES = {PTE_NONE: "none", PTE_RO: "ro", PTE_RW: "rw", PTE_SWAP: "swap"}
