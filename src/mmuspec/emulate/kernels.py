"""Building a small kernel from a Debian source package, cached by version, config and patches.

Layout under ``$XDG_CACHE_HOME/mmuspec`` (never touched by ``make test``):

* ``src/linux-source-SERIES``: the unpacked tarball, made a git repository whose tag
  ``shipped`` is the source as Debian ships it.  A build resets the tree to that tag and
  applies its patches (a fix reverted, a debug lever), so only the files a patch touches
  get new mtimes and the next build of the same config is incremental.
* ``build/VERSION-KEY``: the ``make O=`` directory of one resolved config, shared by
  every patch set of that config.
* ``kernels/VERSION-KEY[-PATCHKEY]``: what a boot needs (bzImage, .config, System.map,
  external modules) and ``meta.json`` with the measured build time.

One build at a time per source tree: a second one refuses at once (exit status 2)
instead of resetting a tree the first is compiling.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from mmuspec.emulate import kconfig
from mmuspec.errors import MmuspecError, UsageError
from mmuspec.native.build import cache_dir

SERIES = ("6.1", "6.12")
Log = Callable[[str], None]


class BuildError(MmuspecError):
    """A kernel could not be built here; the message names the step and the log."""


def root() -> Path:
    return cache_dir().parent


def tarball(series: str) -> Path:
    if series not in SERIES:
        raise UsageError(f"kernel series {series!r}: use one of {', '.join(SERIES)}")
    return Path("/usr/src") / f"linux-source-{series}.tar.xz"


def patch_path(series: str, name: str) -> Path:
    path = Path(str(resources.files("mmuspec.emulate") / "patches" / series / f"{name}.patch"))
    if not path.exists():
        raise UsageError(f"no patch {name!r} for {series} (looked for {path})")
    return path


def module_dir(name: str) -> Path:
    return Path(str(resources.files("mmuspec.emulate") / "modules" / name))


@dataclass(frozen=True)
class KernelSpec:
    """One kernel to build: a source series, patches applied in order, external modules."""

    series: str
    patches: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()

    def patch_key(self) -> str:
        """A hash of the patches' and modules' text: part of the cache name when there are any."""
        if not self.patches and not self.modules:
            return ""
        digest = hashlib.sha256()
        for name in self.patches:
            digest.update(name.encode() + b"\0" + patch_path(self.series, name).read_bytes())
        for name in self.modules:
            for file in sorted(module_dir(name).iterdir()):
                digest.update(file.name.encode() + b"\0" + file.read_bytes())
        return digest.hexdigest()[:10]

    def label(self) -> str:
        return "+".join((self.series, *self.patches)) if self.patches else self.series


@dataclass(frozen=True)
class Kernel:
    """A built kernel in the cache."""

    spec: KernelSpec
    version: str
    path: Path  # kernels/VERSION-KEY[-PATCHKEY]
    build_seconds: float | None

    @property
    def bzimage(self) -> Path:
        return self.path / "bzImage"

    def module(self, name: str) -> Path:
        return self.path / f"{name}.ko"


def _run(argv: list[str], log_path: Path, what: str, cwd: Path | None = None) -> None:
    with log_path.open("a") as log:
        log.write(f"$ {' '.join(argv)}\n")
        log.flush()
        done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
    if done.returncode != 0:
        raise BuildError(f"{what} failed (exit {done.returncode}); see {log_path}")


def _git(tree: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(tree), "-c", "user.name=mmuspec", "-c", "user.email=mmuspec@localhost",
                    *args], check=True, capture_output=True)


def source_tree(series: str, log: Log) -> Path:
    """The unpacked source with its ``shipped`` tag, unpacked and committed the first time."""
    tree = root() / "src" / f"linux-source-{series}"
    if (tree / ".git" / "refs" / "tags" / "shipped").exists():
        return tree
    tar = tarball(series)
    if not tar.exists():
        raise BuildError(f"{tar} is missing: apt-get install linux-source-{series}")
    if not tree.exists():
        log(f"unpacking {tar} (a minute or two)")
        tree.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=tree.parent) as tmp, tarfile.open(tar) as archive:
            archive.extractall(tmp, filter="tar")
            (Path(tmp) / tree.name).rename(tree)
    log(f"recording {tree} as shipped (git)")
    _git(tree, "init", "-q")
    _git(tree, "add", "-A", "-f")  # Debian's .gitignore ignores the top level
    _git(tree, "commit", "-qm", f"Debian linux-source-{series} as shipped")
    _git(tree, "tag", "shipped")
    return tree


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"another kernel build holds {path}; wait for it to finish") from None
        yield


def resolve_config(tree: Path, log_path: Path) -> str:
    """tinyconfig + mmuspec.config + olddefconfig; refuses a config that lost an option."""
    options = kconfig.fragment()
    with tempfile.TemporaryDirectory(dir=root()) as tmp:
        out = Path(tmp)
        _run(["make", "-s", "-C", str(tree), f"O={out}", "tinyconfig"], log_path, "make tinyconfig")
        with (out / ".config").open("a") as config:
            config.write("".join(f"{o.name}={o.value}\n" for o in options))
        _run(["make", "-s", "-C", str(tree), f"O={out}", "olddefconfig"], log_path, "make olddefconfig")
        text = (out / ".config").read_text()
    missing = kconfig.lost(text, options)
    if missing:
        raise BuildError(f"the {tree.name} config lost {', '.join(missing)} (unmet dependencies)")
    return text


def cached(spec: KernelSpec) -> Kernel | None:
    """The newest cached build of a spec, without building (for boot and repro --list)."""
    suffix = f"-{spec.patch_key()}" if spec.patch_key() else ""
    found = sorted((root() / "kernels").glob(f"{spec.series}.*{suffix}/meta.json"), key=lambda p: p.stat().st_mtime)
    for meta_path in reversed(found):
        meta = json.loads(meta_path.read_text())
        if tuple(meta["patches"]) == spec.patches and tuple(meta["modules"]) == spec.modules:
            return Kernel(spec, meta["version"], meta_path.parent, meta.get("build_seconds"))
    return None


def build(spec: KernelSpec, log: Log, jobs: int = 2) -> Kernel:
    """Build (or find in the cache) the kernel of a spec."""
    tree = source_tree(spec.series, log)
    version = kconfig.kernel_version((tree / "Makefile").read_text())
    logs = root() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with _locked(root() / "build" / f"{spec.series}.lock"):
        log_path = logs / f"{spec.label().replace('+', '_')}.log"
        log_path.write_text("")
        config = resolve_config(tree, log_path)
        key = kconfig.config_key(config)
        name = f"{version}-{key}" + (f"-{spec.patch_key()}" if spec.patch_key() else "")
        out = root() / "kernels" / name
        if (out / "meta.json").exists():
            meta = json.loads((out / "meta.json").read_text())
            return Kernel(spec, version, out, meta.get("build_seconds"))
        bdir = root() / "build" / f"{version}-{key}"
        bdir.mkdir(parents=True, exist_ok=True)
        if not (bdir / ".config").exists() or (bdir / ".config").read_text() != config:
            (bdir / ".config").write_text(config)
        _git(tree, "reset", "-q", "--hard", "shipped")
        try:
            for patch in spec.patches:
                _git(tree, "apply", str(patch_path(spec.series, patch)))
            log(f"building {spec.label()} ({version}, config {key}) in {bdir}; log: {log_path}")
            start = time.monotonic()
            make = ["nice", "-n", "19", "make", "-C", str(tree), f"O={bdir}", f"-j{jobs}"]
            _run([*make, "bzImage", "modules"], log_path, f"building {spec.label()}")
            elapsed = time.monotonic() - start
            staging = Path(tempfile.mkdtemp(dir=root() / "kernels"))
            for module in spec.modules:
                work = Path(tempfile.mkdtemp(dir=root()))
                shutil.copytree(module_dir(module), work, dirs_exist_ok=True)
                _run(["make", "-C", str(bdir), f"M={work}", "modules"], log_path, f"building module {module}")
                shutil.copy(work / f"{module}.ko", staging / f"{module}.ko")
                shutil.rmtree(work)
        finally:
            _git(tree, "reset", "-q", "--hard", "shipped")
        shutil.copy(bdir / "arch/x86/boot/bzImage", staging / "bzImage")
        shutil.copy(bdir / "System.map", staging / "System.map")
        (staging / "config").write_text(config)
        meta = {"version": version, "config_key": key, "series": spec.series, "patches": list(spec.patches),
                "modules": list(spec.modules), "build_seconds": round(elapsed, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        (staging / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if out.exists():
            shutil.rmtree(out)
        os.rename(staging, out)
        return Kernel(spec, version, out, round(elapsed, 1))
