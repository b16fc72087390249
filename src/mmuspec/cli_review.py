"""The command line for patch review and CI: ``diff``, ``check-all``, and what ``check`` and
``bugs`` print for CI (``--format tap|junit``), with ``--smoke``, ``--coverage`` and
``--estimate``.  ``cli.py`` builds the other commands and dispatches here.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from mmuspec.api import CheckResult, finish
from mmuspec.checking import CheckSpec, Reductions, build_kernel, run_check
from mmuspec.errors import EXIT_BOUNDED, EXIT_FOUND, EXIT_SAFE, UsageError
from mmuspec.expectations import status
from mmuspec.model import (
    DEFAULT_ERA,
    ERAS,
    SWITCHES,
    Scenario,
    builtin_names,
    load_scenario,
    load_variant,
)
from mmuspec.model import parse_assignments as _parse_assignments
from mmuspec.report.ci import FAIL, PASS, SKIP, Case, render
from mmuspec.report.progress import search_progress
from mmuspec.suggest import did_you_mean

ARCHES = [str(c) for c in SWITCHES["arch"].choices]
FORMATS = ("text", "tap", "junit", "email")
SMOKE_SECONDS = 10.0


def _wrap(text: str) -> str:
    """A description for a parser whose epilog keeps its own line breaks."""
    return textwrap.fill(text, 78)


def add_ci_options(parser: argparse.ArgumentParser, *, smoke: bool = True) -> None:
    parser.add_argument("--format", choices=FORMATS, default="text",
                        help="text (default), tap (kselftest-style TAP 13: one ok/not ok line per case, "
                        "# SKIP for a search that could not decide), junit (JUnit XML for CI test reports) or email "
                        "(the text for a mail to a list: 72 columns, the command line and mmuspec commit "
                        "on top, tables as blocks, relative paths)")
    if smoke:
        parser.add_argument("--smoke", nargs="?", type=float, const=SMOKE_SECONDS, metavar="SECONDS",
                            help=f"a pre-commit budget: stop each search after SECONDS (default {SMOKE_SECONDS:g}); "
                            "a search that finishes in time is still a proof, one that does not exits 4 "
                            "unless it found something")


def add_check_options(check: argparse.ArgumentParser) -> None:
    add_ci_options(check)
    check.add_argument("--coverage", action="store_true",
                       help="after the search: transitions per step, steps never enabled, and the switches "
                       "whose other values would change a step on the states reached (searches in this process)")
    check.add_argument("--estimate", nargs="?", type=int, const=1000, metavar="WALKS",
                       help="do not search: estimate the number of states from WALKS random walks "
                       "(default 1000; Chao1 per walk step) and exit; rough: see the README")


def check_smoke(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise UsageError(f"--smoke {value:g}: the budget must be positive seconds")
    return value


def check_cases(result: CheckResult) -> list[Case]:
    """``check`` as CI cases: one per expectation of the scenario file when it has some
    for this era, else one per property and kernel warning."""
    spec, search = result.spec, result.search
    prefix = f"{spec.scenario.name} era {spec.era} arch {spec.config['arch']}"
    seconds = search.seconds
    if result.expectations:
        out = []
        for j in result.expectations:
            outcome = {True: PASS, False: FAIL, None: SKIP}[j.matches]
            got = j.got if j.got is not None else "not determined"
            out.append(Case(f"{prefix}: {j.key} {j.expected}", outcome, f"got {got}" + (f" ({j.detail})" if j.detail
                                                                                         else ""), "", seconds))
        return out
    from mmuspec.model import EVENTS
    from mmuspec.report.trace_text import format_trace

    out = []
    for event in EVENTS:
        if event.kind not in ("property", "warning"):
            continue
        witness = search.witnesses.get(event.id)
        name = f"{prefix}: {event.id}"
        if witness is not None:
            trace = format_trace(result.trace(event.id))
            out.append(Case(name, FAIL, f"{'violated' if event.kind == 'property' else 'fired'} in "
                            f"{witness.length} steps", trace, seconds))
        elif search.complete and not search.interrupted:
            out.append(Case(name, PASS, seconds=seconds))
        else:
            out.append(Case(name, SKIP, search.stop_reason or "search incomplete", seconds=seconds))
    return out


def print_check(args: argparse.Namespace, result: CheckResult) -> int:
    """What ``check`` prints for a finished search, in the chosen form; its exit status."""
    if args.json:
        print(json.dumps(result.to_json(witnesses=args.witnesses), indent=2))
    elif args.format != "text":
        print(render(check_cases(result), args.format, f"mmuspec check: {result.spec.label()}", "mmuspec.check"))
    else:
        print(result.text(witnesses=args.witnesses))
    return result.exit_status


def print_estimate(spec: CheckSpec, walks: int, seed: int) -> int:
    from mmuspec.explore.estimate import estimate

    if walks < 1:
        raise UsageError(f"--estimate {walks}: at least one walk")
    e = estimate(build_kernel(spec, Reductions()), walks=walks, seed=seed)
    print(f"mmuspec check --estimate: {spec.label()}")
    print(f"about {e.states:,} states (Chao1 per walk step over {e.walks} random walks of at most 200 steps, "
          f"seed {seed}; {e.seen:,} distinct states met; {e.seconds:.2f} s)")
    print("a rough guide, not a bound: on the built-in scenarios it was within 0.2x to 3x of the exhaustive count")
    return EXIT_SAFE


# -- check-all ----------------------------------------------------------------------------


def add_check_all(sub: Any) -> None:
    p = sub.add_parser(
        "check-all", help="check every scenario file of a folder against its [expect] table",
        description=_wrap("Run every scenario file (*.toml) in DIR for each era its [expect] table names (or the "
                          "default era, or the --era given) and compare the results with what the file expects, as "
                          "LKMM's scripts compare litmus results with their Result: lines.  Files without [expect] "
                          "are listed and skipped."),
        epilog="examples:\n  mmuspec check-all examples/expect\n"
        "  mmuspec check-all examples/expect --era 6.10 --format tap\n"
        "  mmuspec check-all examples/expect --smoke 5 --format junit > mmuspec.xml\n\n"
        "exit status: 0 every expectation holds, 1 one does not, 2 bad input (nothing is run), 4 a search\n"
        "could not decide (--smoke), 130 Ctrl-C.  The [expect] table is documented in docs/scenario-keys.md.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", metavar="DIR", help="a folder of scenario files")
    p.add_argument("--era", action="append", metavar="ERA", help="only these eras (repeatable)")
    p.add_argument("--arch", action="append", choices=ARCHES, metavar="ARCH", help="arches to run (default x86)")
    p.add_argument("--json", action="store_true", help="print one JSON object (schema mmuspec.check-all/1)")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    p.add_argument("--variant", metavar="FILE", help="run every check with this variant (a proposed patch)")
    add_ci_options(p)


def load_folder(folder: str) -> list[Scenario]:
    """Every scenario file of ``folder``, all validated before anything runs."""
    path = Path(folder)
    if not path.is_dir():
        raise UsageError(f"{folder}: no such folder")
    files = sorted(path.glob("*.toml"))
    if not files:
        raise UsageError(f"{folder}: no scenario files (*.toml)")
    return [load_scenario(str(f)) for f in files]


def plan(scenarios: list[Scenario], eras: list[str] | None, arches: list[str]) -> list[tuple[Scenario, str, str]]:
    runs = []
    for scenario in scenarios:
        if not scenario.expect:
            continue
        named = scenario.expect.eras()
        if scenario.expect.any_era() and DEFAULT_ERA not in named:
            named = sorted([*named, DEFAULT_ERA], key=list(ERAS).index)
        chosen = named if eras is None else [e for e in eras if e in named or scenario.expect.for_era(e)]
        runs += [(scenario, era, arch) for era in chosen for arch in arches]
    return runs


def cmd_check_all(args: argparse.Namespace) -> int:
    eras = [era_name(e) for e in args.era] if args.era else None
    smoke = check_smoke(args.smoke)
    scenarios = load_folder(args.folder)
    variant = load_variant(args.variant) if args.variant else None
    runs = plan(scenarios, eras, args.arch or ["x86"])
    without = [s.source for s in scenarios if not s.expect]
    if not runs:
        raise UsageError(f"{args.folder}: no scenario file has an [expect] table for the eras asked")
    results: list[CheckResult] = []
    started = time.perf_counter()
    with search_progress("check-all", enabled=not args.quiet and not args.json and args.format == "text") as progress:
        for n, (scenario, era, arch) in enumerate(runs):
            if progress is not None:
                from mmuspec.explore import Progress

                progress(Progress(n, 0, 0, len(runs) - n, time.perf_counter() - started))  # type: ignore[operator]
            spec = CheckSpec(scenario, era, {"arch": arch}, variant)
            kernel, search = run_check(spec, reductions=Reductions(), max_seconds=smoke)
            if search.interrupted:
                raise KeyboardInterrupt
            results.append(finish(spec, kernel, search))
    if args.json:
        print(json.dumps(check_all_json(args.folder, results, without), indent=2))
    elif args.format != "text":
        print(render(check_all_cases(results), args.format, f"mmuspec check-all {args.folder}", "mmuspec.check-all"))
    else:
        print(check_all_text(args.folder, results, without, time.perf_counter() - started))
    return suite_status(results)


def suite_status(results: list[CheckResult]) -> int:
    verdicts = [status(r.expectations) for r in results]
    if any(v is False for v in verdicts):
        return EXIT_FOUND
    return EXIT_BOUNDED if any(v is None for v in verdicts) else EXIT_SAFE


def _row(r: CheckResult) -> tuple[str, ...]:
    found = ", ".join(w.event for w in r.search.failures)
    result_text = r.search.verdict + (f" ({found})" if found else "")
    expected = "; ".join(f"{j.key} {j.expected}" for j in r.expectations)
    word = {True: "yes", False: "NO", None: "?"}[status(r.expectations)]
    return (Path(r.spec.scenario.source).name, r.spec.era, str(r.spec.config["arch"]), result_text, expected, word)


def check_all_text(folder: str, results: list[CheckResult], without: list[str], seconds: float) -> str:
    header = ("scenario", "era", "arch", "result", "expected", "as expected")
    variants = {r.spec.variant.path for r in results if r.spec.variant is not None}
    title = f"mmuspec check-all {folder}" + "".join(f" --variant {v}" for v in sorted(variants))
    lines = [title, "", _table(header, [_row(r) for r in results])]
    for r in results:
        if status(r.expectations) is not True:
            bad = [j for j in r.expectations if j.matches is not True]
            width = max(len(j.key) for j in bad)
            lines += ["", f"{Path(r.spec.scenario.source).name}, era {r.spec.era}, arch {r.spec.config['arch']}:"]
            lines += [j.line(width) for j in bad]
    good = sum(1 for r in results if status(r.expectations) is True)
    lines += ["", f"{good} of {len(results)} checks as expected; {seconds:.1f} s"]
    if without:
        lines.append("no [expect] table (skipped): " + ", ".join(Path(s).name for s in without))
    return "\n".join(lines)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cols: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def check_all_cases(results: list[CheckResult]) -> list[Case]:
    cases = []
    for r in results:
        name = f"{Path(r.spec.scenario.source).name} era {r.spec.era} arch {r.spec.config['arch']}"
        st = status(r.expectations)
        bad = [j for j in r.expectations if j.matches is not True]
        message = "; ".join(f"{j.key}: expected {j.expected}, got {j.got or 'not determined'}" for j in bad)
        cases.append(Case(name, {True: PASS, False: FAIL, None: SKIP}[st], message,
                          "\n".join(j.line(10) for j in bad), r.search.seconds))
    return cases


def check_all_json(folder: str, results: list[CheckResult], without: list[str]) -> dict[str, Any]:
    return {
        "schema": "mmuspec.check-all/1",
        "folder": folder,
        "all_match": all(status(r.expectations) is True for r in results),
        "checks": [{"scenario": r.spec.scenario.name, "source": r.spec.scenario.source, "era": r.spec.era,
                    "arch": str(r.spec.config["arch"]), "verdict": r.search.verdict,
                    "complete": r.search.complete, "states": r.search.states,
                    "seconds": round(r.search.seconds, 4), "matches": status(r.expectations),
                    "expectations": [j.to_json() for j in r.expectations]} for r in results],
        "skipped": without,
    }


# -- diff --------------------------------------------------------------------------------


class _SideArg(argparse.Action):
    """Keeps --era, --set and --variant in command-line order: each --era opens a side."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        items = list(getattr(namespace, "sides", None) or [])
        items.append((option_string, values))
        namespace.sides = items


