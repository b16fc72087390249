"""Scenario files: which threads exist and what memory they start from.

A scenario is a small TOML file (see ``scenarios/``).  Loading validates every key
and value and reports the first problem as ``FILE:LINE: problem``; nothing about
the kernel's behaviour lives here (that is the era and its switches).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TypedDict

from mmuspec.errors import UsageError
from mmuspec.inputs import read_text
from mmuspec.model.expect import NO_EXPECT, Expect, parse_expect
from mmuspec.model.expect import SCHEMA_KEYS as EXPECT_KEYS
from mmuspec.model.switches import parse_assignments
from mmuspec.tomlfile import TomlFile
from mmuspec.wording import counted

PAGE_KINDS = ("anon", "ksm", "zero", "none")
OPS = ("read", "write")
MAX_GFNS = 4
MAX_VCPUS = 8
MAX_ACCESSES = 16

MAX_ACCESSORS = 4
MAX_KSM_SCANS = 3
MAX_DEVICES = 2
MEMSLOT_INITIALLY = ("present", "absent")
MEMSLOT_CHANGES = ("none", "create", "delete")
GMEM_SLOT_CHANGES = MEMSLOT_CHANGES
SUBSCRIBERS = ("none", "fails_nonblock")
# Which secondary MMUs subscribe to the mm: KVM (its vCPUs and pfn caches), the device
# mirrors of [device] (mmu_interval_notifier), or both.
SECONDARY_MMUS = ("kvm", "hmm", "both")

_SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("description",),
    "memory": ("gfns", "initial", "table_kept_alive", "hva_offset", "lru_add"),
    "ksm": ("stable_page", "merge", "scans"),
    "guest": ("vcpus", "accesses", "ops", "gfns", "faulted_in", "tlb", "prefault"),
    "host": ("zap", "aging", "reclaim", "remap", "oom_reap"),
    "accessor": ("threads", "accesses", "ops", "gfns"),
    "kvm": ("mmu_notifier_seq", "tlbs_dirty", "zap_gfn_range", "sync_page"),
    "memslot": ("initially", "change"),
    "notifier": ("second_subscriber", "subscriber"),
    "device": ("threads", "accesses", "ops", "gfns", "insert", "remove", "interval"),
    "pfncache": ("gfn", "accesses", "ops"),
    "gmem": ("punch_hole", "release", "mmap", "slot", "host_accesses", "host_ops"),
    "check": ("quiescence", "set", "variant"),
    "expect": EXPECT_KEYS,
}


# What each key of _SCHEMA means: docs/scenario-keys.md is generated from these and the
# schema (python -m mmuspec.keydocs), and tests/test_keydocs.py fails when a key has none.
# [expect] keys other than verdict are event ids, described by the event catalogue.
KEY_DOCS: dict[str, str] = {
    "description": "one line saying what the scenario exercises (shown by mmuspec scenarios)",
    "memory.gfns": "number of guest pages (gfns), 1 to 4; gfn i is hva i plus memory.hva_offset",
    "memory.initial": "what each gfn starts as: anon (private, writable), ksm (the stable KSM page), zero "
    "(the shared zero page) or none (unmapped); one entry per gfn",
    "memory.table_kept_alive": "whether other guest pages keep the last-level secondary page table alive "
    "(default true); false lets an unmap free it",
    "memory.hva_offset": "hva of gfn 0 (0 to 64): makes gfn and hva ranges differ, for range bugs",
    "memory.lru_add": "anonymous gfns whose page a per-CPU LRU add batch still holds (folio_add_lru() took a "
    "reference, as for every page freshly faulted in): write_protect_page()'s page_count check refuses it until "
    "lru_add_drain_all(), which ksmd runs at the start of each full scan (ksm.scans)",
    "ksm.stable_page": "another VM already maps a KSM page with the same contents (needed by ksm in memory.initial)",
    "ksm.merge": "gfns ksmd tries to merge: into the stable page, or as an unstable-tree pair without one",
    "ksm.scans": "full scans ksmd makes over ksm.merge (1 to 3, default 1): each later scan comes back to every "
    "page not merged yet, as ksm_do_scan() does, so a merge that failed (a raised page count, a changed pte or "
    "contents) is tried again",
    "guest.vcpus": "number of vCPUs (1 to 8; --vcpus overrides)",
    "guest.accesses": "guest accesses per vCPU (1 to 16; --accesses overrides)",
    "guest.ops": "the operations each access may be: read, write or both (the checker tries each)",
    "guest.gfns": "the gfns the guest touches (default all)",
    "guest.faulted_in": "gfns whose SPTE an earlier fault already installed at the start",
    "guest.tlb": "model a per-vCPU TLB that only a flush empties (needed by kvm.sync_page)",
    "guest.prefault": "each vCPU access is a KVM_PRE_FAULT_MEMORY ioctl on the gfn (v6.11, x86): it maps the "
    "page for read without touching it, and the ioctl holds kvm->srcu until it returns",
    "host.zap": "gfns that a madvise(MADV_DONTNEED) thread zaps",
    "host.aging": "gfns that kswapd ages (the young-bit notifiers)",
    "host.reclaim": "kswapd also reclaims the aged gfns (try_to_unmap_one() and swap-out); needs host.aging",
    "host.remap": "gfns whose VMA a thread munmap()s and mmap()s again with another page size",
    "host.oom_reap": "gfns that the OOM reaper unmaps with a non-blockable range start",
    "accessor.threads": "host threads (QEMU, vhost) touching guest memory through the hva (0 to 4)",
    "accessor.accesses": "accesses per host accessor thread",
    "accessor.ops": "the operations host accesses may be: read, write or both",
    "accessor.gfns": "the gfns host accessors touch",
    "kvm.mmu_notifier_seq": "starting value of mmu_notifier_seq (0 to 127), for wrap-around bugs",
    "kvm.tlbs_dirty": "starting value of kvm->tlbs_dirty (0 to 127)",
    "kvm.zap_gfn_range": "gfns that a kvm_zap_gfn_range() thread zaps after changing their attributes",
    "kvm.sync_page": "gfns whose SPTE the shadow-paging sync_page path drops without a flush (needs guest.tlb)",
    "memslot.initially": "whether the memslot exists at the start: present (default) or absent",
    "memslot.change": "what a memslot thread does: none (default), create (needs absent) or delete (needs present)",
    "notifier.second_subscriber": "a second MMU-notifier subscriber: none, or fails_nonblock (fails the OOM "
    "reaper's non-blockable range start)",
    "notifier.subscriber": "which secondary MMUs subscribe to the mm: kvm, hmm (the [device] mirrors) or both "
    "(default: every one the file declares)",
    "device.threads": "device mirror threads (lib/test_hmm.c's dmirror) kept coherent by an mmu_interval_notifier "
    "(0 to 2; each has its own subscription and device page table)",
    "device.accesses": "accesses per device thread (0 with device.remove: the device opens and closes)",
    "device.ops": "the operations device accesses may be: read, write or both",
    "device.gfns": "the gfns the device threads touch",
    "device.insert": "the interval notifier is inserted while the mm is in use (mmu_interval_notifier_insert())",
    "device.remove": "the interval notifier is removed while the mm is in use (mmu_interval_notifier_remove())",
    "device.interval": "the one gfn each device's interval notifier covers, as nouveau inserts one page per GPU "
    "fault (device.gfns must be that gfn); without it each covers the whole address space, as lib/test_hmm.c's",
    "pfncache.gfn": "the gfn a gfn_to_pfn_cache (virt/kvm/pfncache.c) maps for a kernel thread",
    "pfncache.accesses": "accesses through the pfn cache",
    "pfncache.ops": "the operations pfn cache accesses may be: read, write or both",
    "gmem.punch_hole": "gfns a fallocate(PUNCH_HOLE) thread punches out of the guest_memfd file that backs every "
    "gfn (kvm_gmem_punch_hole(): invalidate_begin, truncate, invalidate_end); with [gmem] the guest's faults "
    "take their pages from the file (kvm_gmem_get_pfn()), never through an hva",
    "gmem.release": "the last reference to the guest_memfd file is closed (kvm_gmem_release()) after the punch holes",
    "gmem.mmap": "host userspace maps the guest_memfd file (v6.18, GUEST_MEMFD_FLAG_MMAP/INIT_SHARED): its own PTEs "
    "point at the file's folios, and truncation unmaps them through the MMU notifier too",
    "gmem.slot": "what a memslot thread does to the gmem-only memslot and its binding: none (default), delete (the "
    "slot goes, then kvm_gmem_unbind()) or create (kvm_gmem_bind(), then the slot appears)",
    "gmem.host_accesses": "accesses of a host userspace thread through the mmap of the file (needs gmem.mmap)",
    "gmem.host_ops": "the operations host accesses through the mmap may be: read, write or both",
    "check.set": "switch assignments (\"NAME=VALUE\", as --set gives them) this file is checked with in every era; "
    "--set on the command line wins",
    "check.variant": "a variant file (a proposed patch, relative to this file) this file is checked with, unless "
    "--variant gives another",
    "check.quiescence": "also check that every vCPU can always finish (the liveness half of quiescence)",
    "expect.verdict": "the expected verdict: safe, violation, warning, or a property or warning id that must be "
    "found; one word, or a table from era names (\"*\" for the rest) to words",
}


@dataclass(frozen=True)
class Scenario:
    """Everything a model needs to know about the world it starts in."""

    name: str
    description: str
    gfns: int
    initial: tuple[str, ...]
    table_kept_alive: bool
    stable_page: bool
    merge: tuple[int, ...]
    vcpus: int
    accesses: int
    ops: tuple[str, ...]
    guest_gfns: tuple[int, ...]
    zap: tuple[int, ...]
    aging: tuple[int, ...]
    reclaim: bool
    source: str = ""
    text: str = ""
    # Opt-in capabilities: their defaults leave the model (and its state counts) as it
    # was without them.
    hva_offset: int = 0
    ksm_scans: int = 1  # full scans ksmd makes over ``merge``
    lru_add: tuple[int, ...] = ()  # gfns whose initial page a per-CPU LRU add batch holds
    faulted_in: tuple[int, ...] = ()
    tlb: bool = False
    remap: tuple[int, ...] = ()
    oom_reap: tuple[int, ...] = ()
    accessors: int = 0
    accessor_accesses: int = 1
    accessor_ops: tuple[str, ...] = OPS
    accessor_gfns: tuple[int, ...] = (0,)
    initial_seq: int = 0
    initial_tlbs_dirty: int = 0
    zap_gfn_range: tuple[int, ...] = ()
    sync_page: tuple[int, ...] = ()
    prefault: bool = False
    memslot_initially: str = "present"
    memslot_change: str = "none"
    second_subscriber: str = "none"
    quiescence: bool = False
    # Switches and a variant the file is checked with ([check] set and variant).
    sets: tuple[tuple[str, str | bool], ...] = ()
    variant: str = ""
    expect: Expect = NO_EXPECT  # the [expect] table: results the file's author expects, per era
    # The secondary MMUs (``SECONDARY_MMUS``): which one runs, and which ones the file
    # declares (``--subscriber`` may choose among them when it declares both).
    subscriber: str = "kvm"
    subscribers: tuple[str, ...] = ("kvm",)
    guest_vcpus: int = 1  # [guest] vcpus as declared, whatever the subscriber
    # Device mirrors (lib/test_hmm.c's dmirror): threads that access memory through a
    # device page table kept coherent by an mmu_interval_notifier.
    device_threads: int = 0
    declared_devices: int = 0
    device_accesses: int = 2
    device_ops: tuple[str, ...] = OPS
    device_gfns: tuple[int, ...] = (0,)
    device_insert: bool = False
    device_remove: bool = False
    device_interval: int = -1  # the one gfn each subscription covers; -1: the whole address space
    # A gfn_to_pfn_cache (virt/kvm/pfncache.c) and the kernel thread that uses it.
    pfncache: bool = False
    declared_pfncache: bool = False
    pfncache_gfn: int = 0
    pfncache_accesses: int = 2
    pfncache_ops: tuple[str, ...] = OPS
    # guest_memfd (virt/kvm/guest_memfd.c, v6.8): the file backs every gfn (``gmem.py``).
    gmem: bool = False
    gmem_punch_hole: tuple[int, ...] = ()
    gmem_release: bool = False
    gmem_mmap: bool = False
    gmem_slot: str = "none"
    gmem_host_accesses: int = 0
    gmem_host_ops: tuple[str, ...] = OPS

    @property
    def memslots(self) -> bool:
        """Whether the memslot's lifetime is part of the scenario (else it always exists)."""
        return self.memslot_initially != "present" or self.memslot_change != "none"

    @property
    def ranges(self) -> bool:
        """Whether an invalidation's range can miss a fault's address (several gfns, or a
        kvm_zap_gfn_range() whose gfn range is compared with hvas)."""
        return self.gfns > 1 or bool(self.zap_gfn_range)

    @property
    def attributes(self) -> bool:
        """Whether threads change what a fault derives besides the pfn (memory type,
        APIC-access mapping, the VMA's page size)."""
        return bool(self.zap_gfn_range or self.remap)

    @property
    def kvm(self) -> bool:
        """Whether KVM subscribes to the mm (it has vCPUs or a pfn cache)."""
        return self.subscriber in ("kvm", "both")

    def with_subscriber(self, subscriber: str) -> Scenario:
        """The scenario with only the secondary MMUs ``subscriber`` names (``--subscriber``)."""
        if subscriber not in SECONDARY_MMUS:
            raise UsageError(f"--subscriber {subscriber!r}: expected one of {', '.join(SECONDARY_MMUS)}")
        if subscriber not in self.subscribers:
            has = " and ".join(x for x in ("kvm", "hmm") if x in self.subscribers)
            raise UsageError(f"--subscriber {subscriber}: scenario {self.name} has only {has} "
                             "(kvm-and-device has both)")
        kvm, hmm = subscriber in ("kvm", "both"), subscriber in ("hmm", "both")
        return replace(
            self,
            subscriber=subscriber,
            vcpus=self.guest_vcpus if kvm else 0,
            pfncache=self.declared_pfncache and kvm,
            device_threads=self.declared_devices if hmm else 0,
        )

    def size_text(self) -> str:
        """How many of each kind of thread, and their accesses: ``1 vCPU x 2 accesses``."""
        parts = []
        if self.vcpus or not (self.device_threads or self.pfncache):
            parts.append(f"{counted(self.vcpus, 'vCPU')} x {counted(self.accesses, 'access', 'accesses')}")
        if self.device_threads:
            parts.append(f"{counted(self.device_threads, 'device')} x "
                         f"{counted(self.device_accesses, 'access', 'accesses')}")
        if self.pfncache:
            parts.append(f"1 pfncache user x {counted(self.pfncache_accesses, 'access', 'accesses')}")
        return " + ".join(parts)

    def size_short(self) -> str:
        """``size_text()`` for the matrix's first line: ``1x2``, ``1x1 dev``, ``1x2 gpc``."""
        parts = [f"{self.vcpus}x{self.accesses}"] if self.vcpus or not (self.device_threads or self.pfncache) else []
        if self.device_threads:
            parts.append(f"{self.device_threads}x{self.device_accesses} dev")
        if self.pfncache:
            parts.append(f"1x{self.pfncache_accesses} gpc")
        return " + ".join(parts)

    def scaled(self, vcpus: int | None = None, accesses: int | None = None) -> Scenario:
        """The same scenario with ``--vcpus``/``--accesses`` applied."""
        if not self.vcpus:
            # No vCPUs: --vcpus and --accesses have nothing to scale (a replayed trace
            # gives the scenario's own values).
            if vcpus not in (None, 0):
                raise UsageError(f"--vcpus {vcpus}: scenario {self.name} runs no vCPUs "
                                 f"(subscriber {self.subscriber})")
            if accesses not in (None, self.accesses):
                raise UsageError(f"--accesses {accesses}: scenario {self.name} runs no vCPUs "
                                 f"(subscriber {self.subscriber}); its [device] and [pfncache] tables "
                                 "set their accesses")
            return self
        if vcpus is not None and not 1 <= vcpus <= MAX_VCPUS:
            raise UsageError(f"--vcpus {vcpus}: must be between 1 and {MAX_VCPUS}")
        if accesses is not None and not 1 <= accesses <= MAX_ACCESSES:
            raise UsageError(f"--accesses {accesses}: must be between 1 and {MAX_ACCESSES}")
        return replace(
            self,
            vcpus=self.vcpus if vcpus is None else vcpus,
            accesses=self.accesses if accesses is None else accesses,
        )


