"""An initramfs written in Python: the newc cpio format the kernel unpacks at boot.

Written here rather than with ``cpio`` and ``find`` so that file modes, owners and
mtimes are fixed (the same inputs give the same bytes, so a cached boot is keyed by
content) and so that the writer is tested without a kernel.  The kernel accepts an
uncompressed archive whatever its compression options.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class Entry:
    path: str  # without a leading slash: "bin/busybox"
    mode: int  # type and permission bits, as in st_mode
    data: bytes = b""  # file contents, or a symlink's target


def directory(path: str) -> Entry:
    return Entry(path, stat.S_IFDIR | 0o755)


def file(path: str, data: bytes, executable: bool = False) -> Entry:
    return Entry(path, stat.S_IFREG | (0o755 if executable else 0o644), data)


def symlink(path: str, target: str) -> Entry:
    return Entry(path, stat.S_IFLNK | 0o777, target.encode())


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(ino: int, entry: Entry, nlink: int) -> bytes:
    name = entry.path.encode() + b"\0"
    fields = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0, 0, 0, len(name), 0)
    head = b"070701" + b"".join(f"{value:08x}".encode() for value in fields)
    return head + name + _pad(len(head) + len(name))


def archive(entries: list[Entry]) -> bytes:
    """The cpio bytes: parent directories first, then each entry, then the trailer."""
    out = bytearray()
    seen: set[str] = set()
    ino = 1
    for entry in entries:
        parts = entry.path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent not in seen:
                seen.add(parent)
                out += _header(ino, directory(parent), 2)
                ino += 1
        if entry.path in seen:
            continue
        seen.add(entry.path)
        out += _header(ino, entry, 2 if stat.S_ISDIR(entry.mode) else 1) + entry.data + _pad(len(entry.data))
        ino += 1
    out += _header(ino, Entry(TRAILER, 0), 1)
    return bytes(out + _pad(len(out)))
