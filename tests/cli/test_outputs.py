"""--out a/b/c makes its folders, and a run that fails writes nothing, in every command
that writes a folder."""

from pathlib import Path

from mmuspec.cli import main
from tests.simulate.test_simulate import SMALL

TRACE = Path(__file__).resolve().parents[1] / "traces" / "data" / "ftrace_kvm.txt"


def small(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return str(path)


def leftovers(root):
    """Everything under ``root`` but the inputs the test wrote."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != "small.toml")


def test_simulate_out_creates_its_parent_folders(tmp_path, capsys):
    out = tmp_path / "a" / "b" / "c"
    assert main(["simulate", small(tmp_path), "--era", "5.13", "--duration", "3", "--out", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["exits_per_second.png", "memory_saved.png", "results.json"]
    assert f"wrote {out / 'results.json'}" in capsys.readouterr().out


def test_a_simulation_that_fails_writes_nothing_not_even_its_folders(tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("no plot today")

    monkeypatch.setattr("mmuspec.report.figures.simulation_figures", broken)
    out = tmp_path / "a" / "b"
    assert main(["simulate", small(tmp_path), "--era", "5.13", "--duration", "3", "--out", str(out), "--quiet"]) == 3
    assert leftovers(tmp_path) == []
    assert "internal error: RuntimeError: no plot today" in capsys.readouterr().err


def test_sweep_out_creates_its_parent_folders_and_writes_nothing_when_it_fails(tmp_path, monkeypatch, capsys):
    out = tmp_path / "x" / "y"
    argv = ["sweep", small(tmp_path), "--grid", "ksm.pages_to_scan=100,800", "--era", "5.13", "--duration", "3",
            "--workers", "1", "--out", str(out), "--quiet"]

    def broken(*args, **kwargs):
        raise RuntimeError("no heat map today")

    monkeypatch.setattr("mmuspec.report.figures.sweep_figures", broken)
    assert main(argv) == 3
    assert leftovers(tmp_path) == []
    monkeypatch.undo()
    assert main(argv) == 0
    assert (out / "sweep.csv").exists() and len(list(out.glob("heatmap_5.13_*.png"))) == 3


def test_trace_stats_plots_creates_its_parent_folders(tmp_path, capsys):
    plots = tmp_path / "p" / "q"
    assert main(["trace", "stats", str(TRACE), "--plots", str(plots), "--json"]) == 0
    assert (plots / "events_per_second.png").exists() and (plots / "per_vcpu.png").exists()


def test_trace_stats_plots_writes_nothing_when_the_trace_cannot_be_read(tmp_path, capsys):
    plots = tmp_path / "p" / "q"
    assert main(["trace", "stats", str(tmp_path / "missing.txt"), "--plots", str(plots)]) == 2
    assert leftovers(tmp_path) == []


def test_reevaluate_out_creates_its_parent_folders_and_writes_nothing_when_it_fails(tmp_path, monkeypatch, capsys):
    def report(out_dir, *, duration=None, seed=None, profile=None):
        (out_dir / "reevaluation.md").write_text("# report\n")
        return out_dir / "reevaluation.md"

    monkeypatch.setattr("mmuspec.report.reevaluation.write_report", report)
    out = tmp_path / "r" / "s"
    assert main(["reevaluate", "--out", str(out)]) == 0
    assert (out / "reevaluation.md").read_text() == "# report\n"
    assert capsys.readouterr().out == f"wrote {out / 'reevaluation.md'}\n"

    def interrupted(out_dir, *, duration=None, seed=None, profile=None):
        (out_dir / "reevaluation_exits.png").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr("mmuspec.report.reevaluation.write_report", interrupted)
    other = tmp_path / "t" / "u"
    assert main(["reevaluate", "--out", str(other)]) == 130
    assert not (tmp_path / "t").exists()
