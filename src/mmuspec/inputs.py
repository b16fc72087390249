"""Reading a text file the user gave: UTF-8, or one line saying where it is not.

Every input file (scenario, workload, bug, variant, trace file) is text.  A file that
is not UTF-8 (a binary given by mistake, a Latin-1 editor, a damaged copy) is bad
input, located by line and column like any other, never a crash.
"""

from __future__ import annotations

from pathlib import Path

from mmuspec.errors import InputError, UsageError


def decode(data: bytes, source: str) -> str:
    """``data`` as UTF-8 text; an ``InputError`` at the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        binary = "; a binary file?" if b"\0" in data[:4096] else ""
        raise InputError(source, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at column {column}{binary})") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """The text of ``path``; a missing or unreadable file is a usage error naming ``what``."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not a {what}") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    return decode(data, str(path))
