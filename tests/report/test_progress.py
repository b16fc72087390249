"""Long simulations and sweeps say how far they are and how long is left, on a terminal
and in a log."""

import io
import re

from rich.console import Console

from mmuspec.cli import main
from mmuspec.report.progress import job_progress, simulation_progress
from tests.simulate.test_simulate import SMALL

PHASES = [("boot", 10.0), ("steady", 20.0)]


def terminal():
    buffer = io.StringIO()
    return buffer, Console(file=buffer, force_terminal=True, width=160)


def test_simulate_shows_simulated_time_rate_and_eta_on_a_terminal():
    buffer, console = terminal()
    with simulation_progress("simulate small", ["5.13", "6.10"], PHASES, console=console) as update:
        for t in (5.0, 15.0, 30.0):
            update("5.13", t)
        update("6.10", 10.0)
    text = buffer.getvalue()
    assert "simulate small: 6.10" in text and "40/60 simulated s" in text
    assert "x real time" in text and "eta" in text


def test_simulate_prints_a_line_per_phase_when_piped(capsys):
    with simulation_progress("simulate small", ["5.13", "6.10"], PHASES) as update:
        for run in ("5.13", "6.10"):
            for t in (5.0, 10.0, 20.0, 30.0):
                update(run, t)
    lines = capsys.readouterr().err.splitlines()
    assert [re.match(r"simulate small: (\S+): phase (\w+) \(([\d.-]+) s\) done", x).groups() for x in lines] == [
        ("5.13", "boot", "0-10"), ("5.13", "steady", "10-30"), ("6.10", "boot", "0-10"), ("6.10", "steady", "10-30")]
    assert lines[-1].endswith("eta 0:00:00") and "60/60 simulated s" in lines[-1]


def test_the_simulate_command_reports_each_phase_of_each_era_when_piped(tmp_path, capsys):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    assert main(["simulate", str(path), "--era", "5.13", "--era", "6.10", "--duration", "12",
                 "--out", str(tmp_path / "out")]) == 0
    err = capsys.readouterr().err
    assert err.count(": phase boot (0-10 s) done") == 2 and err.count(": phase steady (10-12 s) done") == 2
    assert main(["simulate", str(path), "--era", "5.13", "--duration", "12", "--quiet",
                 "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err == ""


def test_sweep_shows_an_eta_on_a_terminal_and_in_a_log(capsys):
    buffer, console = terminal()
    with job_progress("sweep small", 4, console=console) as advance:
        advance()
    assert "1/4" in buffer.getvalue() and "eta" in buffer.getvalue()
    with job_progress("sweep small", 2) as advance:
        advance()
        advance()
    lines = capsys.readouterr().err.splitlines()
    assert [x.split(",")[0] for x in lines] == ["sweep small: 1/2 done", "sweep small: 2/2 done"]
    assert all(" eta " in x for x in lines)
