"""Judging a search against [expect]: Always, Sometimes and Never told apart, a violation
that is expected is as expected, and a bounded search decides only what it found."""

from mmuspec import check
from mmuspec.model import parse_scenario

ZAP = '[guest]\nvcpus = 1\naccesses = 2\n[host]\nzap = [0]\n'


def scenario(expect):
    return parse_scenario(ZAP + "[expect]\n" + expect, "zap-expect.toml", "zap-expect")


def test_always_sometimes_and_never_are_told_apart():
    result = check(scenario('page_freed = "Always"\nspte_zapped = "Sometimes"\nksm_merged = "Never"\n'))
    assert [(j.key, j.got) for j in result.expectations] == [
        ("ksm_merged", "Never"), ("page_freed", "Always"), ("spte_zapped", "Sometimes")]
    assert result.as_expected is True and result.exit_status == 0


def test_a_wrong_expectation_is_a_mismatch_and_exits_1():
    result = check(scenario('spte_zapped = "Always"\n'))
    assert result.expectations[0].got == "Sometimes"
    assert result.as_expected is False and result.exit_status == 1


def test_a_violation_the_file_expects_is_as_expected_and_exits_0():
    result = check(scenario('verdict = "data_integrity"\n'), sets=["kvm.fault_retry_checks=seq_only"])
    assert result.verdict == "violation"
    assert result.as_expected is True and result.exit_status == 0


def test_expectations_for_other_eras_do_not_apply():
    result = check(scenario('verdict = { "6.10" = "violation" }\n'), era="5.13")
    assert result.expectations == [] and result.exit_status == 0


def test_a_bounded_search_leaves_never_and_safe_undetermined_and_exits_4():
    result = check(scenario('verdict = "safe"\nmemslot_changed = "Never"\n'), max_states=20)
    assert [j.got for j in result.expectations] == [None, None]
    assert result.as_expected is None and result.exit_status == 4
