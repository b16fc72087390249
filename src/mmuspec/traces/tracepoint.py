"""One text form of one tracepoint: its TP_printk, where it comes from, how to parse it.

See ``traces/formats.py`` for the registry of every form mmuspec reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Fields = dict[str, Any]
Version = tuple[int, ...]

HEX = r"(?:0x)?[0-9a-fA-F]+"
# %p: hashed 16 hex digits, a raw kernel address, or the placeholders printk uses.
PTR = r"(?:0x)?[0-9a-fA-F]+|\(____ptrval____\)|\(null\)|\(ptrval\)"


def alt_hex(width: int, *, most: int = 16) -> str:
    """What ``%#0<width>lx`` prints: "0x" and at least ``width - 2`` digits (the width counts the "0x"),
    zero-padded only up to that width, so a longer number starts with a non-zero digit.  ``most``
    digits at most: a caller stops below 16 where a longer text fits a newer, wider format too."""
    return _padded(width - 2, most)


def zero_hex(width: int, *, most: int = 16) -> str:
    """What ``0x%0<width>lx`` prints: "0x" and at least ``width`` digits (the width counts digits only)."""
    return _padded(width, most)


def _padded(least: int, most: int) -> str:
    """"0x", then exactly ``least`` digits (zero-padded) or a longer number up to ``most`` digits."""
    if most <= least:
        return rf"0x[0-9a-fA-F]{{{least}}}"
    return rf"0x(?:[0-9a-fA-F]{{{least}}}|[1-9a-fA-F][0-9a-fA-F]{{{least},{most - 1}}})"


def num(text: str) -> int:
    """A number the kernel printed in hex, with or without 0x (%x, %#x, %llx)."""
    return int(text, 16)


def dec(text: str) -> int:
    return int(text, 10)


def version(text: str) -> Version:
    """``"5.13"`` as ``(5, 13)``, so versions compare as the kernel's do."""
    return tuple(int(part) for part in text.split("."))


@dataclass(frozen=True)
class Format:
    """One TP_printk of ``event``.  ``versions`` says, in words, which kernels printed it (marked [I]
    where read from patch dates); ``since``/``until`` are the versions a line in this format proves the
    kernel is at least / older than, set only where the text alone tells (``traces/era.py``).  Every
    capturing group of ``pattern`` is named; ``convert`` turns a group's text into its value."""

    event: str
    name: str
    header: str
    versions: str
    printk: str
    pattern: str
    convert: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)
    arch: str = ""  # "x86" or "arm64" when only that architecture prints the event this way
    since: str | None = None
    until: str | None = None
    key: str = field(init=False, compare=False)  # "<event>/<name>"
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _fields: tuple[tuple[str, Callable[[str], Any]], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.compile(self.pattern)
        if regex.groups != len(regex.groupindex):
            raise ValueError(f"{self.event}/{self.name}: every group of the pattern must be named")
        names = sorted(regex.groupindex, key=regex.groupindex.__getitem__)
        object.__setattr__(self, "key", f"{self.event}/{self.name}")
        object.__setattr__(self, "_regex", regex)
        object.__setattr__(self, "_fields", tuple((n, self.convert.get(n, str)) for n in names))

    def parse(self, text: str) -> Fields | None:
        m = self._regex.fullmatch(text)
        if m is None:
            return None
        return {name: conv(v) for (name, conv), v in zip(self._fields, m.groups(), strict=True) if v is not None}


def table(*formats: Format) -> dict[str, tuple[Format, ...]]:
    """Formats grouped by event, in the order they are tried (most specific first)."""
    out: dict[str, list[Format]] = {}
    for f in formats:
        out.setdefault(f.event, []).append(f)
    return {event: tuple(fs) for event, fs in out.items()}
