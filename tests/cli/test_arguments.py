"""A mistyped argument costs one line of reading: what is wrong, and the closest names."""

import pytest

from tests.helpers import run_cli as run


@pytest.mark.parametrize(
    ("argv", "wrong", "meant"),
    [
        (["chek", "ksm-merge"], "'chek'", "'check'"),
        (["check", "ksm-merge", "--era", "5.14"], "'5.14'", "'5.13'"),
        (["check", "ksm-merge", "--arch", "arm"], "'arm'", "'arm64'"),
        (["check", "ksm-merg"], "unknown scenario 'ksm-merg'", "'ksm-merge'"),
        (["check", "ksm-merge", "--set", "kvm.change_ptee=none"], "unknown switch 'kvm.change_ptee'",
         "'kvm.change_pte'"),
        (["check", "ksm-merge", "--set", "kvm.change_pte=bump"], "'bump' is not one of", "'bump_seq'"),
        (["check", "--matrix", "--eras", "5.13,6.100"], "unknown era '6.100'", "'6.10'"),
        (["check", "--matrix", "--arches", "x68"], "unknown arch 'x68'", "'x86'"),
        (["simulate", "vdj", "--out", "unused"], "unknown workload 'vdj'", "'vdi'"),
        (["trace", "stat", "t.txt"], "'stat'", "'stats'"),
    ],
)
def test_a_mistyped_name_is_one_line_with_did_you_mean_and_exits_2(capsys, argv, wrong, meant):
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("mmuspec: error: ")
    assert wrong in err and meant in err[err.index("did you mean"):].split("?")[0]


def test_an_unknown_option_is_one_line_that_points_at_the_help(capsys):
    status, _, err = run(capsys, "check", "ksm-merge", "--frist")
    assert status == 2
    assert err == "mmuspec: error: unrecognized arguments: --frist (see 'mmuspec --help')\n"


def test_a_name_with_nothing_close_gets_no_guess(capsys):
    status, _, err = run(capsys, "check", "ksm-merge", "--era", "zzzz")
    assert status == 2 and "did you mean" not in err and "choose from 2.6.32" in err
