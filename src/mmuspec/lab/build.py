"""Building the lab's VMM (``vmm.c``) once per version of its source.

The VMM is a static binary so that the very file built here also runs inside an
initramfs of an emulated kernel, where there is no C library to link against.  It is
cached beside the compiled core (``$XDG_CACHE_HOME/mmuspec/vmm``), keyed by a hash of
the source and the compiler command, and built to a temporary name then renamed, so
that two builds at once never leave a half-written binary.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from mmuspec.native.build import cache_dir, compiler

FLAGS = ("-O2", "-static", "-pthread", "-Wall")


class VmmUnavailable(Exception):
    """The VMM cannot be built here (no compiler, no static C library); the message says which."""


def source() -> str:
    return (resources.files("mmuspec.lab") / "vmm.c").read_text(encoding="utf-8")


def vmm_path() -> Path:
    """The cached binary for the current source (built if missing)."""
    text = source()
    cc = compiler()
    if cc is None:
        raise VmmUnavailable("no C compiler (cc, gcc or clang) on PATH to build the lab's VMM")
    digest = hashlib.sha256((" ".join((cc, *FLAGS)) + "\0" + text).encode()).hexdigest()[:16]
    folder = cache_dir().parent / "vmm"
    binary = folder / f"mmuspec-vmm-{digest}"
    if binary.exists():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        c_path = Path(work) / "vmm.c"
        c_path.write_text(text, encoding="utf-8")
        tmp = Path(work) / "vmm"
        done = subprocess.run([cc, *FLAGS, "-o", str(tmp), str(c_path)], capture_output=True, text=True)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["?"])[0]
            raise VmmUnavailable(f"building the lab's VMM failed: {first}")
        os.replace(tmp, binary)
    return binary
