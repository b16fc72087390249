"""Exit status 1 means "found something" and nothing else: failures of the tool, bounded
searches and Ctrl-C each have their own status."""

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import mmuspec
from tests.helpers import run_cli as run

ROOT = Path(__file__).resolve().parents[2]




@pytest.mark.parametrize(
    "bound",
    [["--max-states", "50"], ["--max-depth", "3"], ["--preemptions", "0"], ["--random", "3", "--seed", "1"]],
)
def test_a_bounded_search_that_finds_nothing_exits_4_and_is_not_complete(capsys, bound):
    status, out, _ = run(capsys, "check", "ksm-merge", *bound, "--json", "--quiet", "--workers", "1")
    data = json.loads(out)
    assert status == 4
    assert data["complete"] is False and data["verdict"] == "unknown" and data["violations"] == []
    status, out, _ = run(capsys, "check", "ksm-merge", *bound, "--quiet", "--workers", "1")
    assert status == 4 and "not a proof" in out


def test_a_depth_bound_the_search_never_reaches_is_still_a_proof(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--max-depth", "1000", "--json", "--quiet")
    assert status == 0 and json.loads(out)["complete"] is True


def test_a_bounded_search_that_finds_a_violation_exits_1(capsys):
    status, _, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--max-depth", "12",
                       "--quiet")
    assert status == 1


def test_a_raising_variant_is_one_line_naming_its_file_and_line_and_exits_2(capsys, tmp_path):
    variant = tmp_path / "broken.py"
    variant.write_text('"""A fault path that crashes."""\n\n\ndef mmu_notifier_retry(k, s, mmu_seq):\n'
                       '    return 1 // 0\n')
    # arm64 keeps mmu_notifier_retry() (x86 compares ranges since v5.12).
    status, out, err = run(capsys, "check", "zap", "--arch", "arm64", "--variant", str(variant), "--quiet",
                           "--workers", "1")
    assert status == 2 and out == ""
    assert err == (f"mmuspec: error: {variant}:5: mmu_notifier_retry() raised ZeroDivisionError: integer division "
                   "or modulo by zero (in step vcpu0:direct_page_fault)\n")


def test_an_internal_error_is_one_line_exits_3_and_shows_the_traceback_only_with_debug(capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the table\nis inconsistent")

    monkeypatch.setattr("mmuspec.cli.run_check", broken)
    status, out, err = run(capsys, "check", "zap", "--quiet")
    assert status == 3 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("mmuspec: internal error: RuntimeError: the table is inconsistent") and "--debug" in err
    for argv in (["--debug", "check", "zap"], ["check", "zap", "--debug"]):
        status, _, err = run(capsys, *argv, "--quiet")
        assert status == 3 and "Traceback (most recent call last)" in err and "def broken" not in err
        assert err.rstrip().splitlines()[-1].startswith("mmuspec: internal error: RuntimeError")


def _closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("http://127.0.0.1:8786", "unknown scheme 'http'"),
        ("tcp//127.0.0.1:8786", "not an address"),
        ("tcp://127.0.0.1", "expected tcp://HOST:PORT"),
        ("tcp://127.0.0.1:{port}", "cannot reach the cluster"),
    ],
)
def test_a_bad_or_unreachable_cluster_exits_2_in_one_line_before_any_search(capsys, monkeypatch, tmp_path, address,
                                                                            message):
    def search(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr("mmuspec.cli.run_check", search)
    address = address.format(port=_closed_port())
    started = time.monotonic()
    status, out, err = run(capsys, "check", "ksm-merge", "--cluster", address, "--quiet")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err and address in err
    assert time.monotonic() - started < 10
    status, _, err = run(capsys, "sweep", "vdi", "--grid", "ksm.pages_to_scan=100", "--cluster", address,
                         "--out", str(tmp_path / "sweep"), "--quiet")
    assert status == 2 and message in err and not (tmp_path / "sweep").exists()


def test_ctrl_c_exits_130_with_the_figures_so_far_and_a_final_checkpoint_that_resumes(tmp_path):
    ckpt = tmp_path / "search.ckpt"
    argv = [sys.executable, "-m", "mmuspec", "check", "ksm-merge", "--vcpus", "3", "--accesses", "1",
            "--reduce", "none", "--workers", "1", "--json"]
    proc = subprocess.Popen([*argv, "--checkpoint", str(ckpt), "--checkpoint-every", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)  # the checkpoint appears once the search is under way
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    data = json.loads(out)
    assert data["interrupted"] is True and data["complete"] is False and data["verdict"] == "unknown"
    assert data["stop_reason"] == "interrupted (Ctrl-C)" and data["states"] > 0
    resumed = subprocess.run([*argv, "--resume", str(ckpt), "--max-states", "1"], cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 4, resumed.stderr
    assert json.loads(resumed.stdout)["states"] >= data["states"]


def test_a_violation_piped_into_a_reader_that_stops_early_does_not_exit_0():
    argv = [sys.executable, "-m", "mmuspec", "check", "ksm-merge", "--era", "2.6.32", "--set", "kvm.change_pte=none",
            "--set", "mm.change_pte_fallback=none"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `| head -0` does, before the report is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err


def test_check_help_lists_every_exit_status(capsys):
    status, out, _ = run(capsys, "check", "--help")
    assert status == 0
    section = out[out.index("exit status:"):]
    for code in ("0", "1", "2", "3", "4", "130", "141"):
        assert f"\n  {code} " in section


def test_version_prints_the_package_version(capsys):
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out == f"mmuspec {mmuspec.__version__}\n"

