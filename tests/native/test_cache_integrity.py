"""A damaged cached engine library is never loaded: it is built again, said in one line; a
cache that cannot be written leaves the interpreter to run the check."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = [sys.executable, "-m", "mmuspec", "check", "zap", "--era", "5.13", "--quiet", "--engine", "auto"]


def run(cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    return subprocess.run(CHECK, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _library(cache: Path) -> Path:
    found = sorted((cache / "mmuspec" / "native").glob("mmuspec-*.so"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    first = run(cache)
    assert first.returncode == 0 and "compiled engine" in first.stdout, first.stderr
    return cache, _library(cache).read_bytes(), first.stdout


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_a_damaged_cached_engine_library_is_built_again_not_loaded(built, damage, tmp_path):
    """A truncated library used to give SIGBUS on every later run, a corrupted one SIGSEGV."""
    cache, good, expected = built
    lib = _library(cache)
    data = bytearray(good)
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 3 : len(data) // 3 + 4096] = b"\xff" * 4096
    lib.write_bytes(bytes(data))
    again = run(cache)
    assert again.returncode == 0, again.stderr
    assert again.stdout == expected
    assert f"the cached compiled engine {lib} is damaged" in again.stderr and "building it again" in again.stderr
    assert _library(cache).read_bytes() == good


def test_an_unwritable_engine_cache_falls_back_to_the_interpreter_in_one_line(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    done = run(blocker)
    assert done.returncode == 0, done.stderr
    assert "interpreted engine" in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the compiled engine's cache" in lines[0], done.stderr
