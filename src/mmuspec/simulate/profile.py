"""A cost profile: per-event costs measured on a host, in place of the built-in table.

``mmuspec lab`` writes one (``DIR/costs.toml``) from a real run; ``simulate``, ``sweep``
and ``reevaluate`` take it with ``--costs FILE`` (repeatable, later files win).  The
values it has replace the defaults of ``costs.py`` for every arch; a workload's own
``[costs]`` still overrides them.  Everything the profile does not have keeps its
default and its source, so a report can say which values were measured, on which
kernel and host, and which remain assumed.

Format::

    [profile]
    kernel = "6.18.44"            # uname -r of the measuring host
    host = "AMD EPYC, kvm_pvm"    # what the host is
    workload = "ksm-merge"        # the lab run that measured it
    [costs]
    ksm_merge_us = 41.2           # only measured values
    [samples]
    ksm_merge_us = 63             # how many events each value is from
    [statistic]
    ksm_merge_us = "median"       # what each value is of them: "median" or "p10"
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from mmuspec.errors import InputError
from mmuspec.simulate.costs import COST_KEYS
from mmuspec.simulate.workload import Workload
from mmuspec.tomlfile import TomlFile

SCHEMA = {"profile": ("kernel", "host", "workload", "date"), "costs": COST_KEYS, "samples": COST_KEYS,
          "statistic": COST_KEYS}
STATISTICS = {"median": "median", "p10": "tenth percentile"}  # as a profile writes them: as a report says them


@dataclass(frozen=True)
class CostProfile:
    values: dict[str, float]
    samples: dict[str, int] = field(default_factory=dict)
    statistics: dict[str, str] = field(default_factory=dict)
    kernel: str = "?"
    host: str = "?"
    workload: str = "?"
    date: str = ""
    sources: tuple[str, ...] = ()

    def source_of(self, key: str) -> str:
        n = self.samples.get(key)
        stat = STATISTICS.get(self.statistics.get(key, ""), "")  # a profile without [statistic] names none
        return (f"`mmuspec lab {self.workload}` on {self.kernel}, {self.host}"
                + (f" ({stat + ' of ' if stat else ''}{n:,} events)" if n else ""))


def load_profile(path: str) -> CostProfile:
    p = Path(path)
    if not p.is_file():
        raise InputError(path, None, "no such cost profile")
    toml = TomlFile(p.read_text(encoding="utf-8"), path)
    toml.check_keys(SCHEMA)
    values = {k: toml.number(("costs", k), 0.0, 0.0, 1e7) for k in COST_KEYS if k in toml.get(("costs",), {})}
    if not values:
        raise toml.fail(("costs",), "a cost profile needs a [costs] table with at least one measured value")
    samples = {k: toml.integer(("samples", k), 0, 0, 2**62) for k in COST_KEYS if k in toml.get(("samples",), {})}
    stats = {k: toml.string(("statistic", k), "median", tuple(STATISTICS)) for k in COST_KEYS
             if k in toml.get(("statistic",), {})}
    return CostProfile(values, samples, stats, toml.string(("profile", "kernel"), "?"), toml.string(("profile", "host"), "?"),
                       toml.string(("profile", "workload"), "?"), toml.string(("profile", "date"), ""), (path,))


def merge_profiles(profiles: list[CostProfile]) -> CostProfile | None:
    """One profile from several (later ones win, key by key), or None for none."""
    if not profiles:
        return None
    out = profiles[0]
    for p in profiles[1:]:
        values = {**out.values, **p.values}
        samples = {**out.samples, **p.samples}
        stats = {**out.statistics, **p.statistics}
        workload = out.workload if out.workload == p.workload else f"{out.workload} and {p.workload}"
        out = replace(p, values=values, samples=samples, statistics=stats, workload=workload, sources=out.sources + p.sources)
    return out


def with_profile(workload: Workload, profile: CostProfile | None) -> Workload:
    """``workload`` charged at the profile's costs where it does not set its own."""
    if profile is None:
        return workload
    overrides = {arch: dict(v) for arch, v in workload.cost_overrides.items()}
    overrides[""] = {**profile.values, **overrides.get("", {})}
    for arch in ("x86", "arm64", "ppc", "mips"):
        overrides.setdefault(arch, {})
    return replace(workload, cost_overrides=overrides)


def profile_text(values: dict[str, float], samples: dict[str, int], statistics: dict[str, str], *, kernel: str,
                 host: str, workload: str, date: str, not_measured: dict[str, str]) -> str:
    """The TOML of a profile, with a comment per cost it does not measure saying why."""
    q = '"'
    lines = ["# A cost profile measured by mmuspec lab: simulate/sweep/reevaluate --costs THIS_FILE",
             "[profile]", f"kernel = {q}{kernel}{q}", f"host = {q}{host}{q}", f"workload = {q}{workload}{q}",
             f"date = {q}{date}{q}", "", "[costs]"]
    lines += [f"{k} = {v:g}" for k, v in values.items()]
    lines += ["", "[samples]"] + [f"{k} = {samples[k]}" for k in values if k in samples]
    lines += ["", "[statistic]"] + [f"{k} = {q}{statistics[k]}{q}" for k in values if k in statistics]
    lines += ["", "# Not measured by this run (the built-in value stays):"]
    lines += [f"#   {k}: {why}" for k, why in not_measured.items()]
    return "\n".join(lines) + "\n"
