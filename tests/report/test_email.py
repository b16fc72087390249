"""--format email: a report that pastes into a mail to a kernel list."""

from pathlib import Path

import pytest

from mmuspec.cli import main
from mmuspec.report.email import WIDTH, email_text

VARIANT = Path("examples/variants/trust_the_sequence.py").resolve()


def run(capsys, *argv):
    status = main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.mark.parametrize("argv", [
    ("check", "zap", "--variant", str(VARIANT), "--quiet"),
    ("diff", "zap", "--era", "5.13", "--variant", str(VARIANT), "--arches", "x86", "--quiet"),
    ("bugs", "B4", "B13", "--quiet"),
])
def test_email_reports_fit_72_columns_under_the_command_line_and_commit(capsys, monkeypatch, argv):
    monkeypatch.chdir(Path(__file__).parents[2])
    status, out, _ = run(capsys, *argv, "--format", "email")
    lines = out.splitlines()
    assert status in (0, 1)
    assert max(len(x) for x in lines) <= WIDTH
    assert lines[0].startswith(f"$ mmuspec {argv[0]} ") and "--format" not in out.split("\n\n")[0]
    head = out.split("\n\n")[0].splitlines()
    assert head[-1].startswith("mmuspec ") and ("commit " in head[-1] or "not a git checkout" in head[-1])
    assert str(Path.cwd()) not in out  # paths relative to where it ran


def test_an_email_of_a_variants_counterexample_marks_its_steps_with_relative_paths(capsys, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[2])
    _, out, _ = run(capsys, "check", "zap", "--variant", str(VARIANT), "--quiet", "--format", "email")
    assert "$ mmuspec check zap --variant examples/variants/trust_the_sequence.py" in out
    assert "\n  4~ direct_page_fault" in out
    assert "variant: mmu_notifier_retry_hva(): replaced by" in out


def test_an_email_turns_tables_into_one_block_per_row():
    text = "| bug | commit | found |\n|-----|--------|-------|\n| B4  | 2230f9e1171a | x, 9 steps |\n"
    assert email_text(text, ["bugs"]).splitlines()[3:] == ["bug B4", "  commit: 2230f9e1171a", "  found: x, 9 steps"]


def test_a_long_command_line_is_continued_with_backslashes():
    argv = ["check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--set", "kvm.lockless_precheck=true",
            "--era", "6.8", "--format", "email"]
    head = email_text("x\n", argv).split("\n\n")[0].splitlines()
    assert head[0].endswith(" \\") and all(len(x) <= WIDTH for x in head)
    assert " ".join(x.rstrip(" \\").strip() for x in head[:-1]) == (
        "$ mmuspec check zap --set kvm.fault_retry_checks=seq_only --set kvm.lockless_precheck=true --era 6.8")


def test_bad_input_in_email_format_is_one_line_on_stderr_and_nothing_on_stdout(capsys):
    status, out, err = run(capsys, "check", "no-such-scenario", "--format", "email")
    assert status == 2 and out == "" and len(err.strip().splitlines()) == 1
