"""Scenario files: which threads exist and what memory they start from.

A scenario is a small TOML file (see ``scenarios/``).  Loading validates every key
and value and reports the first problem as ``FILE:LINE: problem``; nothing about
the kernel's behaviour lives here (that is the era and its switches).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from mmuspec.errors import UsageError
from mmuspec.tomlfile import TomlFile

PAGE_KINDS = ("anon", "ksm", "zero", "none")
OPS = ("read", "write")
MAX_GFNS = 4
MAX_VCPUS = 8
MAX_ACCESSES = 16

MAX_ACCESSORS = 4
MEMSLOT_INITIALLY = ("present", "absent")
MEMSLOT_CHANGES = ("none", "create", "delete")
SUBSCRIBERS = ("none", "fails_nonblock")

_SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("description",),
    "memory": ("gfns", "initial", "table_kept_alive", "hva_offset"),
    "ksm": ("stable_page", "merge"),
    "guest": ("vcpus", "accesses", "ops", "gfns", "faulted_in", "tlb"),
    "host": ("zap", "aging", "reclaim", "remap", "oom_reap"),
    "accessor": ("threads", "accesses", "ops", "gfns"),
    "kvm": ("mmu_notifier_seq", "tlbs_dirty", "zap_gfn_range", "sync_page"),
    "memslot": ("initially", "change"),
    "notifier": ("second_subscriber",),
    "check": ("quiescence",),
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
    memslot_initially: str = "present"
    memslot_change: str = "none"
    second_subscriber: str = "none"
    quiescence: bool = False

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

    def scaled(self, vcpus: int | None = None, accesses: int | None = None) -> Scenario:
        """The same scenario with ``--vcpus``/``--accesses`` applied."""
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
        return parse_scenario(path.read_text(encoding="utf-8"), str(path), path.stem)
    for folder in FOLDERS:
        if name_or_path in _names(folder):
            where = resources.files("mmuspec").joinpath(*folder.split("/"), f"{name_or_path}.toml")
            return parse_scenario(where.read_text(encoding="utf-8"), f"{folder}/{name_or_path}.toml", name_or_path)
    known = ", ".join(scenario_names())
    raise UsageError(f"unknown scenario {name_or_path!r}; built-in scenarios: {known}")


def parse_scenario(text: str, source: str, name: str) -> Scenario:
    return _Reader(TomlFile(text, source)).scenario(name)


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
        return Scenario(
            hva_offset=toml.integer(("memory", "hva_offset"), 0, 0, 64),
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
            memslot_initially=initially,
            memslot_change=change,
            second_subscriber=toml.string(("notifier", "second_subscriber"), "none", SUBSCRIBERS),
            quiescence=toml.boolean(("check", "quiescence"), False),
            name=name,
            description=description,
            gfns=gfns,
            initial=initial,
            table_kept_alive=toml.boolean(("memory", "table_kept_alive"), True),
            stable_page=stable_page,
            merge=merge,
            vcpus=toml.integer(("guest", "vcpus"), 1, 1, MAX_VCPUS),
            accesses=toml.integer(("guest", "accesses"), 2, 1, MAX_ACCESSES),
            ops=self.choices("guest", "ops", OPS, list(OPS)),
            guest_gfns=self.guest_gfns(gfns),
            zap=zap,
            aging=aging,
            reclaim=reclaim,
            source=toml.source,
            text=toml.text,
        )
