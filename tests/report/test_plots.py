"""Plots that need no checking against the numbers."""

import pytest

from mmuspec.report.figures import SWEEP_METRICS, simulation_figures, sweep_figures
from mmuspec.report.plots import coinciding, series_plot
from mmuspec.report.trace_stats import stats_plots
from mmuspec.simulate.engine import CAUSES
from mmuspec.traces.stats import trace_stats
from tests.cli.test_outputs import TRACE


def series(**lines):
    out = {}
    for label, y in lines.items():
        data = {"t": [1.0, 2.0, 3.0], "saved_mib": y, "exits_per_s": y}
        data.update({f"exits_per_s.{c}": (y if c == "first_touch" else [0.0, 0.0, 0.0]) for c in CAUSES})
        out[label.replace("_", ".")] = data
    return out


def test_lines_that_coincide_are_drawn_once_and_the_legend_says_so(tmp_path):
    data = series(v5_13=[1.0, 2.0, 3.0], v6_10=[1.0, 2.0, 3.0], glisse=[0.0, 1.0, 1.0])
    drawn = series_plot(data, "saved_mib", "MiB", "memory saved", tmp_path / "m.png")
    assert drawn.legend == ("v5.13 = v6.10 (identical)", "glisse")
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_lines_that_differ_anywhere_are_not_merged():
    merged = coinciding({"a": ([1, 2], [1, 2]), "b": ([1, 2], [1, 2.0001])})
    assert list(merged) == ["a", "b"]


@pytest.mark.parametrize(("exits", "log", "scale"), [("total", False, "linear"), ("by-cause", True, "log")])
def test_simulate_plots_exits_in_total_or_by_cause_and_on_a_log_scale(tmp_path, exits, log, scale):
    data = series(v5_13=[1.0, 2.0, 3.0], v6_10=[1.0, 2.0, 4.0])
    saved, per_second = simulation_figures("small", data, tmp_path, exits=exits, log=log)
    assert per_second.path == tmp_path / "exits_per_second.png" and per_second.path.exists()
    assert per_second.yscale == scale and saved.yscale == "linear"
    if exits == "by-cause":
        assert per_second.panels == ("first_touch",)  # the causes with no exits get no panel
    else:
        assert per_second.panels == ()


def test_simulate_cli_takes_the_exit_plot_options(tmp_path, capsys):
    from mmuspec.cli import main
    from tests.simulate.test_simulate import SMALL

    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    assert main(["simulate", str(path), "--era", "5.13", "--duration", "3", "--plot-exits", "by-cause", "--log",
                 "--quiet", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "exits_per_second.png").stat().st_size > 1000


def rows():
    out = []
    for era, scale in (("5.13", 1.0), ("glisse-2019", 3.0)):
        for scan in (100.0, 800.0):
            for write in (0.1, 0.5):
                out.append({"ksm.pages_to_scan": scan, "access.write_fraction": write, "era": era,
                            "exits_per_s": scale * scan * write, "saved_mib_mean": scale + write,
                            "guest_time_lost_pct": scale * write})
    return out


def test_sweep_heat_maps_share_one_labelled_colour_scale_across_eras_and_map_the_difference(tmp_path):
    grid = {"ksm.pages_to_scan": [100.0, 800.0], "access.write_fraction": [0.1, 0.5]}
    drawn = sweep_figures("small", grid, ["5.13", "glisse-2019"], rows(), tmp_path)
    by_name = {d.path.name: d for d in drawn}
    assert len(drawn) == 3 * len(SWEEP_METRICS)
    a, b = by_name["heatmap_5.13_exits_per_s.png"], by_name["heatmap_glisse-2019_exits_per_s.png"]
    assert a.limits == b.limits == (10.0, 1200.0)
    assert a.colorbar == "VM exits per second (exits/s); same scale for every era"
    diff = by_name["heatmap_diff_glisse-2019_minus_5.13_exits_per_s.png"]
    assert diff.limits == (-800.0, 800.0)  # centred on zero
    assert diff.colorbar == "VM exits per second: glisse-2019 - 5.13 (exits/s)"
    assert all(d.path.exists() for d in drawn)


def test_trace_plots_have_the_traces_own_seconds_on_the_time_axis(tmp_path):
    with open(TRACE, encoding="utf-8") as stream:
        stats = trace_stats(stream, window=0.001)
    events = stats_plots(stats, 0.001, tmp_path)[0]
    assert events.xlabel.startswith("trace time (s) since the first event (timestamp 12345.000100 s)")
    assert "simulated" not in events.xlabel