def add_diff(sub: Any) -> None:
    p = sub.add_parser(
        "diff", help="what a change does to the protocol: the answers that differ between two configurations",
        description=_wrap("Search every scenario x arch exhaustively on two sides, A and B, and list the verdicts "
                          "and reachability answers that differ, each with the shortest witness of the side where "
                          "the event is reached.  Each --era opens a side; the --set and --variant after it belong "
                          "to that side.  With one --era, A is that era as it is and B is the same era with the "
                          "--set and --variant given."),
        epilog="examples:\n  mmuspec diff --era 6.8 --era 6.10                 two eras\n"
        "  mmuspec diff --era 5.13 --variant patch.py          a patch under review\n"
        "  mmuspec diff ksm-merge --era 5.13 --set kvm.change_pte=none --arches x86,arm64\n"
        "  mmuspec diff --era 3.7 --era 5.13 --format junit > diff.xml\n\n"
        "exit status: 0 identical, 1 some answer differs, 2 bad input, 4 a search could not decide\n"
        "(--smoke), 130 Ctrl-C.  The --json object is documented in docs/json.md (mmuspec.diff/1).",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="scenarios (default: the built-in ones)")
    p.add_argument("--era", action=_SideArg, metavar="ERA", help="open a side: an era name (see mmuspec eras)")
    p.add_argument("--set", action=_SideArg, metavar="NAME=VALUE", help="a switch of the current side (repeatable)")
    p.add_argument("--variant", action=_SideArg, metavar="FILE.py", help="a variant (patch) on the current side")
    p.add_argument("--arches", metavar="A1,A2", help="the arches (default all)")
    p.add_argument("--vcpus", type=int, metavar="N", help="vCPUs (default: each scenario's)")
    p.add_argument("--accesses", type=int, metavar="N", help="accesses per vCPU (default: each scenario's)")
    p.add_argument("--witnesses", action="store_true", help="print each witness as a full trace")
    p.add_argument("--json", action="store_true", help="print one JSON object (schema mmuspec.diff/1)")
    p.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    add_ci_options(p)


