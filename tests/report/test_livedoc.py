"""Reports whose results come from the tool: every directive block of every report in
reports/ is what its command prints today, and the renderer replaces only what is
between a directive's comments."""

from pathlib import Path

import pytest

from mmuspec.report.livedoc import main, normalise, render

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted(p for p in (ROOT / "reports").rglob("*.md") if "<!-- mmuspec" in p.read_text(encoding="utf-8"))


def test_there_are_reports_with_results_from_the_tool():
    assert any(p.name == "oom-reaper-itree-leak.md" for p in REPORTS)


@pytest.mark.parametrize("report", REPORTS, ids=[p.name for p in REPORTS])
def test_each_reports_results_are_what_the_tool_prints_today(report, monkeypatch):
    monkeypatch.chdir(ROOT)
    text = report.read_text(encoding="utf-8")
    assert normalise(render(text)) == normalise(text), (
        f"{report} is stale: python -m mmuspec.report.livedoc {report.relative_to(ROOT)}")


def test_a_directive_block_is_replaced_by_its_commands_output_and_nothing_else():
    text = "before\n<!-- mmuspec: eras -->\nold\n<!-- /mmuspec -->\nafter\n"
    out = render(text, lambda argv: (0, f"ran {' '.join(argv)}\n"))
    assert out == "before\n<!-- mmuspec: eras -->\n```\n$ mmuspec eras    # exit status 0\nran eras\n```\n" \
                  "<!-- /mmuspec -->\nafter\n"


def test_a_summary_gives_the_verdict_the_bound_and_the_shortest_witness(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = "<!-- mmuspec-summary: check zap --set kvm.fault_retry_checks=seq_only -->\n<!-- /mmuspec -->\n"
    out = render(text)
    assert "verdict: **violation** of `data_integrity` (also no_use_after_free)" in out
    assert "bound: exhaustive search of `zap` (282 states, 460 transitions, depth 17)" in out
    assert "  7. vcpu0: guest_retry `arch/x86/kvm/x86.c:vcpu_enter_guest`" in out
    assert "! data_integrity: vcpu0 reads gfn 0 through spte -> P1 and gets 1" in out


def test_check_mode_says_which_report_is_stale_and_rewrites_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    stale = tmp_path / "r.md"
    stale.write_text("<!-- mmuspec-summary: check zap -->\nsafe, probably\n<!-- /mmuspec -->\n", encoding="utf-8")
    assert main([str(stale), "--check"]) == 1
    assert "safe, probably" in stale.read_text(encoding="utf-8")
    assert main([str(stale)]) == 0 and main([str(stale), "--check"]) == 0
    assert "**safe**: every property holds" in stale.read_text(encoding="utf-8")
