"""Output folders that appear whole or not at all.

A command that writes several files (results, plots, a table) writes them into a
temporary folder next to where they go and moves them in only when everything has
succeeded.  A run that fails or is interrupted leaves nothing behind, not even the
parent folders that ``--out a/b/c`` asked for: those are made at the end too.

A run killed outright (SIGTERM, SIGKILL, a power cut) cannot clean up, so every
temporary name carries the writer's process id (``.NAME.tmpPID.xxxx``), and the next
run that writes NAME in that folder removes those whose process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmuspec.errors import UsageError

LEGACY_AGE = 600.0  # seconds: a temporary name without a process id is stale after this


def temp_prefix(name: str) -> str:
    """The start of a temporary file or folder name for ``name``, owned by this process."""
    return f".{name}.tmp{os.getpid()}."


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(folder: Path, name: str) -> list[Path]:
    """Remove what a killed writer of ``name`` left in ``folder``: temporary files and
    staging folders whose process is gone (and unnamed ones older than ``LEGACY_AGE``,
    from before names carried a process id).  Returns what was removed."""
    pattern = re.compile(rf"^\.{re.escape(name)}\.(?:tmp(\d+)\.[A-Za-z0-9_]+|[A-Za-z0-9_]{{8}})$")
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = pattern.match(entry.name)
        if match is None:
            continue
        pid = match.group(1)
        try:
            if pid is not None and _alive(int(pid)):
                continue
            if pid is None and time.time() - entry.lstat().st_mtime < LEGACY_AGE:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def _anchor(target: Path) -> Path:
    """The folder the staging folder goes in: the target itself when it exists (its
    parent may not be writable: ``--out /tmp``), else the nearest folder on its path
    that exists.  Either way the rename at the end stays on one file system."""
    here = target
    while not here.exists():
        here = here.parent
    return here


@contextmanager
def staged_dir(path: str, option: str = "--out") -> Iterator[Path]:
    """Yields an empty folder to write into; on success its files are moved into
    ``path`` (created with its parents), and in every case the folder is removed."""
    target = Path(path).absolute()
    if target.exists() and not target.is_dir():
        raise UsageError(f"{option} {path}: exists and is not a directory")
    anchor = _anchor(target)
    if not anchor.is_dir():
        raise UsageError(f"{option} {path}: {anchor} is not a directory")
    remove_stale(anchor, target.name or "out")
    try:
        staging = Path(tempfile.mkdtemp(dir=anchor, prefix=temp_prefix(target.name or "out")))
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot write in {anchor} ({exc.strerror or exc})") from None
    try:
        yield staging
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{option} {path}: cannot create it ({exc.strerror or exc})") from None
        for item in sorted(staging.iterdir()):
            os.replace(item, target / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
