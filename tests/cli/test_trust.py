"""Outputs a user trusts without checking: each test is named after a way one misled."""

import pytest

from mmuspec.model import SWITCHES
from tests.helpers import run_cli

VARIANT = "examples/variants/trust_the_sequence.py"


@pytest.mark.parametrize("argv", [
    ("check", "zap", "--era", "6.8", "--arch", "arm64", "--set", "kvm.lockless_precheck=true"),
    ("diff", "zap", "--era", "6.8", "--arches", "x86,arm64", "--set", "kvm.lockless_precheck=true"),
    ("check", "--matrix", "--eras", "6.8", "--set", "kvm.lockless_precheck=true"),
    ("check", "zap", "--arch", "ppc", "--set", "kvm.retry_range=hva"),
    ("check", "zap", "--arch", "x86", "--set", "kvm.fault_snapshot=after_unlock"),
])
def test_a_switch_that_cannot_act_on_the_arch_is_refused_not_a_vacuous_safe(capsys, argv):
    status, out, err = run_cli(capsys, *argv, "--quiet")
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert "acts only on" in lines[0] and any(a in lines[0] for a in ("x86", "arm64"))


def test_which_arches_a_switch_acts_on_is_declared_with_the_switch_and_read_by_the_model():
    from tests.helpers import kernel

    assert SWITCHES["kvm.lockless_precheck"].arches == ("x86",)
    assert kernel("zap", "6.8", "arch=x86").lockless_precheck
    assert not kernel("zap", "6.8", "arch=arm64").lockless_precheck  # the 6.8 preset, not a --set


def test_check_matrix_with_set_and_variant_names_them_in_the_header(capsys):
    status, out, _ = run_cli(capsys, "check", "--matrix", "--eras", "5.13", "--arches", "x86", "zap",
                             "--set", "kvm.fault_retry_checks=seq_only", "--variant", VARIANT, "--quiet")
    header = out.splitlines()[0]
    assert status == 1 and "kvm.fault_retry_checks=seq_only" in header and f"variant {VARIANT}" in header


def test_the_stock_matrix_header_names_no_switch(capsys):
    _, out, _ = run_cli(capsys, "check", "--matrix", "--eras", "5.13", "--arches", "x86", "zap", "--quiet")
    assert out.splitlines()[0].startswith("mmuspec check --matrix (zap ")
