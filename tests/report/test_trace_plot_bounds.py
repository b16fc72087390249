"""``trace stats --plots`` draws a bounded plot whatever the timestamps, names and window."""

from __future__ import annotations

import pytest

from mmuspec.report.trace_stats import MAX_LABEL, MAX_POINTS, plot_windows, stats_plots
from mmuspec.traces.stats import trace_stats
from tests.cli.test_outputs import TRACE
from tests.helpers import run_cli

LINES = TRACE.read_text(encoding="utf-8").splitlines()
LAST = next(line for line in reversed(LINES) if "12345." in line)


def _with_last_timestamp(ts: str) -> str:
    stamp = LAST.split("]")[1].split()[1]
    return "\n".join([*LINES, LAST.replace(stamp, ts + ":")]) + "\n"


def test_one_timestamp_far_in_the_future_is_left_out_of_the_plot_and_said_so(tmp_path, capsys):
    trace = tmp_path / "t.txt"
    trace.write_text(_with_last_timestamp("99999999999.000000"))
    status, _, err = run_cli(capsys, "trace", "stats", str(trace), "--window", "0.001", "--plots", str(tmp_path / "p"))
    assert status == 0
    assert "mmuspec: --plots: 1 events after a pause of" in err and "are not drawn" in err
    assert (tmp_path / "p" / "events_per_second.png").stat().st_size > 0


def test_a_window_of_a_nanosecond_is_merged_to_a_bounded_number_of_points(tmp_path, capsys):
    with open(TRACE, encoding="utf-8") as stream:
        stats = trace_stats(stream, window=1e-9)
    shown = plot_windows(stats, 1e-9, ["kvm_exit"])
    assert len(shown.starts) <= MAX_POINTS and sum(shown.counts["kvm_exit"]) * shown.window == pytest.approx(
        stats.events["kvm:kvm_exit"])
    status, _, err = run_cli(capsys, "trace", "stats", str(TRACE), "--window", "1e-9", "--plots", str(tmp_path / "p"))
    assert status == 0 and "mmuspec: --plots: drawn in " in err


def test_a_task_name_of_a_megabyte_is_cut_in_the_plot_and_said_so(tmp_path):
    name = "q" * 1_000_000
    text = TRACE.read_text(encoding="utf-8").replace("CPU 0/KVM-995362", f"{name}-995362")
    trace = tmp_path / "t.txt"
    trace.write_text(text)
    with open(trace, encoding="utf-8") as stream:
        stats = trace_stats(stream, window=0.001)
    _drawn, notes = stats_plots(stats, 0.001, tmp_path)
    assert f"task names longer than {MAX_LABEL} characters are cut in per_vcpu.png" in notes
    assert (tmp_path / "per_vcpu.png").exists()


@pytest.mark.parametrize("window", ["0", "-1", "nan", "inf"])
def test_a_window_that_is_not_a_positive_number_of_seconds_is_a_usage_error(capsys, window):
    status, _, err = run_cli(capsys, "trace", "stats", str(TRACE), "--window", window)
    assert status == 2 and err.count("\n") == 1 and "--window" in err
