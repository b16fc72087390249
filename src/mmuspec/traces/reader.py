"""Streaming reader for ftrace ``trace``/``trace_pipe``, ``trace-cmd report`` and
``perf script`` text.

Lines are read one at a time (gzip and xz are decompressed on the fly), so a trace
of any size is read in constant memory.  The line framing is found by anchoring
on the last ``-<pid> [<cpu>]`` (ftrace, trace-cmd) or ``<pid> [<cpu>]`` (perf), so
task names may contain spaces, dashes and slashes (``CPU 0/KVM-995362``); the
flags column is optional.  Header and comment lines are skipped; any other line
that does not parse is reported with its number and the run goes on.
"""

from __future__ import annotations

import gzip
import io
import lzma
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mmuspec.errors import UsageError
from mmuspec.traces.formats import PARSERS

# <comm>-<pid> [(<tgid>)] [<cpu>] [<flags>] <secs.usecs>: <event>: <fields>
FTRACE = re.compile(
    r"^\s*(?P<comm>.+)-(?P<pid>\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>[A-Za-z.0-9]{4,5})\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>[\w:]+):\s?(?P<fields>.*)$"
)
# <comm> <pid>[/<tid>] [<cpu>] <secs.usecs>: [<period>] <system>:<event>: <fields>
PERF = re.compile(
    r"^\s*(?P<comm>.+?)\s+(?P<pid>\d+)(?:/\d+)?\s+\[(?P<cpu>\d+)\]\s+(?P<ts>\d+\.\d+):\s+(?:\d+\s+)?"
    r"(?P<event>[\w]+:[\w]+):\s?(?P<fields>.*)$"
)
HEADER = re.compile(r"^\s*(#|$|cpus=|version\s*=|CPU \d+ is empty|CPU:\d+ \[LOST|TRACE_|\s*\|)")


@dataclass(slots=True)
class Record:
    line: int
    comm: str
    pid: int
    cpu: int
    ts: float
    system: str
    event: str
    fields: dict[str, Any] | None  # None for an event mmuspec does not know


@dataclass(slots=True)
class Malformed:
    line: int
    reason: str
    text: str


def open_trace(path: str) -> IO[str]:
    """Open a trace, decompressing gzip or xz by their magic bytes."""
    if path == "-":
        import sys

        return sys.stdin
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such trace file")
    with open(p, "rb") as raw:
        magic = raw.read(6)
    if magic[:2] == b"\x1f\x8b":
        return gzip.open(p, "rt", encoding="utf-8", errors="replace")
    if magic == b"\xfd7zXZ\x00":
        return lzma.open(p, "rt", encoding="utf-8", errors="replace")
    return open(p, encoding="utf-8", errors="replace")


def parse_line(number: int, text: str) -> Record | Malformed | None:
    """One line: a record, a malformed line, or None for a header or comment."""
    if HEADER.match(text):
        return None
    m = FTRACE.match(text) or PERF.match(text)
    if m is None:
        return Malformed(number, "not a trace line (no '<task>-<pid> [<cpu>] <time>: <event>:')", text.rstrip()[:200])
    event = m.group("event")
    system, _, name = event.rpartition(":")
    parser = PARSERS.get(name)
    if parser is None:
        return Record(number, m.group("comm").strip(), int(m.group("pid")), int(m.group("cpu")),
                      float(m.group("ts")), system, name, None)
    fields = parser(m.group("fields"))
    if fields is None:
        return Malformed(number, f"{name}: fields do not match any known format", text.rstrip()[:200])
    return Record(number, m.group("comm").strip(), int(m.group("pid")), int(m.group("cpu")), float(m.group("ts")),
                  system, name, fields)


def read_trace(stream: IO[str] | io.TextIOBase) -> Iterator[Record | Malformed]:
    for number, text in enumerate(stream, start=1):
        item = parse_line(number, text)
        if item is not None:
            yield item
