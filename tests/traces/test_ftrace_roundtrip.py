"""Counterexamples printed as the kernel's tracepoint lines read back to the same events."""

import pytest

from mmuspec.cli import main
from mmuspec.model.events import BIT
from mmuspec.report.ftrace import ftrace_lines, read_back
from tests.helpers import check, kernel


@pytest.mark.parametrize(
    ("scenario", "era", "sets"),
    [("ksm-merge", "2.6.32", ("kvm.change_pte=none", "mm.change_pte_fallback=none")), ("zap", "5.13", ("kvm.fault_retry_checks=seq_only",)),
     ("cow-break", "glisse-2019", ("kvm.change_pte=update_in_place",))],
)
def test_an_ftrace_counterexample_reads_back_to_the_same_events_and_replays(scenario, era, sets):
    k = kernel(scenario, era, *sets)
    result = check(scenario, era, *sets)
    lines = ftrace_lines(k, result.violation.actions)
    events, actions = read_back("\n".join(lines))
    emitted = [line.split(": ", 2)[1] for line in lines if not line.startswith("#")]
    assert [name for name, _ in events] == emitted
    assert actions == [k.action_text(a) for a in result.violation.actions]
    state, ev = k.initial(), 0
    for text in actions:
        state, ev, _ = k.explain_action(state, k.action_by_text(text))
    assert ev & BIT[result.violation.event]


def test_check_prints_ftrace_lines_that_trace_stats_reads(tmp_path, capsys):
    assert main(["check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--trace-format", "ftrace",
                 "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "kvm_exit: vcpu 0 reason EPT_VIOLATION" in out and "kvm_unmap_hva_range: mmu notifier unmap range" in out
    path = tmp_path / "ce.txt"
    path.write_text(out)
    assert main(["trace", "stats", str(path), "--json"]) == 0
    stats = capsys.readouterr()
    assert '"unparsed": 0' in stats.out
