"""mmuspec.check() from Python returns the object mmuspec check prints."""

import json

import mmuspec
from mmuspec.cli import main


def test_check_returns_what_the_command_prints(capsys):
    result = mmuspec.check("zap", sets=["kvm.fault_retry_checks=seq_only"])
    status = main(["check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--quiet"])
    out = capsys.readouterr().out
    assert status == result.exit_status == 1
    strip = [line for line in out.splitlines() if not line.startswith("explored")]
    assert [line for line in str(result).splitlines() if not line.startswith("explored")] == strip


def test_the_result_answers_questions_a_notebook_asks():
    result = mmuspec.check("ksm-merge", "6.10", arch="arm64")
    assert result.verdict == "safe" and result.reachable("change_pte_called") is False
    merged = result.trace("ksm_merged")
    assert "ksm_merged" in [event for event, _, _ in merged[-1].notes]
    assert merged[0].source is not None and merged[0].source.status == "V"  # 6.10 has a tree
    assert result.witness("change_pte_called") is None and result.trace("change_pte_called") == []


def test_the_json_of_a_result_is_the_check_json(capsys):
    result = mmuspec.check("zap")
    main(["check", "zap", "--json", "--quiet"])
    cli = json.loads(capsys.readouterr().out)
    mine = result.to_json()
    assert set(mine) == set(cli) and mine["verdict"] == cli["verdict"] == "safe"
    assert mine["reachable"] == cli["reachable"]
