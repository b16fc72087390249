"""Trace files that cannot be read whole: one line naming the file, exit 2, and for a cut
compressed trace the figures of the part read first."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest

from tests.helpers import run_cli

DATA = Path(__file__).parent / "data"
TEXT = (DATA / "ftrace_kvm.txt").read_bytes()


@pytest.mark.parametrize("content", [b"", b"# tracer: nop\n#\n", b"\n\n"])
def test_an_empty_trace_file_says_it_holds_no_trace_lines(tmp_path, capsys, content):
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    for command in ("stats", "whatif"):
        status, out, err = run_cli(capsys, "trace", command, str(path))
        assert status == 2 and out == ""
        assert err.strip() == f"mmuspec: error: {path}: the file holds no trace lines (expected ftrace trace " \
            "text, `trace-cmd report` or `perf script` output)"


def test_a_binary_trace_dat_says_to_run_trace_cmd_report_first(tmp_path, capsys):
    path = tmp_path / "trace.dat"
    path.write_bytes(b"\x17\x08\x44tracing6\x00\x00\x00\x00" + bytes(range(256)) * 8)
    status, out, err = run_cli(capsys, "trace", "stats", str(path))
    assert status == 2 and out == ""
    assert "binary trace-cmd trace.dat" in err and "trace-cmd report" in err


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_a_cut_compressed_trace_reports_the_part_read_then_exits_2_saying_it_was_cut(tmp_path, capsys, compress):
    whole = compress(TEXT * 40)
    path = tmp_path / "t.txt.z"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    status, out, err = run_cli(capsys, "trace", "stats", str(path), "--json")
    assert status == 2
    assert '"events"' in out  # the figures of the part read
    assert "the compressed trace is cut or damaged here" in err and "covers its first" in err


@pytest.mark.parametrize("compress", [gzip.compress, lzma.compress])
def test_a_damaged_compressed_trace_is_bad_input_not_a_crash(tmp_path, capsys, compress):
    data = bytearray(compress(TEXT * 40))
    for i in range(len(data) // 3, len(data) // 3 + 16):
        data[i] ^= 0x5A
    path = tmp_path / "t.txt.z"
    path.write_bytes(bytes(data))
    for command in ("stats", "whatif"):
        status, _, err = run_cli(capsys, "trace", command, str(path))
        assert status == 2, err
        assert "cut or damaged" in err


def test_invalid_utf8_in_a_trace_is_read_as_malformed_lines_not_a_crash(tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_bytes(TEXT + b"\xff\xfe garbage \xc3\x28\n")
    status, out, _ = run_cli(capsys, "trace", "stats", str(path), "--json")
    assert status == 0 and '"events"' in out
