"""What an emulated kernel printed on its data port, cut into sections.

The init script writes to the second serial port (``ttyS1``) only, so kernel messages
(on ``ttyS0``) never split a line of a trace.  It frames everything::

    @@mmuspec boot kernel=6.1.192 uptime=0.91
    @@mmuspec begin seed-ksm-merge.trace
    ...
    @@mmuspec end seed-ksm-merge.trace rc=0 start=1.20 stop=9.75
    @@mmuspec halt uptime=10.02

A section that has a begin and no end was cut off (the guest hung or qemu was killed):
it is kept, with ``rc`` None, because its lines say how far the run got.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MARK = "@@mmuspec "
_KV = re.compile(r"(\w+)=(\S*)")


@dataclass
class Section:
    name: str
    lines: list[str] = field(default_factory=list)
    rc: int | None = None  # None: no end marker (cut off)
    start: float | None = None  # guest uptime, seconds
    stop: float | None = None

    @property
    def text(self) -> str:
        return "".join(line + "\n" for line in self.lines)

    @property
    def seconds(self) -> float | None:
        return None if self.start is None or self.stop is None else round(self.stop - self.start, 2)


@dataclass
class BootOutput:
    kernel: str | None = None
    boot_uptime: float | None = None  # guest uptime when init started
    halt_uptime: float | None = None  # guest uptime when init asked to reboot; None: never got there
    facts: dict[str, str] = field(default_factory=dict)  # "@@mmuspec fact key=value" lines
    sections: dict[str, Section] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.halt_uptime is not None


def _fields(text: str) -> dict[str, str]:
    return dict(_KV.findall(text))


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def parse(text: str) -> BootOutput:
    """Parse the data port's text (CR/LF tolerant; stray lines outside sections are ignored)."""
    out = BootOutput()
    current: Section | None = None
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        if not line.startswith(MARK):
            if current is not None:
                current.lines.append(line)
            continue
        verb, _, rest = line[len(MARK):].partition(" ")
        values = _fields(rest)
        if verb == "boot":
            out.kernel = values.get("kernel")
            out.boot_uptime = _float(values.get("uptime"))
        elif verb == "fact":
            out.facts.update(values)
        elif verb == "begin":
            current = Section(rest.split()[0] if rest.split() else "", start=_float(values.get("start")))
            out.sections[current.name] = current
        elif verb == "end" and current is not None:
            rc = values.get("rc")
            current.rc = int(rc) if rc is not None and rc.lstrip("-").isdigit() else None
            current.stop = _float(values.get("stop"))
            if current.start is None:
                current.start = _float(values.get("start"))
            current = None
        elif verb == "halt":
            out.halt_uptime = _float(values.get("uptime"))
            current = None
    return out
