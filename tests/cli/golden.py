"""Golden-output comparison: set MMUSPEC_UPDATE_GOLDEN=1 to rewrite the files."""

from __future__ import annotations

import os
import re
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
CHECKOUT = str(Path(__file__).resolve().parents[2])


def normalise(text: str) -> str:
    """Remove what changes from run to run: wall-clock times, and where the checkout is."""
    text = text.replace(CHECKOUT + "/", "")
    text = re.sub(r"in \d+\.\d+ s", "in <t> s", text)
    # Which engine ran depends on the machine (a C compiler or not), not on the result.
    text = re.sub(r"\b(compiled|interpreted) engine\b", "<engine> engine", text)
    text = re.sub(r"\d+ bytes per state", "<n> bytes per state", text)
    return re.sub(r"\d+\.\d+ s\b", "<t> s", text)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalise(text)
    if os.environ.get("MMUSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path} (MMUSPEC_UPDATE_GOLDEN=1 rewrites it)"


README = Path(__file__).resolve().parents[2] / "README.md"


def _sample_span(text: str, command: str) -> tuple[int, int]:
    """Where the sample block that follows "`COMMAND` prints:" starts and ends in README.md."""
    intro = f"`{command}` prints:\n\n```\n"
    start = text.find(intro)
    assert start >= 0, f"README.md has no sample introduced by {intro.splitlines()[0]!r}"
    start += len(intro)
    end = text.index("\n```\n", start)
    return start, end + 1


def readme_sample(command: str) -> str:
    text = README.read_text(encoding="utf-8")
    start, end = _sample_span(text, command)
    return text[start:end]


def assert_readme_sample(command: str, output: str) -> None:
    """The README's sample of ``command`` is its real output (times aside), so the README
    cannot drift from the tool.  MMUSPEC_UPDATE_GOLDEN=1 rewrites the sample."""
    if os.environ.get("MMUSPEC_UPDATE_GOLDEN"):
        text = README.read_text(encoding="utf-8")
        start, end = _sample_span(text, command)
        README.write_text(text[:start] + output + text[end:], encoding="utf-8")
    assert normalise(readme_sample(command)) == normalise(output), (
        f"the sample of `{command}` in {README} differs from its output (MMUSPEC_UPDATE_GOLDEN=1 rewrites it)")
