"""The reevaluation report's tables: each cell kept as the text it is printed as.

The sentences of the report take their figures from here, by row and column, so a
figure in a sentence is the figure in the table, or is computed from the printed
values a reader sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mmuspec.simulate.run import LOST_UNIT, EraResult
from mmuspec.simulate.workload import Workload

# Labels the sentences look up.
NO_CHANGE_PTE = "2.6.32 w/o change_pte"
ARM64_WORKLOAD = "ltp-ksm02"
BOOT_ROW = "VM exits per VM in the boot phase"

_NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?")


def number(text: str) -> float:
    """The value of a printed figure ("+3.5%", "1,354", "0.4537")."""
    match = _NUMBER.search(text)
    if match is None:
        raise ValueError(f"no number in {text!r}")
    return float(match.group().replace(",", ""))


@dataclass
class Table:
    """One workload's table as printed.  A row nested under another (printed indented)
    is keyed ``"parent | row"``."""

    workload: Workload
    arch: str
    results: dict[str, EraResult] = field(repr=False)
    rows: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        return list(self.results)

    def cost(self, key: str) -> float:
        """A cost constant as the table's runs were charged it."""
        return self.results["5.13"].costs[key]

    def text(self, row: str, column: str) -> str:
        return self.rows[row][column]

    def value(self, row: str, column: str) -> float:
        return number(self.text(row, column))

    def markdown(self) -> list[str]:
        lines = ["| | " + " | ".join(self.columns) + " |", "|---|" + "---|" * len(self.columns)]
        for key, cells in self.rows.items():
            label = "  " + key.split(" | ")[1] if " | " in key else key
            lines.append(f"| {label} | " + " | ".join(cells[c] for c in self.columns) + " |")
        return lines


def _pct(new: float, base: float) -> float:
    return 100.0 * (new - base) / base if base else 0.0


def boot_seconds(workload: Workload) -> float:
    """The length of a first phase named "boot" (0 without one)."""
    phases = workload.phases
    return phases[0].duration if phases and phases[0].name == "boot" else 0.0


def boot_exits(result: EraResult, workload: Workload) -> float:
    """Exits in the boot phase, per VM, from the per-second series."""
    t, per_s = result.series["t"], result.series["exits_per_s"]
    width = t[0] if t else 1.0
    return sum(x * width for end, x in zip(t, per_s, strict=True) if end <= boot_seconds(workload) + 1e-9) / workload.vms


def build_table(workload: Workload, results: dict[str, EraResult], arch: str = "x86") -> Table:
    table = Table(workload, arch, results)
    rs = results.values()
    base, gone = results["5.13"], results["6.10"]
    vcpu_seconds = workload.vms * workload.vcpus * workload.duration
    parent = ""

    def row(name: str, cells: list[str]) -> None:
        nonlocal parent
        if name.startswith("  "):
            name = f"{parent} | {name.strip()}"
        else:
            parent = name
        table.rows[name] = dict(zip(table.columns, cells, strict=True))

    def lost_pct(r: EraResult) -> float:
        return 100 * r.guest_time_lost_s / vcpu_seconds

    def flush_pct(r: EraResult) -> float:
        return 100 * r.tlb_flushes * r.costs["tlb_flush_us"] / 1e6 / vcpu_seconds

    row("VM exits", [f"{r.exits_total:,}" for r in rs])
    row("VM exits per second", [f"{r.exits_total / workload.duration:,.1f}" for r in rs])
    row("  vs 5.13", [f"{_pct(r.exits_total, base.exits_total):+.1f}%" for r in rs])
    row("  vs 6.10", [f"{_pct(r.exits_total, gone.exits_total):+.1f}%" for r in rs])
    row("refaults after a merge's zap", [f"{r.exits['refault_after_zap']:,}" for r in rs])
    row("exits after a retry", [f"{r.exits['retry_after_invalidation']:,}" for r in rs])
    row("change_pte calls that installed an SPTE", [f"{r.change_pte_installed_spte:,}" for r in rs])
    row("change_pte calls that re-pointed an SPTE", [f"{r.change_pte_repointed_spte:,}" for r in rs])
    row("change_pte calls that removed an SPTE", [f"{r.change_pte_removed_spte:,}" for r in rs])
    row("TLB flushes", [f"{r.tlb_flushes:,}" for r in rs])
    row("  vs 5.13", [f"{_pct(r.tlb_flushes, base.tlb_flushes):+.1f}%" for r in rs])
    row(f"guest time lost ({LOST_UNIT})", [f"{lost_pct(r):.5f}" for r in rs])
    row("  of which TLB flushes", [f"{flush_pct(r):.5f}" for r in rs])
    row("  vs 5.13", [f"{_pct(r.guest_time_lost_s, base.guest_time_lost_s):+.1f}%" for r in rs])
    row("host CPU (s)", [f"{r.host_cpu_s:.2f}" for r in rs])
    row("  vs 5.13", [f"{_pct(r.host_cpu_s, base.host_cpu_s):+.1f}%" for r in rs])
    row("memory saved (MiB)", [f"{r.ksm['pages_sharing'] * 4096 / 2**20:,.0f}" for r in rs])
    if boot_seconds(workload):
        row(BOOT_ROW, [f"{boot_exits(r, workload):,.0f}" for r in rs])
    return table
