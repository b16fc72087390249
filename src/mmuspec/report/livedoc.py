"""Reports whose results come from the tool, never from the author's keyboard.

A report in ``reports/`` is Markdown prose with *directive blocks*: an HTML comment
naming an ``mmuspec`` command, the command's result, and a closing comment::

    <!-- mmuspec: check oom-reaper-itree --era 6.10 --first -->
    ...the command's output, as a fenced block...
    <!-- /mmuspec -->

``render()`` reruns every command and replaces what is between the comments, so the
verdicts, state counts and traces a reader sees are what the search says today.  Two
forms exist: ``mmuspec:`` pastes the command's text output; ``mmuspec-summary:`` runs
``check ... --json`` and writes the few lines an answer on a list needs: the
configuration, the verdict, the bound searched, the shortest witness as numbered steps
with their kernel locations, and what the file's ``[expect]`` table says of it.
``python -m mmuspec.report.livedoc FILE...`` (from the checkout's root, where the
reports' paths are) rewrites reports in place; with ``--check`` it only says which are
stale, times aside (``tests/report/test_livedoc.py`` runs that on every report).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BLOCK = re.compile(r"<!-- mmuspec(?P<summary>-summary)?: (?P<args>.+?) -->\n(?P<body>.*?)<!-- /mmuspec -->",
                   re.S)
Runner = Callable[[list[str]], tuple[int, str]]


def normalise(text: str) -> str:
    """What may change between two runs of the same search: times, the engine, and the
    bytes per state of a fingerprint store."""
    text = re.sub(r"\b(compiled|interpreted) engine\b", "<engine> engine", text)
    text = re.sub(r"\d+(\.\d+)? bytes per state", "<n> bytes per state", text)
    return re.sub(r"\d+\.\d+ s\b", "<t> s", text)


def run_in_process(argv: list[str]) -> tuple[int, str]:
    """``mmuspec ARGV`` in this process: (exit status, stdout)."""
    from mmuspec.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            status = main([*argv, "--quiet"] if argv[0] in ("check", "check-all", "bugs", "diff") else argv)
        except SystemExit as exc:
            status = int(exc.code or 0)
    return int(status or 0), out.getvalue()


def render(text: str, run: Runner = run_in_process) -> str:
    """``text`` with every directive block's result made anew."""

    def fill(m: re.Match[str]) -> str:
        argv = shlex.split(m["args"])
        body = summary_block(argv, run) if m["summary"] else output_block(argv, run)
        return f"<!-- mmuspec{m['summary'] or ''}: {m['args']} -->\n{body}<!-- /mmuspec -->"

    return BLOCK.sub(fill, text)


def output_block(argv: list[str], run: Runner) -> str:
    status, out = run(argv)
    return f"```\n$ mmuspec {shlex.join(argv)}    # exit status {status}\n{out.rstrip()}\n```\n"


def summary_block(argv: list[str], run: Runner) -> str:
    if argv[:1] != ["check"]:
        raise ValueError(f"mmuspec-summary needs a check command, not {shlex.join(argv)!r}")
    _, out = run([*argv, "--json"])
    _, text = run(argv)
    return summary(json.loads(out), argv, text.splitlines()[0].removeprefix("mmuspec check: "))


def _verdict(doc: dict[str, Any]) -> str:
    found = [v["event"] for v in doc["violations"]]  # properties, then the WARNs that fired
    if doc["verdict"] == "safe":
        return "**safe**: every property holds in every interleaving and no WARN fired"
    if not found:
        return f"**{doc['verdict']}**"
    also = f" (also {', '.join(found[1:])})" if found[1:] else ""
    return f"**{doc['verdict']}** of `{found[0]}`{also}"


def _bound(doc: dict[str, Any]) -> str:
    config = doc["config"]
    scenario = config["scenario"]["name"]
    kind = "exhaustive" if doc["complete"] else f"incomplete ({doc['stop_reason'] or 'bounded'})"
    return (f"{kind} search of `{scenario}` ({'stopped at the first violation; ' if doc['stop_reason'] else ''}"
            f"{doc['states']:,} states, {doc['transitions']:,} transitions, depth {doc['depth']})")


def _witness(doc: dict[str, Any]) -> list[str]:
    if not doc["violations"]:
        return []
    w = doc["violations"][0]
    loop = w.get("loop_start")
    lines = [f"- shortest witness of `{w['event']}`: {w['length']} steps"
             + (f", repeating from step {loop + 1}" if loop is not None else "")]
    for step in w["trace"]:
        where = step["source"]
        location = f" `{where['file']}:{where['function']}`" if where else ""
        lines.append(f"  {step['n']}. {step['thread']}: {step['step']}{location}")
        lines += [f"     {'!' if e['kind'] == 'property' else 'W'} {e['id']}: {e['text']}"
                  for e in step["events"] if e["kind"] in ("property", "warning")]
    return lines


def _expect(doc: dict[str, Any]) -> list[str]:
    expect = doc.get("expect")
    if not expect:
        return []
    said = "; ".join(f"{c['key']} {c['expected']}" for c in expect["checks"])
    return [f"- `[expect]` of `{Path(expect['source']).name}` in {expect['era']}: {said}: "
            + ("**as expected**" if expect["matches"] else "**NOT as expected**")]


def summary(doc: dict[str, Any], argv: list[str], configuration: str) -> str:
    lines = [f"- `mmuspec {shlex.join(argv)}`", f"- configuration: {configuration}",
             f"- verdict: {_verdict(doc)}", f"- bound: {_bound(doc)}"]
    lines += _expect(doc) + _witness(doc)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mmuspec.report.livedoc",
                                description="Rerun the mmuspec commands of reports and rewrite their results.")
    p.add_argument("files", nargs="+", metavar="FILE.md")
    p.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if a report is stale")
    args = p.parse_args(argv)
    stale = []
    for name in args.files:
        path = Path(name)
        old = path.read_text(encoding="utf-8")
        new = render(old)
        if normalise(new) != normalise(old):
            stale.append(name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for name in stale:
        print(f"{name}: {'stale' if args.check else 'rewritten'}")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
