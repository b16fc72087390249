"""The real-bugs table of ``mmuspec bugs``, as text and as JSON."""

from __future__ import annotations

from typing import Any

from mmuspec.rediscover import Bug, Outcome

SCHEMA = "mmuspec.bugs/1"
HEADER = ("bug", "commit", "title", "before the fix", "found", "after the fix", "found", "fix alone",
          "as expected")
Result = tuple[Bug, Outcome, Outcome, Outcome]


def _title(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def outcome_text(o: Outcome) -> str:
    if o.found in ("safe", "unknown"):
        return f"{o.found}, {o.result.states:,} states, {o.seconds:.2f} s"
    witness = o.result.witnesses[o.found]
    loop = witness.loop_start
    shape = f"{o.trace_length} steps" + (f", {witness.cycle or 'loop'} from step {loop + 1}" if loop is not None else "")
    return f"{o.found}, {shape}, {o.seconds:.2f} s"


def as_expected(result: Result) -> bool:
    return all(o.matches for o in result[1:])


def row(result: Result) -> tuple[str, ...]:
    bug, before, after, alone = result
    arch = str(before.side.spec.config["arch"])
    where = f" ({arch})" if arch != "x86" else ""
    return (bug.id, bug.commit, _title(bug.title), before.side.label + where, outcome_text(before),
            after.side.label + where, outcome_text(after), alone.found, "yes" if as_expected(result) else "NO")


def table_text(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]

    def line(cols: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"

    return "\n".join([line(HEADER), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def summary(results: list[Result], variant: str | None = None) -> str:
    good = [r[0] for r in results if as_expected(r)]
    bugs = [b for b in good if b.kind == "bug"]
    hazards = [b for b in good if b.kind == "hazard"]
    history = [b for b in good if b.kind == "history"]
    total = sum(o.seconds for r in results for o in r[1:])
    prevented = f", {len(hazards)} hazard{'s' if len(hazards) != 1 else ''} prevented before any kernel had it" \
        if hazards else ""
    text = (f"{len(good)} of {len(results)} entries as expected: {len(bugs)} bug{'s' if len(bugs) != 1 else ''} found before their fix and "
            f"gone after it (and with the fix alone){prevented}, {len(history)} history entries; "
            f"{total:.1f} s of search")
    wrong = [r[0].id for r in results if not as_expected(r)]
    if wrong and variant:
        text += f"\nNOT as expected: {', '.join(wrong)}: the variant {variant} changes their verdicts"
    elif wrong:
        text += f"\nNOT as expected: {', '.join(wrong)} (the model and the kernel disagree: see the bug files)"
    return text


def side_json(o: Outcome) -> dict[str, Any]:
    spec = o.side.spec
    witness = o.result.witnesses.get(o.found)
    return {
        "era": spec.era,
        "set": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in sorted(spec.overrides.items())},
        "variant": spec.variant.path if spec.variant else None,
        "expect": o.side.expect,
        "found": o.found,
        "matches": o.matches,
        "trace_length": witness.length if witness else None,
        "loop_start": witness.loop_start if witness else None,
        "cycle": witness.cycle if witness else None,
        "states": o.result.states,
        "transitions": o.result.transitions,
        "seconds": round(o.seconds, 4),
    }


def bugs_json(results: list[Result]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "entries": [
            {"id": b.id, "kind": b.kind, "commit": b.commit, "fixes": b.fixes or None, "title": b.title,
             "version": b.version, "scenario": b.scenario, "race": b.race, "source": b.source,
             "before": side_json(x), "after": side_json(y), "fix_alone": side_json(z),
             "matches": as_expected((b, x, y, z))}
            for b, x, y, z in results
        ],
        "all_match": all(as_expected(r) for r in results),
    }
