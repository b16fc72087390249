"""The real-bugs corpus: historical bugs of the protocol, each searched for in the kernel
before its fix and shown gone after it.

A bug file (``bugs/*.toml``) names the commit, what the race is, a scenario, and two
configurations with what each should give: the violated property (or kernel warning)
before the fix, ``safe`` after it.  It also names the switches the fix itself changed
(``fix``): the before configuration with only those changed must be safe too, so that
the verdict after the fix is the fix's doing and not another difference between two
eras.  Nothing here stores a verdict: every configuration is searched exhaustively every
time, and the outcome is compared with the file's expectation.  ``kind = "history"`` entries are the same, for a design step rather than
a bug fix (what made a later change necessary), and ``kind = "hazard"`` for a race that a
commit prevented before any kernel had it (a preparation merged ahead of the change that
needed it): neither counts as a real bug.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from mmuspec.checking import CheckSpec, Reductions, run_check
from mmuspec.errors import InputError, UsageError
from mmuspec.explore import SearchResult
from mmuspec.inputs import read_text
from mmuspec.model import (
    ERAS,
    EVENTS,
    Kernel,
    Variant,
    load_scenario,
    load_variant,
    parse_assignments,
)
from mmuspec.model.scenario import MAX_ACCESSES, MAX_VCPUS
from mmuspec.tomlfile import TomlFile

KINDS = ("bug", "hazard", "history")
FAILURES = tuple(e.id for e in EVENTS if e.kind in ("property", "warning"))
_SCHEMA = {
    "": ("id", "kind", "commit", "fixes", "title", "version", "scenario", "race", "slow", "vcpus", "accesses", "fix"),
    "before": ("era", "set", "variant", "expect"),
    "after": ("era", "set", "variant", "expect"),
}


@dataclass(frozen=True)
class Side:
    """One configuration of a bug: before or after the fix."""

    spec: CheckSpec
    expect: str  # an event id, or "safe"
    label: str


@dataclass(frozen=True)
class Bug:
    id: str
    kind: str
    commit: str
    fixes: str
    title: str
    version: str
    race: str
    scenario: str
    slow: bool
    before: Side
    after: Side
    fix_alone: Side
    source: str


@dataclass(frozen=True)
class Outcome:
    """What the search of one side found, and whether it is what the file expects."""

    side: Side
    result: SearchResult
    kernel: Kernel
    seconds: float

    @property
    def found(self) -> str:
        """The expected event if the search reached it, else the first failure, else safe."""
        failures = [e for e in FAILURES if e in self.result.witnesses]
        if self.side.expect in failures:
            return self.side.expect
        return failures[0] if failures else ("safe" if self.result.complete else "unknown")

    @property
    def matches(self) -> bool:
        if self.side.expect == "safe":
            return self.result.verdict == "safe"
        return self.side.expect in self.result.witnesses

    @property
    def trace_length(self) -> int | None:
        witness = self.result.witnesses.get(self.found)
        return witness.length if witness is not None else None


def corpus_dir() -> Path:
    return Path(str(resources.files("mmuspec") / "bugs"))


def load_corpus(folder: Path | None = None) -> list[Bug]:
    folder = folder or corpus_dir()
    bugs = [load_bug(path) for path in sorted(folder.glob("*.toml"))]
    return sorted(bugs, key=lambda b: (KINDS.index(b.kind), len(b.id), b.id))


def select(bugs: list[Bug], ids: list[str]) -> list[Bug]:
    if not ids:
        return bugs
    known = {b.id.lower(): b for b in bugs}
    missing = [i for i in ids if i.lower() not in known]
    if missing:
        raise UsageError(f"unknown bug {missing[0]!r}; the corpus has {', '.join(b.id for b in bugs)}")
    return [known[i.lower()] for i in ids]


def load_bug(path: Path) -> Bug:
    toml = TomlFile(read_text(path, "bug file"), str(path))
    toml.check_keys(_SCHEMA)
    for key in ("id", "commit", "title", "scenario", "race"):
        if toml.get(("", key), None) is None:
            raise InputError(str(path), None, f"missing key {key!r}")
    scenario_name = toml.string(("", "scenario"), "")

    def size(key: str, high: int) -> int | None:
        return toml.integer(("", key), 1, 1, high) if toml.get(("", key), None) is not None else None

    try:
        scenario = load_scenario(scenario_name)
    except UsageError as exc:
        raise toml.fail(("", "scenario"), str(exc)) from None
    scenario = scenario.scaled(size("vcpus", MAX_VCPUS), size("accesses", MAX_ACCESSES))

    def side(name: str) -> Side:
        era = toml.string((name, "era"), "", tuple(ERAS))
        sets = toml.get((name, "set"), [])
        if not isinstance(sets, list) or not all(isinstance(x, str) for x in sets):
            raise toml.fail((name, "set"), f"{name}.set: expected a list of \"NAME=VALUE\" strings")
        try:
            overrides = parse_assignments(sets)
        except UsageError as exc:
            raise toml.fail((name, "set"), str(exc)) from None
        variant = None
        if toml.get((name, "variant"), None) is not None:
            variant = load_variant(str(_inside_corpus(toml, path, name)))
        expect = toml.string((name, "expect"), "", (*FAILURES, "safe"))
        label = era + "".join(f" {s}" for s in sets if not s.startswith("arch=")) + (" +variant" if variant else "")
        return Side(CheckSpec(scenario, era, overrides, variant), expect, label)

    fix = toml.get(("", "fix"), [])
    if not isinstance(fix, list) or not all(isinstance(x, str) for x in fix):
        raise toml.fail(("", "fix"), "fix: expected a list of \"NAME=VALUE\" strings")
    try:
        fix_overrides = parse_assignments(fix)
    except UsageError as exc:
        raise toml.fail(("", "fix"), str(exc)) from None
    before, after = side("before"), side("after")
    alone = CheckSpec(scenario, before.spec.era, {**before.spec.overrides, **fix_overrides}, after.spec.variant)
    label = before.label.removesuffix(" +variant") + "".join(f" {s}" for s in fix)
    return Bug(
        id=toml.string(("", "id"), ""),
        kind=toml.string(("", "kind"), "bug", KINDS),
        commit=toml.string(("", "commit"), ""),
        fixes=toml.string(("", "fixes"), ""),
        title=toml.string(("", "title"), ""),
        version=toml.string(("", "version"), ""),
        race=" ".join(toml.string(("", "race"), "").split()),
        scenario=scenario_name,
        slow=toml.boolean(("", "slow"), False),
        before=before,
        after=after,
        fix_alone=Side(alone, "safe", label),
        source=str(path),
    )


def _inside_corpus(toml: TomlFile, path: Path, side: str) -> Path:
    """A bug file's variant, which must be a file in the corpus folder (the bug file's own):
    a corpus copied from elsewhere cannot make ``mmuspec bugs`` run Python from anywhere
    on the disk."""
    folder = path.parent.resolve()
    target = (folder / toml.string((side, "variant"), "")).resolve()
    if not target.is_relative_to(folder) or target.suffix != ".py":
        raise toml.fail((side, "variant"), f"{side}.variant must name a .py file inside the corpus folder {folder}")
    return target


def with_variant(bug: Bug, variant: Variant) -> Bug:
    """``bug`` with ``variant`` (a proposed patch) applied on every side: whether the corpus
    still holds under the patch, i.e. whether it fixes an entry's bug or brings one back."""
    def side(s: Side) -> Side:
        if s.spec.variant is not None:
            raise UsageError(f"--variant: {bug.id} already runs a variant ({s.spec.variant.path}) on one side")
        return replace(s, spec=replace(s.spec, variant=variant), label=f"{s.label} +variant")

    return replace(bug, before=side(bug.before), after=side(bug.after), fix_alone=side(bug.fix_alone))


def search(side: Side) -> Outcome:
    """Search one side exhaustively with every exact reduction, as ``mmuspec check`` does."""
    started = time.perf_counter()
    kernel, result = run_check(side.spec, reductions=Reductions())
    return Outcome(side, result, kernel, time.perf_counter() - started)


def rediscover(bug: Bug) -> tuple[Outcome, Outcome, Outcome]:
    """(before the fix, after it, the before configuration with only the fix applied)."""
    return search(bug.before), search(bug.after), search(bug.fix_alone)
