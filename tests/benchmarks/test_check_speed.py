"""The speed benchmark says in one line when SPIN cannot be timed, and times mmuspec anyway."""

import argparse
import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "check_speed.py"


def load():
    spec = importlib.util.spec_from_file_location("check_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_check_speed_says_in_one_line_that_the_spin_folder_is_absent_and_skips_only_spin(tmp_path, capsys):
    bench = load()
    bench.SPIN_DIR = tmp_path / "shared" / "anchors" / "spin"
    bench.SPIN["ready"] = bench.spin_ready()
    err = capsys.readouterr().err
    assert err == f"check_speed: SPIN comparison skipped ({bench.SPIN_DIR} is absent); timing mmuspec alone\n"
    assert bench.run_spin("ksm-merge", "5.13", 1, 1, timeout=5) == ("-", "-")


def test_check_speed_still_times_mmuspec_without_spin():
    bench = load()
    run = bench.run_mmuspec(["cow-break", "--vcpus", "1", "--accesses", "1", "--workers", "1"], timeout=120)
    assert not run.timed_out and run.verdict == "safe" and run.states > 0


def test_the_scaling_table_prints_a_failed_run_s_error_instead_of_a_ratio(capsys):
    bench = load()
    bench.SCALE = [(["ksm-merge", "--vcpus", "1", "--accesses", "1", "--era", "1999"], None)]
    bench.scale(argparse.Namespace(repeat=1, timeout=6.0, partitions=False))
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| ksm-merge"))
    assert "run failed:" in row and "1999" in row and "x |" not in row
    assert "scaling on ksm-merge" in out and "threads" not in out.split("scaling on")[1].split(":", 1)[1]


def test_the_scaling_table_gives_medians_ratios_and_the_curve_on_a_small_configuration(capsys):
    bench = load()
    bench.SCALE = [(["cow-break", "--vcpus", "1", "--accesses", "1"], None)]
    bench.scale(argparse.Namespace(repeat=1, timeout=6.0, partitions=False))
    out = capsys.readouterr().out
    assert "load average at start" in out and "medians of 1 alternating runs" in out
    row = next(line for line in out.splitlines() if line.startswith("| cow-break"))
    assert row.endswith("| yes |")
    assert "1 thread " in out.split("scaling on")[1]
