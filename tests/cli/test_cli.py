import json

import pytest

from mmuspec.cli import main
from tests.cli.golden import assert_golden
from tests.helpers import run_cli as run


def test_a_safe_check_exits_0(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--quiet")
    assert status == 0
    assert "verdict: safe" in out


def test_a_violation_exits_1_and_prints_the_kernel_style_trace(capsys):
    status, out, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=count_only", "--quiet")
    assert status == 1
    assert_golden("check_zap_count_only.txt", out)


def test_a_warning_exits_1_and_has_its_own_trace(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--era", "2.6.32", "--set", "kvm.change_pte=warn_count",
                         "--quiet")
    assert status == 1
    assert "verdict: WARNING: the kernel's assertion fired: change_pte_without_invalidation" in out
    assert "warning change_pte_without_invalidation fired; shortest trace" in out
    assert "W change_pte_without_invalidation: WARN_ON_ONCE(!kvm->mmu_notifier_count)" in out


def test_json_has_the_documented_keys(capsys):
    status, out, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--json")
    data = json.loads(out)
    assert status == 1
    assert {"verdict", "property", "states", "transitions", "seconds", "warnings", "reachable", "trace"} <= set(data)
    assert data["verdict"] == "violation"
    assert data["property"] == "data_integrity"
    assert set(data["reachable"]) >= {"change_pte_installed_spte", "fault_retried", "ksm_merged"}
    assert all(isinstance(v, bool) for v in data["reachable"].values())
    assert data["trace"][-1]["events"][0]["id"] == "data_integrity"


def test_violation_wins_over_warning_in_json(capsys):
    _, out, _ = run(capsys, "check", "ksm-merge", "--set", "kvm.start_zaps_change_pte_events=false", "--json")
    data = json.loads(out)
    assert data["verdict"] == "violation"
    assert data["warnings"] == ["change_pte_without_invalidation"]


def test_the_matrix_table_is_stable(capsys):
    status, out, err = run(capsys, "check", "--matrix", "--quiet")
    assert status == 0
    assert_golden("matrix.txt", out)
    assert "180 checks" in err


def test_a_saved_trace_replays_to_the_same_violation(capsys, tmp_path):
    trace = tmp_path / "race.json"
    status, out, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=count_only",
                         "--trace-out", str(trace), "--quiet")
    assert status == 1
    saved = json.loads(trace.read_text())
    assert saved["event"] == "data_integrity"
    status, out, _ = run(capsys, "replay", str(trace))
    assert status == 1
    assert f"replayed {len(saved['steps'])} steps: the same property (data_integrity)" in out
    assert_golden("replay_zap_count_only.txt", out)


def test_replay_of_an_edited_trace_says_which_step_is_not_enabled(capsys, tmp_path):
    trace = tmp_path / "race.json"
    run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=count_only", "--trace-out", str(trace), "--quiet")
    saved = json.loads(trace.read_text())
    saved["steps"].insert(0, "vcpu0:kvm_release_pfn_clean")
    trace.write_text(json.dumps(saved))
    status, _, err = run(capsys, "replay", str(trace))
    assert status == 2
    assert err.count("\n") == 1 and "step 1 (" in err and "is not enabled" in err


def test_no_trace_file_is_written_when_nothing_was_found(capsys, tmp_path):
    trace = tmp_path / "none.json"
    status, _, err = run(capsys, "check", "zap", "--trace-out", str(trace), "--quiet")
    assert status == 0
    assert not trace.exists()
    assert "no trace was written" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "ksm-merge", "--set", "kvm.nope=1"], "unknown switch 'kvm.nope'"),
        (["check", "ksm-merge", "--set", "kvm.change_pte=maybe"], "is not one of"),
        (["check", "no-such-scenario"], "unknown scenario 'no-such-scenario'"),
        (["check", "ksm-merge", "--vcpus", "0"], "--vcpus 0: must be between 1 and 8"),
        (["check", "ksm-merge", "--trace-out", "/nonexistent/dir/t.json", "--set", "kvm.change_pte=none",
          "--era", "2.6.32"], "does not exist"),
        (["check"], "check needs a SCENARIO"),
    ],
)
def test_bad_usage_is_one_line_on_stderr_and_exit_2(capsys, argv, message):
    status, out, err = run(capsys, *argv, "--quiet")
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mmuspec: error: ") and message in err


def test_an_unknown_era_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "ksm-merge", "--era", "5.14"])
    assert info.value.code == 2


def test_a_bad_scenario_file_names_the_file_and_line(capsys, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[memory]\ngfns = 1\n[guest]\nops = ["read", "jump"]\n')
    status, _, err = run(capsys, "check", str(path))
    assert status == 2
    assert f"{path}:4: guest.ops" in err


def test_a_bad_trace_file_is_a_one_line_error(capsys, tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{not json")
    status, _, err = run(capsys, "replay", str(path))
    assert status == 2 and f"{path}:1: not JSON" in err


@pytest.mark.parametrize("command", ["eras", "switches", "scenarios", "steps", "events"])
def test_listing_commands_print_something_and_exit_0(capsys, command):
    status, out, _ = run(capsys, command)
    assert status == 0 and out.strip()


def test_eras_lists_every_era_with_its_commit(capsys):
    _, out, _ = run(capsys, "eras")
    for text in ("2.6.32", "828502d30073", "6bdb913f0a70", "c13fda237f08", "f3b65bbaed7c", "glisse-2019"):
        assert text in out


def test_help_teaches_with_examples(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "exit status" in out and "--trace-out" in out


def test_reductions_can_be_turned_off_and_the_count_is_the_plain_one(capsys):
    _, out, _ = run(capsys, "check", "ksm-merge", "--vcpus", "2", "--accesses", "2", "--reduce", "none", "--json",
                    "--workers", "1")
    assert json.loads(out)["states"] == 224216
    _, out, _ = run(capsys, "check", "ksm-merge", "--vcpus", "2", "--accesses", "2", "--json", "--workers", "1")
    assert json.loads(out)["states"] < 224216


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--reduce", "symmetry,magic"], "--reduce 'symmetry,magic'"),
        (["--workers", "0"], "--workers 0: too small"),
        (["--random", "5", "--preemptions", "1"], "--random cannot be combined"),
        (["--resume", "/nonexistent.ckpt"], "no such file"),
    ],
)
def test_bad_search_options_are_usage_errors(capsys, argv, message):
    status, _, err = run(capsys, "check", "zap", *argv, "--quiet")
    assert status == 2 and message in err


def test_random_walks_say_what_they_covered_and_find_the_race(capsys):
    status, out, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--vcpus", "2",
                         "--random", "30", "--seed", "4", "--minimize", "--quiet")
    assert status == 1
    assert "random steps" in out and "30 random walks of at most 200 steps (seed 4): not exhaustive" in out


def test_a_checkpointed_check_resumes_from_the_command_line(capsys, tmp_path):
    ckpt = str(tmp_path / "c.ckpt")
    args = ["check", "ksm-merge", "--vcpus", "2", "--accesses", "2", "--json", "--workers", "1"]
    _, whole, _ = run(capsys, *args)
    run(capsys, *args, "--max-states", "5000", "--checkpoint", ckpt, "--checkpoint-every", "0")
    status, resumed, _ = run(capsys, *args, "--resume", ckpt)
    assert status == 0
    assert json.loads(resumed)["states"] == json.loads(whole)["states"]


def test_a_preemption_bound_is_reported_as_incomplete(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--preemptions", "0", "--quiet")
    assert status == 4
    assert "not a proof" in out and "at most 0 preemptions" in out
