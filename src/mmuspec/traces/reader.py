"""Streaming reader for ftrace ``trace``/``trace_pipe``, ``trace-cmd report`` and
``perf script`` text.

Lines are read one at a time (gzip and xz are decompressed on the fly), so a trace
of any size is read in constant memory.  The line framing is found by anchoring
on the last ``-<pid> [<cpu>]`` (ftrace, trace-cmd) or ``<pid> [<cpu>]`` (perf), so
task names may contain spaces, dashes and slashes (``CPU 0/KVM-995362``); the
flags column is optional.  The thread id is the ``<pid>`` ftrace prints; the
process (the VM, for a vCPU thread) is the tgid column ftrace prints with
``options/record-tgid`` (``(-----)`` when it did not know it), or the first of
perf's ``<pid>/<tid>``.  Header and comment lines are skipped; any other line
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
from mmuspec.traces.formats import FORMATS

# <comm>-<pid> [(<tgid>)] [<cpu>] [<flags>] <secs.usecs>: <event>: <fields>
FTRACE = re.compile(
    r"^\s*(?P<comm>.+)-(?P<pid>\d+)\s+(?:\(\s*(?P<tgid>\d+|-+)\)\s+)?\[(?P<cpu>\d+)\]\s+"
    r"(?:(?P<flags>[A-Za-z.0-9]{4,5})\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>[\w:]+):\s?(?P<fields>.*)$"
)
# <comm> [<pid>/]<tid> [<cpu>] <secs.usecs>: [<period>] <system>:<event>: <fields>
PERF = re.compile(
    r"^\s*(?P<comm>.+?)\s+(?:(?P<tgid>\d+)/)?(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<ts>\d+\.\d+):\s+(?:\d+\s+)?"
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
    tgid: int | None = None  # the thread's process, when the trace prints it
    format: str = ""  # the key of the Format the fields matched (traces/formats.py)

    @property
    def thread(self) -> str:
        """The thread as the trace names it: ``<comm>-<pid>``."""
        return f"{self.comm}-{self.pid}"


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
    comm, pid, tgid, cpu, ts, event, text_fields = m.group("comm", "pid", "tgid", "cpu", "ts", "event", "fields")
    system, _, name = event.rpartition(":")
    record = Record(number, comm.strip(), int(pid), int(cpu), float(ts), system, name, None,
                    int(tgid) if tgid and tgid.isdigit() else None)
    formats = FORMATS.get(name)
    if formats is None:
        return record  # an event mmuspec does not read: counted, not parsed
    text_fields = text_fields.strip()
    for f in formats:
        fields = f.parse(text_fields)
        if fields is not None:
            record.fields, record.format = fields, f.key
            return record
    return Malformed(number, f"{name}: fields do not match any known format", text.rstrip()[:200])


def read_trace(stream: IO[str] | io.TextIOBase) -> Iterator[Record | Malformed]:
    for number, text in enumerate(stream, start=1):
        item = parse_line(number, text)
        if item is not None:
            yield item
