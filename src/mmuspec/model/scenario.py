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

_SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("description",),
    "memory": ("gfns", "initial", "table_kept_alive"),
    "ksm": ("stable_page", "merge"),
    "guest": ("vcpus", "accesses", "ops", "gfns"),
    "host": ("zap", "aging", "reclaim"),
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


def builtin_names() -> list[str]:
    folder = resources.files("mmuspec") / "scenarios"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """Load a built-in scenario by name, or any TOML file by path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"{name_or_path}: no such scenario file")
        return parse_scenario(path.read_text(encoding="utf-8"), str(path), path.stem)
    if name_or_path not in builtin_names():
        known = ", ".join(builtin_names())
        raise UsageError(f"unknown scenario {name_or_path!r}; built-in scenarios: {known}")
    text = (resources.files("mmuspec") / "scenarios" / f"{name_or_path}.toml").read_text(
        encoding="utf-8"
    )
    return parse_scenario(text, f"scenarios/{name_or_path}.toml", name_or_path)


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
        return Scenario(
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
