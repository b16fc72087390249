"""The static binaries an initramfs carries: the lab's VMM and the reproducers' harnesses.

Static because the initramfs has no C library.  A harness is cached under
``$XDG_CACHE_HOME/mmuspec/harness`` keyed by a hash of its source, ``ksft.h`` and the
compiler command, built to a temporary name and renamed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from mmuspec.emulate.kernels import BuildError, root
from mmuspec.lab.build import vmm_path
from mmuspec.native.build import compiler

FLAGS = ("-O2", "-static", "-pthread", "-Wall")
HEADER = "ksft.h"


def harness_source(name: str) -> str:
    return (resources.files("mmuspec.emulate") / "harness" / f"{name}.c").read_text(encoding="utf-8")


def header_source() -> str:
    return (resources.files("mmuspec.emulate") / "harness" / HEADER).read_text(encoding="utf-8")


def harness_binary(name: str) -> Path:
    cc = compiler()
    if cc is None:
        raise BuildError("no C compiler (cc, gcc or clang) on PATH to build the harnesses")
    text, header = harness_source(name), header_source()
    digest = hashlib.sha256("\0".join((cc, *FLAGS, text, header)).encode()).hexdigest()[:16]
    folder = root() / "harness"
    binary = folder / f"{name}-{digest}"
    if binary.exists():
        return binary
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        (Path(work) / f"{name}.c").write_text(text)
        (Path(work) / HEADER).write_text(header)
        tmp = Path(work) / name
        done = subprocess.run([cc, *FLAGS, "-o", str(tmp), f"{work}/{name}.c"], capture_output=True, text=True)
        if done.returncode != 0:
            raise BuildError(f"building {name}.c failed: {(done.stderr.strip().splitlines() or ['?'])[0]}")
        os.replace(tmp, binary)
    return binary


def initramfs_binaries(harnesses: list[str], vmm: bool) -> dict[str, Path]:
    """name in /bin -> cached binary."""
    binaries = {name: harness_binary(name) for name in harnesses}
    if vmm:
        binaries["mmuspec-vmm"] = vmm_path()
    return binaries
