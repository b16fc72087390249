"""Checkpoints are data, checked before use: a damaged, truncated, foreign or crafted one is
refused in one line (exit 2), and a checkpoint that no longer fits on the disk does not
stop a search that could finish."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest

from mmuspec.checking import Reductions, run_check
from mmuspec.errors import InputError
from mmuspec.explore import bfs, checkpoint
from mmuspec.explore.checkpoint import Checkpointer, load_checkpoint
from tests.explore.test_interrupt import Grid
from tests.helpers import spec

ALL = Reductions()
B1 = ("zap", "5.13", "kvm.fault_retry_checks=seq_only")


def _bounded(tmp_path, exact=False):
    path = str(tmp_path / "b1.ck")
    _, part = run_check(spec(*B1), reductions=ALL, engine="interpreted", exact=exact, max_states=60,
                        checkpoint=path, checkpoint_every=0)
    assert not part.complete
    return path


def test_one_flipped_bit_anywhere_in_a_checkpoint_is_refused_in_one_line(tmp_path):
    """A flipped bit in the saved witnesses used to turn a violation into safe, exit 0."""
    path = _bounded(tmp_path)
    good = Path(path).read_bytes()
    rng = random.Random(7)
    for _ in range(200):
        bad = bytearray(good)
        bit = rng.randrange(len(bad) * 8)
        bad[bit // 8] ^= 1 << (bit % 8)
        with open(path, "wb") as handle:
            handle.write(bad)
        with pytest.raises(InputError, match=r"not an mmuspec checkpoint|damaged checkpoint"):
            run_check(spec(*B1), reductions=ALL, engine="interpreted", resume=path)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = _bounded(tmp_path)
    good = Path(path).read_bytes()
    for cut in (0, 10, len(good) // 2, len(good) - 1):
        with open(path, "wb") as handle:
            handle.write(good[:cut])
        with pytest.raises(InputError):
            run_check(spec(*B1), reductions=ALL, engine="interpreted", resume=path)


def test_a_checkpoint_of_a_fingerprint_search_is_refused_by_an_exact_one(tmp_path):
    path = _bounded(tmp_path)
    with pytest.raises(InputError, match="different check"):
        run_check(spec(*B1), reductions=ALL, engine="interpreted", exact=True, resume=path)


def test_an_exact_checkpoint_resumes_to_the_whole_search(tmp_path):
    path = _bounded(tmp_path, exact=True)
    _, whole = run_check(spec(*B1), reductions=ALL, engine="interpreted", exact=True)
    _, resumed = run_check(spec(*B1), reductions=ALL, engine="interpreted", exact=True, resume=path)
    assert (resumed.verdict, resumed.states, resumed.transitions) == (whole.verdict, whole.states, whole.transitions)


def test_a_pickled_checkpoint_is_never_unpickled(tmp_path):
    """A crafted checkpoint used to run a shell command on --resume."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.ck"
    path.write_bytes(pickle.dumps({"format": "mmuspec-checkpoint-1", "state": Payload()}))
    with pytest.raises(InputError, match="not an mmuspec checkpoint"):
        load_checkpoint(str(path), "")
    assert not marker.exists()


def test_a_crafted_checkpoint_with_a_right_checksum_but_inconsistent_figures_is_refused(tmp_path):
    path = _bounded(tmp_path)
    data = Path(path).read_bytes()
    size = int.from_bytes(data[len(checkpoint.MAGIC):len(checkpoint.MAGIC) + 8], "little")
    at = len(checkpoint.MAGIC) + 8
    header = json.loads(data[at:at + size])
    for key, value in (("states", 5), ("frontier_base", 10**9), ("witness_at", [[1, 10**6, 0]]),
                       ("seconds", -1), ("width", 0), ("store", "pickle")):
        forged = json.dumps({**header, key: value}, sort_keys=True).encode()
        body = checkpoint.MAGIC + len(forged).to_bytes(8, "little") + forged + data[at + size:-checkpoint.DIGEST]


        path_forged = tmp_path / f"forged-{key}.ck"
        path_forged.write_bytes(body + hashlib.sha256(body).digest())
        with pytest.raises(InputError, match=r"damaged checkpoint|different check"):
            run_check(spec(*B1), reductions=ALL, engine="interpreted", resume=str(path_forged))


def test_a_periodic_checkpoint_that_no_longer_fits_warns_and_the_search_goes_on(tmp_path, monkeypatch, capsys):
    def full(*_args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint, "_put", full)
    path = tmp_path / "grid.ck"
    result = bfs(Grid(), checkpoint=str(path), checkpoint_every=0.0)
    assert result.complete and result.states == 65536
    err = capsys.readouterr().err
    assert err.count("not written (No space left on device); the search goes on") == 1
    assert not path.exists() and not list(tmp_path.iterdir())  # no temporary file left


def test_a_checkpoint_left_half_written_by_a_killed_run_is_removed_at_the_next_run(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".grid.ck.tmp{pid}.abcd1234"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".other.ck.tmp1.abcd"
    other.write_bytes(b"")
    Checkpointer(str(tmp_path / "grid.ck"), 60.0, "")
    assert not stale.exists() and other.exists()
