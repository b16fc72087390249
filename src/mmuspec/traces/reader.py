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

A file that cannot be a trace is bad input, said in one line: an empty file, one with
headers only, a binary ``trace.dat`` (``trace-cmd report`` turns it into text).  A
compressed trace that is cut or damaged is read up to the damage; the command reports
that part and then says where the file was cut (``TraceText``).
"""

from __future__ import annotations

import gzip
import io
import lzma
import re
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mmuspec.errors import InputError, UsageError
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


TRACE_DAT = b"\x17\x08\x44tracing"  # the start of trace-cmd's binary trace.dat
CUT = (EOFError, OSError, lzma.LZMAError, zlib.error)  # what a damaged gzip or xz stream raises


class TraceText:
    """The lines of a trace, counted: whether any was a trace line rather than a header,
    and, for a compressed trace that is cut or damaged, after which line and why (the
    lines before it are read as usual)."""

    def __init__(self, handle: IO[str], path: str) -> None:
        self.handle = handle
        self.path = path
        self.lines = 0
        self.content = False
        self.cut = ""

    def __iter__(self) -> Iterator[str]:
        try:
            for line in self.handle:
                self.lines += 1
                if not self.content and not HEADER.match(line):
                    self.content = True
                yield line
        except CUT as exc:
            self.cut = " ".join(str(exc).split()) or type(exc).__name__

    def __enter__(self) -> TraceText:
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.handle is not sys.stdin:
            self.handle.close()

    def require_lines(self) -> None:
        """Refuse a trace with no trace line at all (empty, or headers only)."""
        if not self.content and not self.cut:
            raise InputError(self.path, None, "the file holds no trace lines (expected ftrace trace text, "
                             "`trace-cmd report` or `perf script` output)")

    def require_whole(self) -> None:
        """Refuse, after its figures were reported, a compressed trace that was cut."""
        if self.cut:
            raise InputError(self.path, self.lines + 1, f"the compressed trace is cut or damaged here ({self.cut}); "
                             f"what was reported covers its first {self.lines:,} lines only")


def open_trace(path: str) -> TraceText:
    """Open a trace, decompressing gzip or xz by their magic bytes."""
    if path == "-":
        return TraceText(sys.stdin, "<stdin>")
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{path}: no such trace file")
    with open(p, "rb") as raw:
        magic = raw.read(len(TRACE_DAT))
    if magic.startswith(TRACE_DAT):
        raise InputError(path, None, "a binary trace-cmd trace.dat, which holds no trace lines: run "
                         f"`trace-cmd report -i {path} > trace.txt` first and read trace.txt")
    if magic[:2] == b"\x1f\x8b":
        return TraceText(gzip.open(p, "rt", encoding="utf-8", errors="replace"), path)
    if magic[:6] == b"\xfd7zXZ\x00":
        return TraceText(lzma.open(p, "rt", encoding="utf-8", errors="replace"), path)
    return TraceText(open(p, encoding="utf-8", errors="replace"), path)


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


def read_trace(stream: Iterable[str] | io.TextIOBase) -> Iterator[Record | Malformed]:
    for number, text in enumerate(stream, start=1):
        item = parse_line(number, text)
        if item is not None:
            yield item
