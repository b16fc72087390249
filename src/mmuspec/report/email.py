"""``--format email``: a report to paste into a mail to a kernel list.

Mail clients and list archives show 72 columns and no tables, and a reader must be able to
run the same thing: so the text report is put under the command line that made it and the
mmuspec commit it ran (``-dirty`` when the checkout had changes), paths under the current
directory become relative, tables become one block per row ("column: value"), and long
lines wrap under their own indent.  A variant's steps keep their ``~`` mark and the line
saying what replaced the upstream code.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import textwrap
from collections.abc import Sequence
from pathlib import Path

from mmuspec import __version__

WIDTH = 72


def commit() -> str:
    """The commit of the mmuspec checkout that runs, or the version when it is not one."""
    here = Path(__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"mmuspec {__version__} (not a git checkout)"
    return f"mmuspec {__version__}, commit {rev}{'-dirty' if dirty else ''}"


def relative(text: str, cwd: str | None = None) -> str:
    """Paths under the current directory, written relative to it."""
    base = (cwd or os.getcwd()).rstrip("/") + "/"
    return text.replace(base, "") if base != "/" else text


def _table_blocks(lines: list[str]) -> list[str]:
    """A markdown table as one block per row: its first cell, then "column: value" lines."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, body = rows[0], [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
    out: list[str] = []
    for row in body:
        out.append(f"{header[0]} {row[0]}".strip() if header[0] else row[0])
        out += [f"  {name}: {value}" for name, value in zip(header[1:], row[1:], strict=False) if value]
    return out


def _wrap(line: str) -> list[str]:
    if len(line) <= WIDTH:
        return [line]
    indent = line[: len(line) - len(line.lstrip())]
    return textwrap.wrap(line.strip(), WIDTH, initial_indent=indent, subsequent_indent=indent + "    ",
                         break_long_words=True, break_on_hyphens=False)


def _command(argv: Sequence[str], cwd: str | None) -> list[str]:
    """``$ mmuspec ...`` as the reader would type it (without ``--format email``), continued
    with backslashes so that it pastes into a shell."""
    words, skip = [], False
    for i, a in enumerate(argv):
        if skip or a == "--format=email" or (a == "--format" and i + 1 < len(argv) and argv[i + 1] == "email"):
            skip = a == "--format"
            continue
        words.append(relative(shlex.quote(a), cwd))
    lines, line = [], "$ mmuspec"
    for w in words:
        if len(line) + 1 + len(w) > WIDTH - 2:
            lines.append(line + " \\")
            line = "    " + w
        else:
            line += " " + w
    return [*lines, line]


def email_text(text: str, argv: Sequence[str], cwd: str | None = None) -> str:
    """``text`` (a command's text report) ready for a mail: at most 72 columns."""
    lines = relative(text, cwd).rstrip("\n").splitlines()
    body: list[str] = []
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("|"):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            body += _table_blocks(lines[i:j])
            i = j
            continue
        body.append(lines[i])
        i += 1
    head = [*_command(argv, cwd), *_wrap(commit()), ""]
    return "\n".join(x.rstrip() for line in head + body for x in _wrap(line))