# Built-in scenarios: the general ones (what ``check --matrix`` runs), then those the
# real-bugs corpus needs (``bugs/scenarios``), which load by name too.
FOLDERS = ("scenarios", "bugs/scenarios")


def _names(folder: str) -> list[str]:
    path = resources.files("mmuspec").joinpath(*folder.split("/"))
    return sorted(p.name[: -len(".toml")] for p in path.iterdir() if p.name.endswith(".toml"))


def builtin_names() -> list[str]:
    """The general scenarios, which the matrix checks."""
    return _names(FOLDERS[0])


def bug_scenario_names() -> list[str]:
    return _names(FOLDERS[1])


def scenario_names() -> list[str]:
    """Every name ``load_scenario`` accepts: the general scenarios, then the corpus's."""
    return builtin_names() + bug_scenario_names()


def load_scenario(name_or_path: str) -> Scenario:
    """Load a built-in scenario by name, or any TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"{name_or_path}: no such scenario file")
        return parse_scenario(read_text(path, "scenario file"), str(path), path.stem)
    for folder in FOLDERS:
        if name_or_path in _names(folder):
            where = resources.files("mmuspec").joinpath(*folder.split("/"), f"{name_or_path}.toml")
            return parse_scenario(where.read_text(encoding="utf-8"), f"{folder}/{name_or_path}.toml", name_or_path)
    known = ", ".join(scenario_names())
    raise UsageError(f"unknown scenario {name_or_path!r}; built-in scenarios: {known}")


def parse_scenario(text: str, source: str, name: str) -> Scenario:
    return _Reader(TomlFile(text, source)).scenario(name)


class _Secondary(TypedDict):
    subscriber: str
    subscribers: tuple[str, ...]
    guest_vcpus: int
    device_threads: int
    declared_devices: int
    device_accesses: int
    device_ops: tuple[str, ...]
    device_gfns: tuple[int, ...]
    device_insert: bool
    device_remove: bool
    device_interval: int
    pfncache: bool
    declared_pfncache: bool
    pfncache_gfn: int
    pfncache_accesses: int
    pfncache_ops: tuple[str, ...]


class _Gmem(TypedDict, total=False):
    gmem: bool
    gmem_punch_hole: tuple[int, ...]
    gmem_release: bool
    gmem_mmap: bool
    gmem_slot: str
    gmem_host_accesses: int
    gmem_host_ops: tuple[str, ...]


class _CheckConfig(TypedDict):
    sets: tuple[tuple[str, str | bool], ...]
    variant: str


class _Reader:
    """Validates a scenario file, reporting the line of the first problem."""

    def __init__(self, toml: TomlFile) -> None:
        self.toml = toml

    def gfn_list(self, table: str, key: str, gfns: int, default: list[int]) -> tuple[int, ...]:
        value = self.toml.get((table, key), default)
        if not isinstance(value, list) or not all(
            isinstance(g, int) and not isinstance(g, bool) and 0 <= g < gfns for g in value
        ):
            raise self.toml.fail((table, key), f"{table}.{key} = {value!r}: expected a list of gfns in 0..{gfns - 1}")
        if len(set(value)) != len(value):
            raise self.toml.fail((table, key), f"{table}.{key} = {value!r}: a gfn is listed twice")
        return tuple(value)

    def choices(self, table: str, key: str, allowed: tuple[str, ...], default: list[str]) -> tuple[str, ...]:
        value = self.toml.get((table, key), default)
        if not isinstance(value, list) or not value or not all(v in allowed for v in value):
            raise self.toml.fail((table, key), f"{table}.{key} = {value!r}: expected a non-empty list of "
                                 + ", ".join(repr(a) for a in allowed))
        return tuple(value)

    def guest_gfns(self, gfns: int) -> tuple[int, ...]:
        touched = self.gfn_list("guest", "gfns", gfns, list(range(gfns)))
        if not touched:
            raise self.toml.fail(("guest", "gfns"), "guest.gfns: the guest must touch at least one gfn")
        return touched

    def scenario(self, name: str) -> Scenario:
        toml = self.toml
        toml.check_keys(_SCHEMA)
        description = toml.string(("", "description"), "")
        gfns = toml.integer(("memory", "gfns"), 1, 1, MAX_GFNS)
        initial = self.choices("memory", "initial", PAGE_KINDS, ["anon"] * gfns)
        if len(initial) != gfns:
            raise toml.fail(("memory", "initial"), f"memory.initial lists {len(initial)} pages for {gfns} gfns")
        stable_page = toml.boolean(("ksm", "stable_page"), False)
        if "ksm" in initial and not stable_page:
            raise toml.fail(("memory", "initial"),
                            "a gfn starts mapped to the KSM page, so [ksm] stable_page must be true")
        merge = self.gfn_list("ksm", "merge", gfns, [])
        for g in merge:
            if initial[g] != "anon":
                raise toml.fail(("ksm", "merge"),
                                f"ksm.merge: gfn {g} starts as {initial[g]!r}; ksmd merges anonymous pages")
        if merge and not stable_page and len(merge) < 2:
            raise toml.fail(("ksm", "merge"), "ksm.merge: without a stable page ksmd needs two pages to merge")
        ksm_scans = toml.integer(("ksm", "scans"), 1, 1, MAX_KSM_SCANS)
        lru_add = self.gfn_list("memory", "lru_add", gfns, [])
        for g in lru_add:
            if initial[g] != "anon":
                raise toml.fail(("memory", "lru_add"),
                                f"memory.lru_add: gfn {g} starts as {initial[g]!r}; the batch holds anonymous pages")
        if ksm_scans > 1 and not merge:
            raise toml.fail(("ksm", "scans"), "ksm.scans: ksmd scans only where ksm.merge names pages to merge")
        zap = self.gfn_list("host", "zap", gfns, [])
        aging = self.gfn_list("host", "aging", gfns, [])
        reclaim = toml.boolean(("host", "reclaim"), False)
        if reclaim and not aging:
            raise toml.fail(("host", "reclaim"), "host.reclaim = true needs host.aging to name the gfns to reclaim")
        accessors = toml.integer(("accessor", "threads"), 0, 0, MAX_ACCESSORS)
        initially = toml.string(("memslot", "initially"), "present", MEMSLOT_INITIALLY)
        change = toml.string(("memslot", "change"), "none", MEMSLOT_CHANGES)
        if (initially, change) in (("present", "create"), ("absent", "delete"), ("absent", "none")):
            raise toml.fail(("memslot", "change"), f"memslot.change = {change!r} with memslot.initially = "
                            f"{initially!r}: create needs an absent slot, delete a present one, and an "
                            "absent slot must be created")
        sync_page = self.gfn_list("kvm", "sync_page", gfns, [])
        tlb = toml.boolean(("guest", "tlb"), False)
        if sync_page and not tlb:
            raise toml.fail(("kvm", "sync_page"), "kvm.sync_page drops SPTEs without flushing the TLB, "
                            "so it needs guest.tlb = true")
        faulted_in = self.gfn_list("guest", "faulted_in", gfns, [])
        for g in faulted_in:
            if initial[g] == "none":
                raise toml.fail(("guest", "faulted_in"), f"guest.faulted_in: gfn {g} starts unmapped in the "
                                "primary MMU, so KVM cannot have mapped it")
        if initially == "absent" and faulted_in:
            raise toml.fail(("guest", "faulted_in"), "guest.faulted_in needs the memslot to exist at the start")
        secondary = self.secondary(gfns)
        return Scenario(
            **secondary,
            **self.gmem(gfns, initial),
            hva_offset=toml.integer(("memory", "hva_offset"), 0, 0, 64),
            ksm_scans=ksm_scans,
            lru_add=lru_add,
            faulted_in=faulted_in,
            tlb=tlb,
            remap=self.gfn_list("host", "remap", gfns, []),
            oom_reap=self.gfn_list("host", "oom_reap", gfns, []),
            accessors=accessors,
            accessor_accesses=toml.integer(("accessor", "accesses"), 1, 1, MAX_ACCESSES),
            accessor_ops=self.choices("accessor", "ops", OPS, list(OPS)),
            accessor_gfns=self.gfn_list("accessor", "gfns", gfns, list(range(gfns))) or (0,),
            initial_seq=toml.integer(("kvm", "mmu_notifier_seq"), 0, 0, 127),
            initial_tlbs_dirty=toml.integer(("kvm", "tlbs_dirty"), 0, 0, 127),
            zap_gfn_range=self.gfn_list("kvm", "zap_gfn_range", gfns, []),
            sync_page=sync_page,
            prefault=self.prefault(),
            memslot_initially=initially,
            memslot_change=change,
            second_subscriber=toml.string(("notifier", "second_subscriber"), "none", SUBSCRIBERS),
            quiescence=toml.boolean(("check", "quiescence"), False),
            **self.check_config(),
            expect=parse_expect(toml),
            name=name,
            description=description,
            gfns=gfns,
            initial=initial,
            table_kept_alive=toml.boolean(("memory", "table_kept_alive"), True),
            stable_page=stable_page,
            merge=merge,
            vcpus=secondary["guest_vcpus"] if secondary["subscriber"] != "hmm" else 0,
            accesses=toml.integer(("guest", "accesses"), 2, 1, MAX_ACCESSES),
            ops=self.choices("guest", "ops", OPS, list(OPS)),
            guest_gfns=self.guest_gfns(gfns),
            zap=zap,
            aging=aging,
            reclaim=reclaim,
            source=toml.source,
            text=toml.text,
        )

    def prefault(self) -> bool:
        prefault = self.toml.boolean(("guest", "prefault"), False)
        if prefault and self.toml.get(("guest", "ops"), ["read"]) != ["read"]:
            raise self.toml.fail(("guest", "ops"), "guest.prefault = true: KVM_PRE_FAULT_MEMORY maps for read, "
                                 "so guest.ops must be [\"read\"]")
        return prefault

    def check_config(self) -> _CheckConfig:
        """[check] set and variant: the configuration the file is meant to be checked with."""
        toml = self.toml
        sets = toml.get(("check", "set"), [])
        if not isinstance(sets, list) or not all(isinstance(x, str) for x in sets):
            raise toml.fail(("check", "set"), "check.set: expected a list of \"NAME=VALUE\" strings")
        try:
            parsed = parse_assignments(sets)
        except UsageError as exc:
            raise toml.fail(("check", "set"), str(exc)) from None
        variant = toml.string(("check", "variant"), "")
        if variant:
            variant = str(Path(toml.source).parent / variant)
            if not Path(variant).is_file():
                raise toml.fail(("check", "variant"), f"check.variant: no such file {variant}")
        return {"sets": tuple(parsed.items()), "variant": variant}

    def gmem(self, gfns: int, initial: tuple[str, ...]) -> _Gmem:
        """The [gmem] table: a guest_memfd file behind every gfn, and the threads that punch
        holes in it, close it, rebind it or map it in host userspace.  Combinations the model
        does not have (KSM, the host's own unmaps, device mirrors, a pfn cache, KVM's hva
        memslot updater) are refused in one line."""
        toml = self.toml
        if "gmem" not in toml.data:
            return {}
        keys = (("ksm", "merge"), ("host", "zap"), ("host", "aging"), ("host", "remap"), ("host", "oom_reap"),
                ("accessor", "threads"), ("memslot", "change"), ("kvm", "zap_gfn_range"))
        clash: list[tuple[str, ...]] = [(table, key) for table, key in keys
                                        if toml.get((table, key), None) not in (None, [], 0, "none")]
        clash += [(table,) for table in ("device", "pfncache") if table in toml.data]
        if clash:
            raise toml.fail(clash[0], f"[gmem] with [{'] '.join(clash[0])}{']' if len(clash[0]) == 1 else ''}: the "
                            "model's guest_memfd runs with vCPUs and host mappings of the file only")
        for g, kind in enumerate(initial):
            if kind not in ("anon", "none"):
                raise toml.fail(("memory", "initial"), f"memory.initial: gfn {g} is {kind!r}; with [gmem] a gfn "
                                "starts as a folio of the file (anon) or a hole (none)")
        mmap = toml.boolean(("gmem", "mmap"), False)
        host = toml.integer(("gmem", "host_accesses"), 0, 0, MAX_ACCESSES)
        if host and not mmap:
            raise toml.fail(("gmem", "host_accesses"), "gmem.host_accesses needs gmem.mmap = true")
        return {
            "gmem": True,
            "gmem_punch_hole": self.gfn_list("gmem", "punch_hole", gfns, []),
            "gmem_release": toml.boolean(("gmem", "release"), False),
            "gmem_mmap": mmap,
            "gmem_slot": toml.string(("gmem", "slot"), "none", GMEM_SLOT_CHANGES),
            "gmem_host_accesses": host,
            "gmem_host_ops": self.choices("gmem", "host_ops", OPS, list(OPS)),
        }

    def secondary(self, gfns: int) -> _Secondary:
        """The secondary MMUs: KVM's guest and pfn cache, the device mirrors, and which of
        them subscribe (``[notifier] subscriber``, by default every one the file declares)."""
        toml = self.toml
        data = toml.data
        devices = toml.integer(("device", "threads"), 1, 0, MAX_DEVICES) if "device" in data else 0
        pfncache = "pfncache" in data
        guest = "guest" in data or not (devices or pfncache)
        guest_vcpus = toml.integer(("guest", "vcpus"), 1, 1, MAX_VCPUS) if guest else 0
        declared = [x for x, has in (("kvm", guest or pfncache), ("hmm", bool(devices))) if has]
        allowed = ("kvm", "hmm", "both") if len(declared) == 2 else tuple(declared)
        subscriber = toml.string(("notifier", "subscriber"), "both" if len(declared) == 2 else declared[0],
                                 SECONDARY_MMUS)
        if subscriber not in allowed:
            raise toml.fail(("notifier", "subscriber"), f"notifier.subscriber = {subscriber!r}: the file declares "
                            + " and ".join(f"[{t}]" for t, x in (("guest", guest), ("pfncache", pfncache),
                                                               ("device", devices)) if x))
        kvm, hmm = subscriber in ("kvm", "both"), subscriber in ("hmm", "both")
        if not kvm:
            for table, key in (("guest", "faulted_in"), ("kvm", "zap_gfn_range"), ("kvm", "sync_page"),
                               ("memslot", "change")):
                if toml.get((table, key), None) not in (None, [], "none"):
                    raise toml.fail((table, key), f"{table}.{key} is KVM's, and notifier.subscriber = "
                                    f"{subscriber!r} has no KVM")
        pfn_gfn = toml.integer(("pfncache", "gfn"), 0, 0, gfns - 1)
        insert = toml.boolean(("device", "insert"), False)
        remove = toml.boolean(("device", "remove"), False)
        device_gfns = self.gfn_list("device", "gfns", gfns, [0]) or (0,)
        interval = -1
        if toml.get(("device", "interval"), None) is not None:
            interval = toml.integer(("device", "interval"), 0, 0, gfns - 1)
            if device_gfns != (interval,):
                raise toml.fail(("device", "interval"), f"device.interval = {interval}: the devices access "
                                f"gfns {list(device_gfns)}, outside the one page their notifiers cover")
        return {
            "subscriber": subscriber,
            "subscribers": allowed,
            "guest_vcpus": guest_vcpus,
            "device_threads": devices if hmm else 0,
            "declared_devices": devices,
            "device_accesses": toml.integer(("device", "accesses"), 2, 0 if remove else 1, MAX_ACCESSES),
            "device_ops": self.choices("device", "ops", OPS, list(OPS)),
            "device_gfns": device_gfns,
            "device_insert": insert,
            "device_remove": remove,
            "device_interval": interval,
            "pfncache": pfncache and kvm,
            "declared_pfncache": pfncache,
            "pfncache_gfn": pfn_gfn,
            "pfncache_accesses": toml.integer(("pfncache", "accesses"), 2, 1, MAX_ACCESSES),
            "pfncache_ops": self.choices("pfncache", "ops", OPS, list(OPS)),
        }
