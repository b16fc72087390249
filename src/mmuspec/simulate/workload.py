"""Workload files: the VMs, their memory contents, how the guests touch it, and KSM's
tuning.  Read from TOML (``workloads/``), validated key by key.

Optional reclaim (``[reclaim] pages_per_second``) has kswapd age pages, coldest
first, and swap out those not touched for ``idle_seconds``.

Page touches are what matters to the MMU: a "touch" is an access to a page that
the secondary MMU has to translate, drawn per vCPU at ``rate`` per second, Zipf
distributed over a working set.  Phases change the rate, the mix and the working
set over time; a phase may start by filling part of memory with the same bytes in
every VM (``fill = "same"``, what LTP's ksm02 does) or with unique data
(``fill = "unique"``, the COW flood that follows).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mmuspec.errors import UsageError
from mmuspec.inputs import read_text
from mmuspec.simulate.costs import COST_KEYS, CostModel, cost_model
from mmuspec.tomlfile import TomlFile

PAGES_PER_GIB = 262144
MAX_PAGES = 1 << 27  # 512 GiB of guest memory in all

_SCHEMA: dict[str, tuple[str, ...]] = {
    "": ("description", "seed"),
    "vms": ("count", "memory_gib", "pages", "vcpus"),
    "content": ("zero", "shared", "duplicate"),
    "access": ("rate", "write_fraction", "working_set", "zipf"),
    "phases": ("name", "duration", "rate_scale", "write_fraction", "working_set", "zipf", "fill", "fill_fraction"),
    "ksm": ("pages_to_scan", "sleep_millisecs", "max_page_sharing"),
    "reclaim": ("pages_per_second", "idle_seconds"),
    "costs": (*COST_KEYS, "x86.*", "arm64.*", "ppc.*", "mips.*"),
}
# What each key of _SCHEMA means: docs/workload-keys.md is generated from these and the
# schema (python -m mmuspec.keydocs).  [costs] keys are described by simulate/costs.py.
KEY_DOCS: dict[str, str] = {
    "description": "one line saying what the workload stands for (shown by mmuspec workloads)",
    "seed": "the random seed (default 1): a run is deterministic for it; --seed overrides",
    "vms.count": "number of VMs (1 to 1024)",
    "vms.memory_gib": "guest memory per VM in GiB (default 1)",
    "vms.pages": "guest memory per VM in 4 KiB pages, instead of memory_gib",
    "vms.vcpus": "vCPUs per VM (default 1)",
    "content.zero": "share of guest pages that are zero-filled",
    "content.shared": "share of guest pages identical in every VM (the same image)",
    "content.duplicate": "share of guest pages duplicated within one VM",
    "access.rate": "page touches per second per vCPU that the MMU translates (default 100)",
    "access.write_fraction": "share of touches that write (default 0.2)",
    "access.working_set": "share of memory the guests touch (default 0.5)",
    "access.zipf": "skew of the touches over the working set, a Zipf exponent (default 1)",
    "phases.name": "the phase's name ([[phases]], in order; default one 600 s phase)",
    "phases.duration": "its length in simulated seconds",
    "phases.rate_scale": "access.rate multiplied by this during the phase",
    "phases.write_fraction": "access.write_fraction for the phase",
    "phases.working_set": "access.working_set for the phase",
    "phases.zipf": "access.zipf for the phase",
    "phases.fill": "what the phase writes into memory when it starts: same (identical pages) or unique",
    "phases.fill_fraction": "share of memory that fill writes",
    "ksm.pages_to_scan": "pages ksmd scans per wake-up (default 100)",
    "ksm.sleep_millisecs": "ksmd's sleep between wake-ups (default 20)",
    "ksm.max_page_sharing": "most pages that may share one KSM page (default 256)",
    "reclaim.pages_per_second": "pages kswapd ages per second, coldest first (default 0: no reclaim)",
    "reclaim.idle_seconds": "a page not touched for this long is swapped out (default 60)",
}


@dataclass(frozen=True)
class Phase:
    name: str
    duration: float
    rate: float  # touches per second per vCPU
    write_fraction: float
    working_set: float
    zipf: float
    fill: str  # "" | "same" | "unique"
    fill_fraction: float


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    seed: int
    vms: int
    pages_per_vm: int
    vcpus: int
    zero: float
    shared: float
    duplicate: float
    phases: tuple[Phase, ...]
    pages_to_scan: int
    sleep_millisecs: int
    max_page_sharing: int
    cost_overrides: dict[str, dict[str, float]]
    base_rate: float = 0.0
    reclaim_rate: float = 0.0  # pages kswapd ages per second, coldest first (0: no reclaim)
    idle_seconds: float = 60.0  # a page not touched for this long is old
    source: str = ""
    text: str = ""

    @property
    def pages(self) -> int:
        return self.vms * self.pages_per_vm

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    def costs(self, arch: str) -> CostModel:
        return cost_model(arch, self.cost_overrides)

    def with_duration(self, seconds: float) -> Workload:
        """Cut or extend the last phase so that the phases last ``seconds``."""
        if seconds <= 0:
            raise UsageError(f"--duration {seconds}: must be positive")
        phases, left = [], seconds
        for phase in self.phases:
            if left <= 0:
                break
            phases.append(Phase(**{**phase.__dict__, "duration": min(phase.duration, left)}))
            left -= phase.duration
        if left > 0:
            last = phases[-1]
            phases[-1] = Phase(**{**last.__dict__, "duration": last.duration + left})
        return Workload(**{**self.__dict__, "phases": tuple(phases)})

    def with_values(self, changes: dict[str, float]) -> Workload:
        """Apply ``sweep`` grid values such as ``ksm.pages_to_scan`` or ``access.rate``."""
        fields = dict(self.__dict__)
        for key, value in changes.items():
            section, _, name = key.partition(".")
            if section == "ksm" and name in ("pages_to_scan", "sleep_millisecs", "max_page_sharing"):
                fields[name] = int(value)
            elif section == "vms" and name in ("count", "vcpus"):
                fields["vms" if name == "count" else "vcpus"] = int(value)
            elif section == "vms" and name == "memory_gib":
                fields["pages_per_vm"] = max(1, int(value * PAGES_PER_GIB))
            elif section == "content" and name in ("zero", "shared", "duplicate"):
                fields[name] = float(value)
            elif section == "access" and name == "rate":
                scale = float(value) / self.base_rate if self.base_rate else 0.0
                fields["phases"] = tuple(Phase(**{**p.__dict__, "rate": p.rate * scale}) for p in fields["phases"])
                fields["base_rate"] = float(value)
            elif section == "access" and name in ("write_fraction", "working_set", "zipf"):
                fields["phases"] = tuple(Phase(**{**p.__dict__, name: float(value)}) for p in fields["phases"])
            elif section == "reclaim" and name == "pages_per_second":
                fields["reclaim_rate"] = float(value)
            elif section == "reclaim" and name == "idle_seconds":
                fields["idle_seconds"] = float(value)
            elif section == "costs" and name in COST_KEYS:
                overrides = {k: dict(v) for k, v in self.cost_overrides.items()}
                overrides.setdefault("", {})[name] = float(value)
                fields["cost_overrides"] = overrides
            else:
                raise UsageError(f"--grid {key}: not a value a sweep can set (ksm.*, vms.*, content.*, access.*, reclaim.*, costs.*)")
        return Workload(**fields)


def builtin_workloads() -> list[str]:
    folder = resources.files("mmuspec") / "workloads"
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load_workload(name_or_path: str) -> Workload:
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"{name_or_path}: no such workload file")
        return parse_workload(read_text(path, "workload file"), str(path), path.stem)
    if name_or_path not in builtin_workloads():
        raise UsageError(f"unknown workload {name_or_path!r}; built-in workloads: {', '.join(builtin_workloads())}")
    text = (resources.files("mmuspec") / "workloads" / f"{name_or_path}.toml").read_text(encoding="utf-8")
    return parse_workload(text, f"workloads/{name_or_path}.toml", name_or_path)


def parse_workload(text: str, source: str, name: str) -> Workload:
    toml = TomlFile(text, source)
    toml.check_keys(_SCHEMA, arrays=("phases",))
    vms = toml.integer(("vms", "count"), 1, 1, 1024)
    if toml.get(("vms", "pages"), None) is not None:
        pages = toml.integer(("vms", "pages"), 1, 1, MAX_PAGES)
    else:
        pages = int(toml.number(("vms", "memory_gib"), 1.0, 1 / 256, 512) * PAGES_PER_GIB)
    if vms * pages > MAX_PAGES:
        raise toml.fail(("vms", "count"), f"{vms} VMs x {pages} pages is more than {MAX_PAGES} pages in all")
    zero = toml.number(("content", "zero"), 0.0, 0.0, 1.0)
    shared = toml.number(("content", "shared"), 0.0, 0.0, 1.0)
    duplicate = toml.number(("content", "duplicate"), 0.0, 0.0, 1.0)
    if zero + shared + duplicate > 1.0 + 1e-9:
        raise toml.fail(("content",), f"content: zero + shared + duplicate = {zero + shared + duplicate:g} exceeds 1")
    rate = toml.number(("access", "rate"), 100.0, 0.0, 1e9)
    write_fraction = toml.number(("access", "write_fraction"), 0.2, 0.0, 1.0)
    working_set = toml.number(("access", "working_set"), 0.5, 0.0, 1.0)
    zipf = toml.number(("access", "zipf"), 1.0, 0.0, 4.0)
    raw_phases = toml.get(("", "phases"), [{"name": "steady", "duration": 600.0}])
    phases = []
    for i in range(len(raw_phases)):
        fill = toml.string(("phases", i, "fill"), "", ("", "same", "unique"))
        phases.append(Phase(
            name=toml.string(("phases", i, "name"), f"phase{i + 1}"),
            duration=toml.number(("phases", i, "duration"), 60.0, 0.001, 86400.0),
            rate=rate * toml.number(("phases", i, "rate_scale"), 1.0, 0.0, 1e6),
            write_fraction=toml.number(("phases", i, "write_fraction"), write_fraction, 0.0, 1.0),
            working_set=toml.number(("phases", i, "working_set"), working_set, 0.0, 1.0),
            zipf=toml.number(("phases", i, "zipf"), zipf, 0.0, 4.0),
            fill=fill,
            fill_fraction=toml.number(("phases", i, "fill_fraction"), 1.0 if fill else 0.0, 0.0, 1.0),
        ))
    overrides: dict[str, dict[str, float]] = {}
    for arch in ("", "x86", "arm64", "ppc", "mips"):
        table = "costs" if not arch else f"costs.{arch}"
        section = toml.get((table,), {})
        for key in COST_KEYS:
            if key in section:
                overrides.setdefault(arch, {})[key] = toml.number((table, key), 0.0, 0.0, 1e6)
        for key in section:
            if key not in COST_KEYS and not (arch == "" and key in ("x86", "arm64", "ppc", "mips")):
                raise toml.fail((table, key), f"unknown cost {key!r}; known: {', '.join(COST_KEYS)}")
    return Workload(
        name=name,
        description=toml.string(("", "description"), ""),
        seed=toml.integer(("", "seed"), 1, 0, 2**31 - 1),
        vms=vms,
        pages_per_vm=pages,
        vcpus=toml.integer(("vms", "vcpus"), 1, 1, 512),
        zero=zero,
        shared=shared,
        duplicate=duplicate,
        phases=tuple(phases),
        pages_to_scan=toml.integer(("ksm", "pages_to_scan"), 100, 1, 1_000_000),
        sleep_millisecs=toml.integer(("ksm", "sleep_millisecs"), 20, 1, 60_000),
        max_page_sharing=toml.integer(("ksm", "max_page_sharing"), 256, 2, 1 << 20),
        cost_overrides=overrides,
        base_rate=rate,
        reclaim_rate=toml.number(("reclaim", "pages_per_second"), 0.0, 0.0, 1e7),
        idle_seconds=toml.number(("reclaim", "idle_seconds"), 60.0, 0.001, 86400.0),
        source=source,
        text=text,
    )
