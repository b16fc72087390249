"""Scenario files: which threads exist and what memory they start from.

A scenario is a small TOML file (see ``scenarios/``).  Loading validates every key
and value and reports the first problem as ``FILE:LINE: problem``; nothing about
the kernel's behaviour lives here (that is the era and its switches).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

from mmuspec.errors import InputError, UsageError

PAGE_KINDS = ("anon", "ksm", "zero", "none")
OPS = ("read", "write")
MAX_GFNS = 4
MAX_VCPUS = 8
MAX_ACCESSES = 16

_SCHEMA: dict[str, dict[str, str]] = {
    "": {"description": "text"},
    "memory": {"gfns": "int", "initial": "kinds", "table_kept_alive": "bool"},
    "ksm": {"stable_page": "bool", "merge": "gfnlist"},
    "guest": {"vcpus": "int", "accesses": "int", "ops": "ops", "gfns": "gfnlist"},
    "host": {"zap": "gfnlist", "aging": "gfnlist", "reclaim": "bool"},
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
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise InputError(source, int(match.group(1)) if match else None, f"TOML syntax: {message}") from None
    reader = _Reader(text, source, data)
    return reader.scenario(name)


class _Reader:
    """Validates the parsed TOML against ``_SCHEMA``, reporting lines on failure."""

    def __init__(self, text: str, source: str, data: dict[str, Any]) -> None:
        self.lines = text.splitlines()
        self.text = text
        self.source = source
        self.data = data

    def fail(self, table: str, key: str | None, problem: str) -> InputError:
        return InputError(self.source, self.line_of(table, key), problem)

    def line_of(self, table: str, key: str | None) -> int | None:
        current = ""
        for number, line in enumerate(self.lines, start=1):
            stripped = line.strip()
            header = re.fullmatch(r"\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(#.*)?", stripped)
            if header:
                current = header.group(1)
                if key is None and current == table:
                    return number
                continue
            if current == table and key is not None and re.match(rf"{re.escape(key)}\s*=", stripped):
                return number
        return None

    def check_keys(self) -> None:
        for key, value in self.data.items():
            if isinstance(value, dict):
                if key not in _SCHEMA or key == "":
                    raise self.fail(key, None, f"unknown table [{key}]; known: " + ", ".join(
                        f"[{t}]" for t in _SCHEMA if t))
                for sub in value:
                    if sub not in _SCHEMA[key]:
                        known = ", ".join(_SCHEMA[key])
                        raise self.fail(key, sub, f"unknown key {sub!r} in [{key}]; known: {known}")
            elif key not in _SCHEMA[""]:
                raise self.fail("", key, f"unknown top-level key {key!r}")

    def get(self, table: str, key: str, default: Any) -> Any:
        section = self.data if table == "" else self.data.get(table, {})
        return section.get(key, default)

    def integer(self, table: str, key: str, default: int, low: int, high: int) -> int:
        value = self.get(table, key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(table, key, f"{table}.{key} = {value!r}: expected an integer in {low}..{high}")
        return value

    def boolean(self, table: str, key: str, default: bool) -> bool:
        value = self.get(table, key, default)
        if not isinstance(value, bool):
            raise self.fail(table, key, f"{table}.{key} = {value!r}: expected true or false")
        return value

    def gfn_list(self, table: str, key: str, gfns: int, default: list[int]) -> tuple[int, ...]:
        value = self.get(table, key, default)
        if not isinstance(value, list) or not all(
            isinstance(g, int) and not isinstance(g, bool) and 0 <= g < gfns for g in value
        ):
            raise self.fail(table, key, f"{table}.{key} = {value!r}: expected a list of gfns in 0..{gfns - 1}")
        if len(set(value)) != len(value):
            raise self.fail(table, key, f"{table}.{key} = {value!r}: a gfn is listed twice")
        return tuple(value)

    def choices(self, table: str, key: str, allowed: tuple[str, ...], default: list[str]) -> tuple[str, ...]:
        value = self.get(table, key, default)
        if not isinstance(value, list) or not value or not all(v in allowed for v in value):
            raise self.fail(table, key, f"{table}.{key} = {value!r}: expected a non-empty list of "
                            + ", ".join(repr(a) for a in allowed))
        return tuple(value)

    def guest_gfns(self, gfns: int) -> tuple[int, ...]:
        touched = self.gfn_list("guest", "gfns", gfns, list(range(gfns)))
        if not touched:
            raise self.fail("guest", "gfns", "guest.gfns: the guest must touch at least one gfn")
        return touched

    def scenario(self, name: str) -> Scenario:
        self.check_keys()
        description = self.get("", "description", "")
        if not isinstance(description, str):
            raise self.fail("", "description", "description must be a string")
        gfns = self.integer("memory", "gfns", 1, 1, MAX_GFNS)
        initial = self.choices("memory", "initial", PAGE_KINDS, ["anon"] * gfns)
        if len(initial) != gfns:
            raise self.fail("memory", "initial", f"memory.initial lists {len(initial)} pages for {gfns} gfns")
        stable_page = self.boolean("ksm", "stable_page", False)
        if "ksm" in initial and not stable_page:
            raise self.fail("memory", "initial", "a gfn starts mapped to the KSM page, so [ksm] stable_page must be true")
        merge = self.gfn_list("ksm", "merge", gfns, [])
        for g in merge:
            if initial[g] != "anon":
                raise self.fail("ksm", "merge", f"ksm.merge: gfn {g} starts as {initial[g]!r}; ksmd merges anonymous pages")
        if merge and not stable_page and len(merge) < 2:
            raise self.fail("ksm", "merge", "ksm.merge: without a stable page ksmd needs two pages to merge")
        zap = self.gfn_list("host", "zap", gfns, [])
        aging = self.gfn_list("host", "aging", gfns, [])
        reclaim = self.boolean("host", "reclaim", False)
        if reclaim and not aging:
            raise self.fail("host", "reclaim", "host.reclaim = true needs host.aging to name the gfns to reclaim")
        return Scenario(
            name=name,
            description=description,
            gfns=gfns,
            initial=initial,
            table_kept_alive=self.boolean("memory", "table_kept_alive", True),
            stable_page=stable_page,
            merge=merge,
            vcpus=self.integer("guest", "vcpus", 1, 1, MAX_VCPUS),
            accesses=self.integer("guest", "accesses", 2, 1, MAX_ACCESSES),
            ops=self.choices("guest", "ops", OPS, list(OPS)),
            guest_gfns=self.guest_gfns(gfns),
            zap=zap,
            aging=aging,
            reclaim=reclaim,
            source=self.source,
            text=self.text,
        )
