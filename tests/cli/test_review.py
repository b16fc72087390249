"""The commands for patch review and CI: diff, check-all, expectations in check, TAP and
JUnit output, the smoke budget, coverage, the estimate and the source locations of steps."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli.golden import assert_golden, assert_readme_sample
from tests.helpers import run_cli as run

ROOT = Path(__file__).resolve().parents[2]
EXPECT = str(ROOT / "examples" / "expect")
VARIANT = str(ROOT / "examples" / "variants" / "trust_the_sequence.py")




def test_diff_of_two_eras_lists_each_answer_that_differs_with_the_witness_of_its_side(capsys):
    status, out, _ = run(capsys, "diff", "ksm-merge", "--era", "6.8", "--era", "6.10", "--arches", "x86,arm64",
                         "--quiet")
    assert status == 1
    assert_golden("diff_ksm_merge_6.8_6.10.txt", out)


def test_diff_of_an_era_and_a_variant_shows_the_violation_the_patch_allows(capsys):
    status, out, _ = run(capsys, "diff", "zap", "--era", "5.13", "--variant", VARIANT, "--arches", "x86", "--quiet")
    assert status == 1
    assert_golden("diff_zap_variant.txt", out)


def test_diff_of_identical_sides_says_so_and_exits_0(capsys):
    status, out, _ = run(capsys, "diff", "aging", "--era", "5.13", "--set", "kvm.change_pte=check_count",
                         "--arches", "x86", "--quiet")
    assert status == 0
    assert "0 of 1 scenario x arch checks differ" in out and "identical" in out


def test_diff_json_names_both_sides_and_every_difference(capsys):
    status, out, _ = run(capsys, "diff", "zap", "--era", "5.13", "--variant", VARIANT, "--arches", "x86", "--json")
    data = json.loads(out)
    assert status == 1 and data["schema"] == "mmuspec.diff/1" and not data["identical"]
    keys = [d["key"] for d in data["cells"][0]["differences"]]
    assert keys == ["verdict", "data_integrity", "no_use_after_free"]
    witness = data["cells"][0]["differences"][1]["witness"]
    assert witness["side"] == "B" and witness["trace"][-1]["events"][0]["id"] == "data_integrity"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--era", "6.9", "--era", "6.10"], "unknown era '6.9'; did you mean '6.8' or '6.4'?"),
        (["--era", "5.13"], "diff needs two sides"),
        (["--set", "kvm.change_pte=none", "--era", "5.13"], "give --era first"),
        (["--era", "5.13", "--set", "kvm.nope=1"], "unknown switch 'kvm.nope'"),
        (["--era", "5.13", "--era", "6.10", "--arches", "x68"], "unknown arch 'x68'; did you mean 'x86'?"),
    ],
)
def test_diff_rejects_bad_sides_in_one_line_before_any_search(capsys, argv, message):
    status, out, err = run(capsys, "diff", *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_check_all_runs_a_folder_of_scenarios_against_their_expect_tables(capsys):
    status, out, _ = run(capsys, "check-all", EXPECT, "--quiet")
    assert status == 0
    assert_golden("check_all_examples.txt", out.replace(EXPECT, "examples/expect"))


def test_check_all_exits_1_and_names_the_expectation_that_does_not_hold(capsys, tmp_path):
    (tmp_path / "zap.toml").write_text('[host]\nzap = [0]\n[expect]\nspte_zapped = "Always"\n')
    (tmp_path / "plain.toml").write_text('[host]\nzap = [0]\n')
    status, out, _ = run(capsys, "check-all", str(tmp_path), "--quiet")
    assert status == 1
    assert "MISMATCH  spte_zapped  expected Always, got Sometimes" in out
    assert "no [expect] table (skipped): plain.toml" in out


def test_check_all_rejects_a_bad_file_before_running_anything(capsys, tmp_path):
    (tmp_path / "a.toml").write_text('[host]\nzap = [0]\n[expect]\nverdict = "safe"\n')
    (tmp_path / "b.toml").write_text('[host]\nzap = [0]\n[expect]\nverdict = { "5.31" = "safe" }\n')
    status, out, err = run(capsys, "check-all", str(tmp_path), "--quiet")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and f"{tmp_path / 'b.toml'}:4: expect.verdict: unknown era '5.31'" in err


def test_check_says_whether_the_result_matches_and_exits_1_when_it_does_not(capsys, tmp_path):
    path = tmp_path / "zap.toml"
    path.write_text('[host]\nzap = [0]\n[expect]\nverdict = "safe"\nchange_pte_called = "Never"\n')
    status, out, _ = run(capsys, "check", str(path), "--quiet")
    assert status == 1
    assert "NOT as expected, 1 of 2 hold" in out
    assert "MISMATCH  change_pte_called  expected Never, got Sometimes" in out


def test_check_tap_output_has_one_line_per_property_and_warning(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--format", "tap", "--quiet")
    assert status == 0
    assert_golden("check_ksm_merge_tap.txt", out)


def test_check_tap_of_a_violation_is_not_ok_with_the_trace_as_comments(capsys):
    status, out, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--format", "tap",
                         "--quiet")
    assert status == 1
    assert "not ok 1 zap era 5.13 arch x86: data_integrity # violated in 7 steps" in out
    assert "#   7  guest_retry" in out and out.rstrip().endswith("skip:0 error:0")


def test_check_junit_output_is_xml_with_a_failure_per_violation(capsys):
    status, out, _ = run(capsys, "check", "zap", "--set", "kvm.fault_retry_checks=seq_only", "--format", "junit",
                         "--quiet")
    root = ET.fromstring(out)
    suite = root.find("testsuite")
    assert status == 1 and suite is not None
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["zap era 5.13 arch x86: data_integrity", "zap era 5.13 arch x86: no_use_after_free"]
    assert suite.get("failures") == "2" and suite.get("tests") == str(len(list(suite.iter("testcase"))))


def test_bugs_prints_tap_with_one_line_per_entry(capsys):
    status, out, _ = run(capsys, "bugs", "B1", "B2", "--format", "tap", "--quiet")
    assert status == 0
    assert out.splitlines()[:5] == [
        "TAP version 13", "1..2", "# mmuspec bugs",
        "ok 1 B1 48af0d7cb3c8: mm: mmu_notifier: fix inconsistent memory between secondary MMU and host",
        "ok 2 B2 c2655835fd8c: mm/mmu_notifiers: ensure range_end() is paired with range_start()"]


def test_check_all_junit_has_a_testcase_per_scenario_and_era(capsys):
    status, out, _ = run(capsys, "check-all", EXPECT, "--format", "junit")
    names = [c.get("name") for c in ET.fromstring(out).iter("testcase")]
    assert status == 0 and "seq-wrap.toml era 6.1 arch x86" in names and len(names) == 8


def test_a_smoke_budget_stops_a_long_search_and_exits_4(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--vcpus", "3", "--accesses", "3", "--smoke", "0.3",
                         "--reduce", "none", "--quiet")
    assert status == 4
    assert "search incomplete: time budget of 0.3 s spent" in out
    assert "verdict: no violation found before the search stopped (not a proof)" in out


def test_a_smoke_check_that_finishes_in_time_is_still_a_proof(capsys):
    status, out, _ = run(capsys, "check", "zap", "--smoke", "--quiet")
    assert status == 0 and "verdict: safe" in out


def test_coverage_counts_the_steps_and_names_those_never_enabled(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--coverage", "--quiet")
    assert status == 0
    steps = out[out.index("coverage (transitions"):out.index("switches exercised")]
    assert_golden("check_ksm_merge_coverage.txt", steps)
    assert "  mm.wp_reuse = page_count: mapcount on 15\n" in out  # the reuse test decides a COW
    assert "kvm.retry_range" in out.splitlines()[-1]  # one gfn: no range can miss it


def test_coverage_in_json_has_the_same_counts(capsys):
    _, out, _ = run(capsys, "check", "ksm-merge", "--coverage", "--json", "--quiet")
    data = json.loads(out)
    assert sum(data["coverage"]["steps"].values()) == data["transitions"]
    assert data["coverage"]["never_enabled"] == ["wait_on_page_locked"]
    assert data["coverage"]["switches"]["kvm.retry_range"]["exercised"] is False


def test_the_estimate_prints_a_state_count_without_searching(capsys):
    status, out, _ = run(capsys, "check", "ksm-merge", "--vcpus", "2", "--estimate", "200", "--quiet")
    assert status == 0
    assert out.startswith("mmuspec check --estimate: ksm-merge, era 5.13")
    assert "states (Chao1 per walk step over 200 random walks" in out and "explored" not in out


def test_steps_names_the_kernel_file_and_function_of_each_step_per_era(capsys):
    status, out, _ = run(capsys, "steps", "--era", "6.3")
    assert status == 0
    assert "  madvise  zap_page_range_start -- " in out
    assert "           at 6.3 mm/memory.c:zap_page_range_single [V]" in out
    status, out, _ = run(capsys, "steps")
    assert "at 2.6.32..3.7 arch/x86/kvm/mmu.c:tdp_page_fault; 5.10..6.18 arch/x86/kvm/mmu/mmu.c:direct_page_fault " \
           "(5.13 [I], 6.11 [I], 6.15 [I], 6.18 [I]); glisse-2019 arch/x86/kvm/mmu.c:tdp_page_fault" in out
    status, out, _ = run(capsys, "steps", "--era", "6.18")
    assert "           at 6.18 mm/memory.c:zap_page_range_single [I]" in out


def test_steps_rejects_an_unknown_era_with_the_closest_names(capsys):
    status, _, err = run(capsys, "steps", "--era", "6.9")
    assert status == 2 and "did you mean '6.8' or '6.4'?" in err


def test_the_readme_diff_sample_is_the_real_output_of_the_command_it_names(capsys):
    command = "mmuspec diff ksm-merge --era 6.8 --era 6.10 --arches x86,arm64"
    status, out, _ = run(capsys, *command.split()[1:], "--quiet")
    assert status == 1
    assert_readme_sample(command, out)


def test_diff_lists_a_default_scenario_one_side_cannot_run_but_refuses_a_named_one(capsys):
    status, out, _ = run(capsys, "diff", "--era", "5.13", "--era", "6.10", "--arches", "x86", "--quiet")
    assert status == 1
    assert "not run:\n  gmem: scenario gmem has a guest_memfd file" in out
    assert "\n  pfncache: scenario pfncache has a gfn_to_pfn_cache" in out
    status, out, err = run(capsys, "diff", "pfncache", "--era", "5.13", "--era", "6.10", "--arches", "x86", "--quiet")
    assert status == 2 and out == "" and "this era has none" in err


def test_the_eras_after_6_10_are_listed_run_in_the_matrix_and_diff(capsys):
    status, out, _ = run(capsys, "eras")
    assert status == 0
    for name, commit in (("6.11", "bc1a5cd00211"), ("6.15", "aa34b811650c"), ("6.18", "3ccbf6f47098")):
        assert any(line.startswith(f"{name}  [") and commit in line for line in out.splitlines())
    status, out, _ = run(capsys, "check", "aging", "--matrix", "--eras", "6.10,6.11,6.15,6.18",
                         "--arches", "x86", "--quiet")
    assert status == 0
    assert [line.split("|")[2].strip() for line in out.splitlines() if line.startswith("| aging")] == \
        ["6.10", "6.11", "6.15", "6.18"]
    status, out, _ = run(capsys, "diff", "aging", "--era", "6.10", "--era", "6.18", "--arches", "x86", "--quiet")
    assert status in (0, 1) and "mmuspec diff: A = 6.10, B = 6.18" in out
