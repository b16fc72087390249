"""The reevaluation the seed commit asks for: what an effective change_pte saves.

For each ready workload, simulate the eras in which change_pte is dead (5.13) or
gone (6.10) against those in which it works: the 2019 proposal (start/end leave the
SPTE alone, change_pte updates it in place), 2009's unwrapped change_pte, 2.6.32
with change_pte taken away (to tell its fault path from change_pte), and the 2023
prefetch idea as a variant of 5.13; and, because arm64's handler is not dead in
5.13, one workload on arm64.

Every figure is a cell of a ``Table`` (``reevaluation_table``), kept as the text it
is printed as; the sentences (``reevaluation_prose``) quote those texts, or compute
from the printed values, so that no sentence can disagree with the table it cites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmuspec.model import era_config, load_variant
from mmuspec.model.switches import Value
from mmuspec.report.plots import bar_plot
from mmuspec.report.reevaluation_prose import arm64_section, fault_path_section, header, verdicts
from mmuspec.report.reevaluation_table import ARM64_WORKLOAD, NO_CHANGE_PTE, Table, build_table
from mmuspec.simulate.costs import COST_KEYS, cost_model, cost_source
from mmuspec.simulate.profile import CostProfile, with_profile
from mmuspec.simulate.run import EraResult, simulate_era
from mmuspec.simulate.workload import Workload, load_workload

WORKLOADS = ("vdi", "mixed", "write-heavy", "ltp-ksm02")
PREFETCH = Path(__file__).resolve().parents[3] / "examples" / "variants" / "prefetch_in_change_pte.py"
ARM64_COLUMNS = ("5.13", "6.10", "glisse-2019")


@dataclass(frozen=True)
class Column:
    label: str
    era: str
    variant: bool = False
    overrides: dict[str, Value] = field(default_factory=dict)


COLUMNS = (
    Column("5.13", "5.13"),
    Column("6.10", "6.10"),
    Column("glisse-2019", "glisse-2019"),
    Column("2.6.32", "2.6.32"),
    # 2.6.32's mm and fault path with a KVM that has no .change_pte(): its mm then calls
    # ->invalidate_page instead, as it did for any subscriber without change_pte.
    Column(NO_CHANGE_PTE, "2.6.32", overrides={"kvm.change_pte": "none"}),
    Column("5.13+prefetch", "5.13", variant=True),
)


def run(workload: Workload, seed: int, columns: Sequence[Column] = COLUMNS, arch: str = "x86") -> dict[str, EraResult]:
    prefetch = load_variant(str(PREFETCH)) if PREFETCH.exists() else None
    out = {}
    for col in columns:
        if col.variant and prefetch is None:
            continue
        config = era_config(col.era, {**col.overrides, "arch": arch})
        out[col.label] = simulate_era(workload, col.label, col.era, config, seed, prefetch if col.variant else None)
    return out


def cost_table(tables: Sequence[Table], profile: CostProfile | None = None) -> list[str]:
    """Every cost constant with the value the tables were simulated with and its source,
    from ``simulate/costs.py`` or, for a value a measured profile gives, the profile; a
    workload that overrides a default is named."""
    arches = ("x86", "arm64")
    measured = profile.values if profile is not None else {}
    models = {arch: {**cost_model(arch).as_dict(), **measured} for arch in arches}
    lines = ["| constant | x86 (µs) | arm64 (µs) | charges for | source |", "|---|---|---|---|---|"]
    for key in COST_KEYS:
        cost = cost_source("x86", key)
        if profile is not None and key in measured:
            lines.append(f"| `{key}` | {measured[key]:g} | {measured[key]:g} | {cost.what} | "
                         f"**measured**: {profile.source_of(key)} (the default was {cost.value:g} µs"
                         f"{', assumed' if cost.assumed else ''}) |")
            continue
        sources = [cost.source + (" **assumed** [I]" if cost.assumed else "")]
        arm = cost_source("arm64", key)
        if arm is not cost:
            sources.append("arm64: " + arm.source + (" **assumed** [I]" if arm.assumed else ""))
        lines.append(f"| `{key}` | {models['x86'][key]:g} | {models['arm64'][key]:g} | {cost.what} | "
                     + "; ".join(sources) + " |")
    overridden = sorted({f"`{t.workload.name}` sets `{key}` = {value:g} µs ({t.arch})"
                         for t in tables for r in t.results.values() for key, value in r.costs.items()
                         if value != models.get(t.arch, models["x86"])[key]})
    lines += ["", ("Overrides: " + "; ".join(overridden) + ".") if overridden else "No workload overrides a default."]
    return lines


def write_report(out_dir: Path, *, duration: float | None = None, seed: int | None = None,
                 workloads: Sequence[Workload] | None = None, profile: CostProfile | None = None) -> Path:
    """Simulate and write ``reevaluation.md`` with its plots; ``workloads`` replaces the
    ready ones (each still named as one of them for the comparisons to find it)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = list(workloads) if workloads is not None else [load_workload(name) for name in WORKLOADS]
    tables: dict[str, Table] = {}
    arm64: Table | None = None
    for workload in chosen:
        if duration is not None:
            workload = workload.with_duration(duration)
        workload = with_profile(workload, profile)
        seed_ = workload.seed if seed is None else seed
        results = run(workload, seed_)
        tables[workload.name] = build_table(workload, results)
        if workload.name == ARM64_WORKLOAD:
            arm_results = run(workload, seed_, [c for c in COLUMNS if c.label in ARM64_COLUMNS], "arm64")
            arm64 = build_table(workload, arm_results, "arm64")
    names = list(tables)
    labels = next(iter(tables.values())).columns
    bar_plot(names, {label: [t.value("VM exits per second", label) for t in tables.values()] for label in labels},
             "VM exits per second", "VM exits per second, by era (x86)", out_dir / "reevaluation_exits.png")
    bar_plot(names, {label: [t.value("host CPU (s)", label) for t in tables.values()] for label in labels},
             "host CPU (s)", "Host CPU on KSM, notifiers and faults, by era (x86)",
             out_dir / "reevaluation_host_cpu.png")
    every = [*tables.values(), *([arm64] if arm64 else [])]
    lines = header()
    lines += ["## Costs", "",
              "What the simulator charges for each event it counts, printed from "
              "`src/mmuspec/simulate/costs.py`. x86's values apply to the workload tables, arm64's to "
              "the arm64 table. A value marked **assumed** has no published measurement behind it.", ""]
    if profile is not None:
        lines += [f"Measured values come from the cost profile {', '.join(profile.sources)}; every other "
                  "value is the built-in one.", ""]
    lines += cost_table(every, profile)
    lines.append("")
    for name, table in tables.items():
        w = table.workload
        lines += [f"## {name}", "", f"{w.description} "
                  f"({w.vms} VMs x {w.pages_per_vm * 4096 / 2**30:g} GiB, {w.vcpus} vCPUs, "
                  f"{w.duration:.0f} s, KSM pages_to_scan={w.pages_to_scan}, "
                  f"sleep_millisecs={w.sleep_millisecs}; x86)", ""]
        lines += table.markdown()
        lines.append("")
    lines += fault_path_section(tables)
    if arm64 is not None:
        lines += arm64_section(arm64, tables.get(ARM64_WORKLOAD))
    lines += verdicts(tables)
    lines += [
        "",
        "## Where the simulator is blind",
        "",
        "* Guests, not the host, decide how often a merged page is touched again; the workloads' touch rates "
        "and Zipf skews are assumptions, and the savings scale with them.",
        "* Remote TLB flushes are charged a fixed cost each; with many vCPUs per VM a flush costs more, which "
        "weighs against keeping SPTEs alive.",
        "* Host CPU counts ksmd, the notifier calls and fault handling at the costs above; rmap walks and "
        "contention on mmu_lock are not counted.",
        "* The model has one SPTE per page (no huge pages, no nested paging); huge pages would make KSM split "
        "them first, which none of the eras avoids.",
    ]
    path = out_dir / "reevaluation.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
