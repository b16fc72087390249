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
from mmuspec.model.schema import SHARED, Field
from mmuspec.model.schema import gmem_thread as schema_gmem_thread

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

# ksmd block; K_TREE (the unstable tree's page) follows when ksmd merges two pages, and the
# count of full scans done (``Layout.K_SEQNR``) when it makes more than one.
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
        self.name = name
        super().__init__(f"the state has no field {name} in this scenario (it models nothing that needs it), "
                         "yet a step reads or writes it")

    def __reduce__(self) -> tuple[type[AbsentField], tuple[str]]:
        return (AbsentField, (self.name,))


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
    """Byte offsets of every field for one scenario: the shared fields as ``schema.SHARED``
    declares them, then one block per thread."""

    # The shared fields' offsets (``schema.SHARED``; a test keeps the two lists equal).
    SEQ: int
    COUNT: int
    PTL: int
    SPT_TABLE: int
    PTE_PFN: tuple[int, ...]
    PTE_PROT: tuple[int, ...]
    SPTE_PFN: tuple[int, ...]
    SPTE_W: tuple[int, ...]
    RANGE_START: int
    RANGE_END: int
    RANGE_ADDED: int
    SLOT: int
    MN_ACTIVE: int
    ATTR: tuple[int, ...]
    SPTE_ATTR: tuple[int, ...]
    ATTR_PENDING: int
    MMAP_LOCK: int
    TLBS_DIRTY: int
    PTE_YOUNG: tuple[int, ...]
    SPTE_YOUNG: tuple[int, ...]
    ITREE_SEQ: int
    ITREE_ACTIVE: int
    ITREE_LOCK: int
    DEV_SUB: tuple[int, ...]
    DEV_SEQ: tuple[int, ...]
    DEV_MUTEX: tuple[int, ...]
    DEV_PTE_PFN: tuple[int, ...]
    DEV_PTE_W: tuple[int, ...]
    GPC_VALID: int
    GPC_PFN: int
    GMEM_LOCK: int
    GMEM_BOUND: int
    GMEM_SLOT: int
    GMEM_FILE: int
    GMEM_UPTE: tuple[int, ...]
    REF: tuple[int, ...]
    MAP: tuple[int, ...]
    FLAGS: tuple[int, ...]
    EXPECT: tuple[int, ...]
    SWAP_VAL: tuple[int, ...]
    VAL: tuple[int, ...]
    LAST_WRITTEN: int
    LRU_ADD: tuple[int, ...]

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

        # What the scenario has, for the steps to ask; the shared fields are declared in
        # ``schema.SHARED``, each with the condition under which it exists.
        self.track_ranges = scenario.ranges
        self.track_slot = scenario.memslots
        self.track_pfncache = scenario.pfncache
        self.track_attrs = scenario.attributes
        self.track_mmap = bool(scenario.remap)
        self.track_tlb = scenario.tlb
        self.devices = scenario.device_threads
        self.track_itree = self.devices > 0
        self.track_itree_lock = self.track_itree and scenario.device_remove
        self.track_gmem = scenario.gmem
        self.track_lru_add = bool(scenario.lru_add)
        # Where a notifier call takes several steps, the notifying threads count them.
        self.track_mn = self.track_itree or self.track_pfncache
        self.groups: dict[str, tuple[int, ...]] = {}
        value_fields: list[int] = []
        data: list[int] = []
        for declared in SHARED:
            offsets = self._declare(declared, scenario)
            self.groups[declared.group] = self.groups.get(declared.group, ()) + offsets
            if declared.role == "value":
                # Frame 0 ("no page") is a dummy slot, never a page's contents.
                value_fields += offsets[1:] if declared.shape == "frame" else offsets
            if declared.role in ("value", "last_value"):
                data += offsets
        # The data values, together, so that a change to any of them is one slice compare.
        self.VALUES_START, self.VALUES_END = data[0], data[-1] + 1
        assert data == list(range(self.VALUES_START, self.VALUES_END)), "schema: the data values must be adjacent"
        self.value_fields = tuple(value_fields)

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
        self.K_SEQNR = absent("K_SEQNR")
        if scenario.merge:
            ksmd = KSMD_FIELDS + (() if scenario.stable_page else ("tree_page",))
            if scenario.ksm_scans > 1:
                self.K_SEQNR = len(ksmd)
                ksmd += ("seqnr",)
            self._thread("ksmd", "ksmd", ksmd + mn)
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
        if schema_gmem_thread(scenario):
            self._thread("fallocate" if scenario.gmem_punch_hole else "gmem_release", "gmem")
        if scenario.gmem_slot != "none":
            self._thread("gmem_memslot", "gmem_slot")
        if scenario.gmem_host_accesses:
            self._thread("vmm", "gmem_user")
        self.size = len(self.names)

    def _declare(self, declared: Field, scenario: Scenario) -> tuple[int, ...]:
        """Lay out the field ``declared`` (or mark it absent) and return its offsets."""
        shape = declared.shape
        if shape == "one":
            names = [declared.name]
        elif shape == "gfn":
            names = [declared.name.format(g=g) for g in range(self.gfns)]
        elif shape == "frame":
            names = [declared.name.format(page=page_name(f)) for f in range(self.frames)]
        elif shape == "device":
            names = [declared.name.format(d=d) for d in range(self.devices)]
        else:
            names = [declared.name.format(d=d, g=g) for d in range(self.devices) for g in range(self.gfns)]
        if not declared.present(scenario) or not names:
            setattr(self, declared.attr, absent(declared.attr) if shape == "one" else absent_tuple(declared.attr))
            return ()
        offsets = tuple(self._add(name) for name in names)
        setattr(self, declared.attr, offsets[0] if shape == "one" else offsets)
        return offsets

    def _add(self, name: str) -> int:
        self.names.append(name)
        return len(self.names) - 1

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
