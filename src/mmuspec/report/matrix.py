"""The scenario x era x arch table of ``mmuspec check --matrix``."""

from __future__ import annotations

from collections.abc import Sequence

from mmuspec.checking import MatrixCell

_SHORT = {"data_integrity": "data", "no_use_after_free": "uaf", "no_deadlock": "deadlock"}


def cell_text(cell: MatrixCell) -> str:
    if cell.verdict == "n/a":
        return "n/a"
    if cell.verdict == "violation":
        head = f"UNSAFE {_SHORT.get(cell.property or '', cell.property)}"
    elif cell.verdict == "warning":
        head = "WARN"
    elif cell.verdict == "unknown":
        head = "?"
    else:
        head = "safe"
    if not cell.change_pte_called:
        live = "-"
    elif cell.change_pte_useful:
        live = "live"
    elif cell.change_pte_useful is None or cell.change_pte_removed is None:
        live = "?"
    else:
        live = "removes" if cell.change_pte_removed else "dead"
    return f"{head}, {live}"



def matrix_text(cells: Sequence[MatrixCell], arches: Sequence[str]) -> str:
    """A Markdown table: one row per scenario and era, one column per arch."""
    rows: dict[tuple[str, str], dict[str, MatrixCell]] = {}
    for cell in cells:
        rows.setdefault((cell.scenario, cell.era), {})[cell.arch] = cell
    header = ["scenario", "era", *arches]
    body = [[scenario, era, *(cell_text(row[a]) if a in row else "" for a in arches)] for (scenario, era), row in rows.items()]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cols: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"

    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in body]
    return "\n".join(out)


LEGEND = (
    "safe: every property holds in every interleaving; WARN: a kernel assertion fired; "
    "UNSAFE data/uaf: data_integrity / no_use_after_free violated.\n"
    "live: some change_pte call installed or re-pointed an SPTE (change_pte_installed_spte or "
    "change_pte_repointed_spte reachable), which saves an exit; removes: change_pte only ever removed "
    "an SPTE (change_pte_removed_spte), which saves nothing; dead: change_pte ran but never changed "
    "the SPTE; -: change_pte never ran.\n"
    "n/a: the era's kernel has no such subscriber (mmu_interval_notifier came in v5.5, the "
    "gfn_to_pfn_cache in v5.17), so the scenario does not run there."
)