def era_name(name: str) -> str:
    """``name`` if it is an era; else a one-line error with the closest names."""
    from mmuspec.diffing import check_era

    return check_era(name)


def parse_sides(items: list[tuple[str, str]]) -> tuple[Any, Any]:
    from mmuspec.diffing import Side

    groups: list[dict[str, Any]] = []
    for option, value in items:
        if option == "--era":
            groups.append({"era": era_name(value), "sets": [], "variant": None})
        elif not groups:
            raise UsageError(f"{option} {value}: give --era first (each --era opens a side)")
        elif option == "--set":
            groups[-1]["sets"].append(value)
        elif groups[-1]["variant"] is not None:
            raise UsageError(f"--variant {value}: one variant per side")
        else:
            groups[-1]["variant"] = value

    def side(g: dict[str, Any]) -> Side:
        for text in g["sets"]:
            name = text.partition("=")[0].strip()
            if name not in SWITCHES:
                raise UsageError(f"--set {text!r}: unknown switch {name!r}{did_you_mean(name, SWITCHES)}")
        variant = load_variant(g["variant"]) if g["variant"] else None
        return Side(g["era"], _parse_assignments(g["sets"]), variant)

    if len(groups) == 1:
        if not groups[0]["sets"] and groups[0]["variant"] is None:
            raise UsageError("diff needs two sides: --era A --era B, or --era A with --set or --variant for B")
        return Side(groups[0]["era"]), side(groups[0])
    if len(groups) != 2:
        raise UsageError("diff needs two sides: --era A [--set ...] [--variant F] --era B [--set ...] [--variant F]")
    return side(groups[0]), side(groups[1])


