"""Trace files are data: replay checks every field, runs no embedded code unless told, and
replays lassos by their loop; --trace-out on a full disk keeps the verdict."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from tests.helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
VARIANT = ROOT / "examples" / "variants" / "trust_the_sequence.py"


@pytest.fixture
def variant_trace(tmp_path, capsys):
    path = tmp_path / "race.json"
    status, _, _ = run_cli(capsys, "check", "zap", "--variant", str(VARIANT), "--trace-out", str(path), "--quiet")
    assert status == 1
    return path


def test_a_lasso_trace_replays_its_loop(tmp_path, capsys):
    """A lasso used to replay as 'no longer reaches quiescence', exit 0."""
    path = tmp_path / "lasso.json"
    status, _, _ = run_cli(capsys, "check", "seq-wrap", "--era", "6.1", "--trace-out", str(path), "--quiet")
    assert status == 1 and json.loads(path.read_text())["loop_start"] is not None
    status, out, _ = run_cli(capsys, "replay", str(path))
    assert status == 1, out
    assert "come back to where they started, and repeat forever" in out


def test_a_lasso_whose_loop_no_longer_closes_is_not_reproduced(tmp_path, capsys):
    path = tmp_path / "lasso.json"
    run_cli(capsys, "check", "seq-wrap", "--era", "6.1", "--trace-out", str(path), "--quiet")
    data = json.loads(path.read_text())
    data["loop_start"] = 0
    path.write_text(json.dumps(data))
    status, out, _ = run_cli(capsys, "replay", str(path))
    assert status == 0 and "no longer come back" in out


def test_a_variant_trace_does_not_run_its_embedded_source_unless_trusted(variant_trace, tmp_path, capsys):
    """A crafted trace used to run a shell command through its embedded variant."""
    marker = tmp_path / "ran"
    data = json.loads(variant_trace.read_text())
    data["variant"]["text"] = f"import os\nos.system('touch {marker}')\n" + data["variant"]["text"]
    data["variant"].pop("sha256")
    variant_trace.write_text(json.dumps(data, indent=2))
    status, _, err = run_cli(capsys, "replay", str(variant_trace))
    assert status == 2 and "--trust-embedded-variant" in err and "--variant FILE" in err
    assert not marker.exists()


def test_a_variant_trace_replays_with_the_variant_file_it_records(variant_trace, tmp_path, capsys):
    status, out, _ = run_cli(capsys, "replay", str(variant_trace), "--variant", str(VARIANT))
    assert status == 1, out
    other = tmp_path / "other.py"
    other.write_text(VARIANT.read_text() + "\n# changed\n")
    status, _, err = run_cli(capsys, "replay", str(variant_trace), "--variant", str(other))
    assert status == 2 and "not the variant" in err


def test_a_variant_trace_replays_with_trust_embedded_variant(variant_trace, capsys):
    status, _, _ = run_cli(capsys, "replay", str(variant_trace), "--trust-embedded-variant")
    assert status == 1


def test_a_trusted_embedded_variant_must_match_its_recorded_hash(variant_trace, capsys):
    data = json.loads(variant_trace.read_text())
    data["variant"]["text"] += "\n# changed\n"
    variant_trace.write_text(json.dumps(data, indent=2))
    status, _, err = run_cli(capsys, "replay", str(variant_trace), "--trust-embedded-variant")
    assert status == 2 and "does not match its recorded sha256" in err


@pytest.fixture
def plain_trace(tmp_path, capsys):
    path = tmp_path / "race.json"
    run_cli(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--trace-out", str(path), "--quiet")
    return path


@pytest.mark.parametrize("field, value, message", [
    ("steps", "abc", '"steps" must be the list of steps'),
    ("steps", [1, 2], '"steps" must be step names'),
    ("steps", [], "nothing to replay"),
    ("vcpus", "two", '"vcpus" must be an integer'),
    ("set", [], '"set" must be an object'),
    ("scenario", {"name": 1}, '"scenario" must hold'),
    ("loop_start", 999, "is not a step of the trace"),
    ("era", None, '"era" must be an era name'),
    ("variant", 3, '"variant" must be an object or null'),
])
def test_a_replay_file_field_of_the_wrong_type_is_bad_input_with_its_line(plain_trace, capsys, field, value, message):
    data = json.loads(plain_trace.read_text())
    data[field] = value
    plain_trace.write_text(json.dumps(data, indent=2))
    status, _, err = run_cli(capsys, "replay", str(plain_trace))
    assert status == 2, err
    assert message in err and f"{plain_trace}:" in err
    line = int(err.split(f"{plain_trace}:")[1].split(":")[0])
    assert f'"{field}"' in plain_trace.read_text().splitlines()[line - 1]


def test_a_replay_file_without_steps_says_so(plain_trace, capsys):
    data = json.loads(plain_trace.read_text())
    del data["steps"]
    plain_trace.write_text(json.dumps(data, indent=2))
    status, _, err = run_cli(capsys, "replay", str(plain_trace))
    assert status == 2 and 'no "steps" in the trace file' in err


def test_a_replay_file_that_is_not_utf8_is_bad_input_with_its_line(plain_trace, capsys):
    plain_trace.write_bytes(b'{\n  "mmuspec_trace": 1,\n  "era": "\xff"\n}\n')
    status, _, err = run_cli(capsys, "replay", str(plain_trace))
    assert status == 2 and f"{plain_trace}:3: not UTF-8 text (byte 0xff at column 11)" in err


def test_a_full_disk_with_trace_out_prints_the_report_then_exits_2_naming_the_file(tmp_path, capsys, monkeypatch):
    """A full disk used to lose the verdict: exit 3 and nothing printed."""
    from mmuspec import cli

    def full(path, text):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cli, "_atomic_write", full)
    path = tmp_path / "race.json"
    status, out, err = run_cli(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only",
                               "--trace-out", str(path), "--quiet")
    assert status == 2
    assert "verdict: VIOLATION of data_integrity" in out
    assert f"--trace-out {path}: the trace of data_integrity was not written (No space left on device)" in err
