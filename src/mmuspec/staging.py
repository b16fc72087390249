"""Output folders that appear whole or not at all.

A command that writes several files (results, plots, a table) writes them into a
temporary folder next to where they go and moves them in only when everything has
succeeded.  A run that fails or is interrupted leaves nothing behind, not even the
parent folders that ``--out a/b/c`` asked for: those are made at the end too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mmuspec.errors import UsageError


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
    try:
        staging = Path(tempfile.mkdtemp(dir=anchor, prefix=f".{target.name or 'out'}."))
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
