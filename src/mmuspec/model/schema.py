"""The shared part of a state, declared once: every field outside the threads' blocks, in
the order it is laid out, with its shape, the values it holds, its footprint group and its
role in the quotients.

``Layout`` gives each present field its offsets (``L.SEQ``, ``L.SPTE_PFN[gfn]``) from this
table, and an absent one an offset that raises when used; ``footprints.group_fields`` and
the value quotient of ``symmetry.py`` read their fields from it; the compiled core gets the
offsets from the layout (``native/build.py`` packs what the translator reads of ``k.L``).
A new shared field is one row here: give it a group (``footprints.GROUPS``) and, where the
scenario may lack it, the condition under which it exists.  Appending rows keeps the
offsets of every other field, and so the state counts the tests pin; a row in the middle
moves the fields after it (same counts, other fingerprints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmuspec.model.scenario import Scenario

# Shapes: one byte, one per gfn, one per page frame (frame 0, "no page", is a dummy slot),
# one per device, one per device and gfn (device d's entry for gfn g at [d * gfns + g]).
SHAPES = ("one", "gfn", "frame", "device", "device_gfn")
# What a field holds: a flag, a small count, a page frame number, a PTE protection
# (``layout.PTE_*``), a data value the guest wrote, a sequence number, or a small enum
# (a memslot's or a subscription's state).
KINDS = ("bool", "count", "pfn", "prot", "value", "seq", "enum", "pc", "gfn")
# Roles in the quotients (``symmetry.py``): the notifier sequence, whose value only matters
# relative to the vCPUs' snapshots; a data value, renamed in order of first appearance; the
# last value written, set to the largest name.  Fields with no role keep their values.
ROLES = ("", "seq", "value", "last_value", "snapshot")


@dataclass(frozen=True)
class Field:
    attr: str  # the Layout attribute (``L.SEQ``)
    name: str  # its name in traces: ``{g}`` is the gfn, ``{d}`` the device, ``{page}`` the frame
    shape: str
    kind: str
    group: str  # footprints.GROUPS
    role: str = ""
    when: Callable[[Scenario], bool] | None = None  # present only where this holds
    why: str = ""  # what it models, where that is not its kernel name

    def present(self, scenario: Scenario) -> bool:
        return self.when is None or self.when(scenario)


def gmem_thread(sc: Scenario) -> bool:
    """Whether a thread punches holes in the guest_memfd file or closes it."""
    return bool(sc.gmem_punch_hole or sc.gmem_release)


SHARED: tuple[Field, ...] = (
    Field("SEQ", "mmu_notifier_seq", "one", "seq", "seq", role="seq"),
    Field("COUNT", "mmu_notifier_count", "one", "count", "count"),
    Field("PTL", "ptl", "one", "bool", "ptl"),
    Field("SPT_TABLE", "spt_table", "one", "bool", "spt_table", why="the last-level table of the SPTEs exists"),
    Field("PTE_PFN", "pte[{g}].pfn", "gfn", "pfn", "pte"),
    Field("PTE_PROT", "pte[{g}].prot", "gfn", "prot", "pte"),
    Field("SPTE_PFN", "spte[{g}].pfn", "gfn", "pfn", "spte"),
    Field("SPTE_W", "spte[{g}].w", "gfn", "bool", "spte"),
    Field("RANGE_START", "mmu_notifier_range_start", "one", "count", "count", when=lambda sc: bool(sc.ranges)),
    Field("RANGE_END", "mmu_notifier_range_end", "one", "count", "count", when=lambda sc: bool(sc.ranges)),
    # Without range fields, whether kvm_mmu_invalidate_range_add() ran since begin() (v6.8):
    # only where a begin() can miss it (an invalidation that hits no memslot, or a guest_memfd
    # invalidation that finds no binding).
    Field("RANGE_ADDED", "mmu_invalidate_range_added", "one", "bool", "count",
          when=lambda sc: bool((sc.memslots or sc.gmem_slot != "none") and not sc.ranges)),
    Field("SLOT", "memslot", "one", "enum", "slot", when=lambda sc: bool(sc.memslots)),
    Field("MN_ACTIVE", "mn_active_invalidate_count", "one", "count", "count",
          when=lambda sc: bool(sc.memslots or sc.pfncache)),
    Field("ATTR", "attr[{g}]", "gfn", "count", "attr", when=lambda sc: bool(sc.attributes)),
    Field("SPTE_ATTR", "spte[{g}].attr", "gfn", "count", "spte", when=lambda sc: bool(sc.attributes)),
    Field("ATTR_PENDING", "attr_change_in_progress", "one", "count", "attr", when=lambda sc: bool(sc.attributes)),
    Field("MMAP_LOCK", "mmap_lock", "one", "bool", "mmap", when=lambda sc: bool(sc.remap)),
    Field("TLBS_DIRTY", "tlbs_dirty", "one", "count", "tlb", when=lambda sc: bool(sc.sync_page)),
    Field("PTE_YOUNG", "pte[{g}].young", "gfn", "bool", "pte", when=lambda sc: bool(sc.aging)),
    Field("SPTE_YOUNG", "spte[{g}].young", "gfn", "bool", "spte", when=lambda sc: bool(sc.aging)),
    # The interval tree of mmu_interval_notifier subscriptions (mm/mmu_notifier.c), one
    # subscription and one device page table per device; subscriptions->lock only where a
    # subscription is removed (its lockless wait can see the end of an invalidation half done).
    Field("ITREE_SEQ", "subscriptions.invalidate_seq", "one", "count", "itree",
          when=lambda sc: sc.device_threads > 0),
    Field("ITREE_ACTIVE", "subscriptions.active_invalidate_ranges", "one", "count", "itree",
          when=lambda sc: sc.device_threads > 0),
    Field("ITREE_LOCK", "subscriptions.lock", "one", "bool", "itree",
          when=lambda sc: bool(sc.device_threads > 0 and sc.device_remove)),
    Field("DEV_SUB", "dmirror{d}.notifier.state", "device", "enum", "itree"),
    Field("DEV_SEQ", "dmirror{d}.notifier.invalidate_seq", "device", "count", "itree"),
    Field("DEV_MUTEX", "dmirror{d}.mutex", "device", "bool", "dev"),
    Field("DEV_PTE_PFN", "dmirror{d}.pt[{g}].pfn", "device_gfn", "pfn", "dev"),
    Field("DEV_PTE_W", "dmirror{d}.pt[{g}].w", "device_gfn", "bool", "dev"),
    # A gfn_to_pfn_cache (virt/kvm/pfncache.c): valid, and the pfn it maps.
    Field("GPC_VALID", "gpc.valid", "one", "bool", "gpc", when=lambda sc: bool(sc.pfncache)),
    Field("GPC_PFN", "gpc.pfn", "one", "pfn", "gpc", when=lambda sc: bool(sc.pfncache)),
    # guest_memfd (virt/kvm/guest_memfd.c): the file backs every gfn, and its page cache
    # takes the place of the primary PTEs (``pte[g]`` is the file's folio at index g).  The
    # rest exists only where a thread can change it: filemap_invalidate_lock, the binding of
    # the memslot in gmem->bindings and the memslot itself, slot->gmem.file, and the host
    # userspace PTE of each gfn's folio in the mmap of the file.
    Field("GMEM_LOCK", "filemap_invalidate_lock", "one", "bool", "gmem", when=gmem_thread),
    Field("GMEM_BOUND", "gmem.bindings", "one", "bool", "gmem", when=lambda sc: sc.gmem_slot != "none"),
    Field("GMEM_SLOT", "gmem.memslot", "one", "bool", "gmem", when=lambda sc: sc.gmem_slot != "none"),
    Field("GMEM_FILE", "slot.gmem.file", "one", "bool", "gmem", when=lambda sc: bool(sc.gmem_release)),
    Field("GMEM_UPTE", "gmem_mmap.pte[{g}]", "gfn", "count", "gmem", when=lambda sc: bool(sc.gmem_mmap)),
    Field("REF", "{page}.ref", "frame", "count", "page"),
    Field("MAP", "{page}.mapcount", "frame", "count", "page"),
    Field("FLAGS", "{page}.flags", "frame", "count", "page", why="PG_KSM | PG_LOCKED"),
    # Data values, kept together so that a change to any of them is one slice compare.
    Field("EXPECT", "expect[{g}]", "gfn", "value", "data", role="value", why="the guest's last write to gfn g"),
    Field("SWAP_VAL", "swap[{g}]", "gfn", "value", "data", role="value", when=lambda sc: bool(sc.reclaim)),
    Field("VAL", "{page}.val", "frame", "value", "data", role="value"),
    Field("LAST_WRITTEN", "last_written", "one", "value", "data", role="last_value"),
    # A per-CPU LRU add batch (mm/swap.c, folio_add_lru()) holds a reference to the page
    # until lru_add_drain_all(): only for the pages ``memory.lru_add`` names.
    Field("LRU_ADD", "{page}.lru_add", "frame", "bool", "page", when=lambda sc: bool(sc.lru_add)),
)


# The fields of the threads' blocks (``layout.THREAD_FIELDS`` lists each kind's block, in
# order), by name: what each holds, and its role in the quotients.  A vCPU's ``mmu_seq`` is
# its fault's snapshot of the sequence, which the sequence quotient compares with ``SEQ``
# where ``guest.PCS`` declares it live; the vCPU symmetry permutes whole vCPU blocks.
BLOCK_FIELDS: dict[str, tuple[str, str]] = {
    "pc": ("pc", ""),
    "done": ("count", ""),  # accesses done
    "gfn": ("gfn", ""),
    "write": ("bool", ""),
    "mmu_seq": ("seq", "snapshot"),
    "notifier_seq": ("count", ""),  # a device's mmu_interval_read_begin() value
    "pfn": ("pfn", ""),
    "writable": ("bool", ""),
    "new_page": ("pfn", ""),
    "old_page": ("pfn", ""),
    "target": ("count", ""),  # the index of the gfn or range the thread works on
    "page": ("pfn", ""),
    "kpage": ("pfn", ""),
    "orig_pfn": ("pfn", ""),
    "orig_prot": ("prot", ""),
    "tree_page": ("pfn", ""),
    "seqnr": ("count", ""),  # ksm_scan.seqnr: ksmd's full scans done
    "mapped": ("bool", ""),
    "attr": ("count", ""),
    "tlb.pfn": ("pfn", ""),  # tlb[g].pfn
    "tlb.w": ("bool", ""),
    "mn": ("count", ""),  # how far a notifier call of several steps has got
}


def block_field(name: str) -> tuple[str, str]:
    """(kind, role) of a thread block's field ``name`` (``tlb[3].pfn`` is ``tlb.pfn``)."""
    if name.startswith("tlb["):
        name = "tlb." + name.rsplit(".", 1)[1]
    return BLOCK_FIELDS[name]
