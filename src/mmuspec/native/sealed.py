"""Cached engine libraries are checked before they are loaded.

A shared library is mapped into the process: a truncated one gives SIGBUS, a corrupted
one SIGSEGV, on every later run, long before Python could say anything.  So every
library the cache holds has a small manifest beside it (``NAME.so.sum``: its size and
SHA-256, written once the library is complete), and a library is loaded only when it
matches.  One that does not (or has no manifest: a build killed half way, a disk that
lost blocks) is removed, said in one line, and built again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from pathlib import Path


def _manifest(lib_path: Path) -> Path:
    return lib_path.with_name(lib_path.name + ".sum")


def _digest(lib_path: Path) -> tuple[int, str]:
    data = lib_path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


def seal(lib_path: Path) -> None:
    """Record the size and hash of a library just built or installed."""
    size, digest = _digest(lib_path)
    target = _manifest(lib_path)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"size": size, "sha256": digest}), encoding="utf-8")
        os.replace(tmp, target)
    except OSError:
        tmp.unlink(missing_ok=True)


def intact(lib_path: Path) -> bool:
    """Whether ``lib_path`` exists and matches its manifest.  A library that does not is
    removed with its manifest (when the cache can be written), and the reason said once."""
    if not lib_path.exists():
        return False
    try:
        recorded = json.loads(_manifest(lib_path).read_text(encoding="utf-8"))
        size, digest = _digest(lib_path)
        if recorded == {"size": size, "sha256": digest}:
            return True
        why = f"{size:,} bytes where {recorded.get('size', '?'):,} were written" if size != recorded.get("size") \
            else "its SHA-256 differs from the one recorded"
    except (OSError, ValueError, AttributeError, TypeError):
        why = "no manifest records its size and hash"
    print(f"mmuspec: the cached compiled engine {lib_path} is damaged ({why}); building it again",
          file=sys.stderr, flush=True)
    for stale in (lib_path, _manifest(lib_path)):
        with contextlib.suppress(OSError):
            stale.unlink(missing_ok=True)
    return False