def cmd_diff(args: argparse.Namespace) -> int:
    from mmuspec.diffing import run_diff
    from mmuspec.report.diff import diff_cases, diff_json, diff_status, diff_text
    from mmuspec.suggest import check_builtin

    a, b = parse_sides(getattr(args, "sides", None) or [])
    arches = ARCHES if not args.arches else [x.strip() for x in args.arches.split(",") if x.strip()]
    for arch in arches:
        if arch not in ARCHES:
            raise UsageError(f"unknown arch {arch!r}{did_you_mean(arch, ARCHES)}; known: {', '.join(ARCHES)}")
    from mmuspec.model.scenario import scenario_names

    names = args.scenarios or builtin_names()
    for name in names:
        check_builtin("scenario", name, scenario_names())
    scenarios = [load_scenario(n).scaled(args.vcpus, args.accesses) for n in names]
    smoke = check_smoke(args.smoke)
    started = time.perf_counter()
    total = len(scenarios) * len(arches)
    with search_progress("diff", enabled=not args.quiet and not args.json and args.format == "text") as progress:
        done = 0

        def on_cell(_cell: Any) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                from mmuspec.explore import Progress

                progress(Progress(done, 0, 0, total - done, time.perf_counter() - started))  # type: ignore[operator]

        cells, skipped = run_diff(scenarios, arches, a, b, max_seconds=smoke, on_cell=on_cell,
                                  skip_unrunnable=not args.scenarios)
    if args.json:
        print(json.dumps(diff_json(cells, a, b, skipped), indent=2))
    elif args.format != "text":
        print(render(diff_cases(cells), args.format, f"mmuspec diff: A = {a.label()}, B = {b.label()}",
                     "mmuspec.diff"))
    else:
        print(diff_text(cells, a, b, witnesses=args.witnesses, skipped=skipped))
    print(f"{len(cells) * 2} searches, {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return diff_status(cells)


# -- bugs ----------------------------------------------------------------------------------


def bugs_cases(results: list[Any]) -> list[Case]:
    from mmuspec.report.bugs import as_expected, outcome_text

    cases = []
    for bug, before, after, alone in results:
        name = f"{bug.id} {bug.commit}: {bug.title}"
        secs = before.seconds + after.seconds + alone.seconds
        if as_expected((bug, before, after, alone)):
            cases.append(Case(name, PASS, seconds=secs))
        else:
            details = (f"before the fix ({before.side.label}): expected {before.side.expect}, {outcome_text(before)}\n"
                       f"after the fix ({after.side.label}): expected safe, {outcome_text(after)}\n"
                       f"fix alone: expected safe, {alone.found}")
            cases.append(Case(name, FAIL, "not as expected", details, secs))
    return cases

