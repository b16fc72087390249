"""An output folder appears whole, with its parents, or not at all."""

import signal
import subprocess
import sys
import time

import pytest

from mmuspec.errors import UsageError
from mmuspec.staging import staged_dir
from tests.simulate.test_simulate import SMALL


def test_out_creates_its_parent_folders_when_the_run_succeeds(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    with staged_dir(str(target)) as staging:
        (staging / "results.json").write_text("{}")
        assert not (tmp_path / "a").exists()  # nothing appears before the end
    assert (target / "results.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a"]


def test_a_failing_run_leaves_nothing_behind_not_even_the_parent_folders(tmp_path):
    target = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError), staged_dir(str(target)) as staging:
        (staging / "half.png").write_text("half")
        raise RuntimeError("the plot failed")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_run_leaves_nothing_behind(tmp_path):
    with pytest.raises(KeyboardInterrupt), staged_dir(str(tmp_path / "out")) as staging:
        (staging / "results.json").write_text("{}")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_an_existing_out_folder_keeps_its_other_files(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    (target / "results.json").write_text("old")
    with staged_dir(str(target)) as staging:
        (staging / "results.json").write_text("new")
    assert (target / "notes.txt").read_text() == "mine" and (target / "results.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_out_that_is_a_file_is_a_usage_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(UsageError, match="exists and is not a directory"), staged_dir(str(path)):
        pass
    with pytest.raises(UsageError, match="is not a directory"), staged_dir(str(path / "below")):
        pass


def test_the_staging_folder_of_a_simulation_killed_by_sigterm_is_removed_by_the_next_run(tmp_path):
    """SIGTERM ends Python without running its finally blocks: the folder it was staging in
    stays, and used to stay for ever."""
    workload = tmp_path / "small.toml"
    workload.write_text(SMALL)
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "mmuspec", "simulate", str(workload), "--era", "5.13", "--duration", "30",
            "--out", str(out), "--quiet"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.tmp*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    left = list(tmp_path.glob(".out.tmp*"))
    assert left and not out.exists()  # what the killed run left
    argv[argv.index("30")] = "1"
    assert subprocess.run(argv, stdout=subprocess.DEVNULL, timeout=120).returncode == 0
    assert not any(p.exists() for p in left) and (out / "results.json").exists()
