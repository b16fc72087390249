"""Lockless aging (kvm.lockless_aging, v6.15 x86): the aging walk reads an SPTE without
mmu_lock and updates it in a later step, so zaps and faults run in between.  The kernel's
atomic update keeps every property; a plain store of the SPTE it read brings a zapped
SPTE back, and the guest then uses a freed page."""

from pathlib import Path

import pytest

from mmuspec.errors import UsageError
from mmuspec.model import era_config, host
from tests.helpers import check, kernel

SCENARIO = str(Path(__file__).resolve().parents[2] / "examples" / "scenarios" / "lockless-aging.toml")
PINNED = {("6.10", "x86"): 1519, ("6.15", "x86"): 1675, ("6.18", "x86"): 1675, ("6.15", "arm64"): 2299}


def test_aging_is_lockless_from_6_15_on():
    assert [era_config(e)["kvm.lockless_aging"] for e in ("6.10", "6.11", "6.15", "6.18")] == [
        "locked", "locked", "atomic", "atomic"]


@pytest.mark.parametrize(("era", "arch"), list(PINNED))
def test_aging_racing_a_zap_and_a_fault_is_safe_with_a_pinned_number_of_states(era, arch):
    result = check(SCENARIO, era, f"arch={arch}")
    assert (result.states, result.verdict) == (PINNED[era, arch], "safe")


def test_the_lockless_walk_lets_a_zap_run_between_its_read_and_its_update():
    k = kernel(SCENARIO, "6.15")
    assert k.lockless_aging == "atomic"
    result = check(SCENARIO, "6.15")
    # The split adds interleavings that the locked walk of 6.10 does not have.
    assert result.states > check(SCENARIO, "6.10").states


def test_a_plain_store_of_the_spte_the_walk_read_resurrects_a_zapped_spte():
    k = kernel(SCENARIO, "6.15", "kvm.lockless_aging=plain_write")
    result = check(SCENARIO, "6.15", "kvm.lockless_aging=plain_write")
    assert result.verdict == "violation"
    assert {"data_integrity", "no_use_after_free"} <= {w.event for w in result.failures}
    assert any("kvm_age_spte_lockless" in k.action_text(a) for a in result.violation.actions)


def test_arm64_ages_under_mmu_lock_in_every_era_and_refuses_the_switch():
    assert kernel(SCENARIO, "6.18", "arch=arm64").lockless_aging == "locked"
    with pytest.raises(UsageError, match="acts only on x86"):
        kernel(SCENARIO, "6.15", "arch=arm64", "kvm.lockless_aging=atomic")


def test_the_walk_holds_the_ptl_until_its_update():
    k = kernel(SCENARIO, "6.15")
    s = bytearray(k.initial())
    t = next(th.index for th in k.threads if th.kind == "kswapd")
    gfn = 0
    s[k.L.SPTE_PFN[gfn]], s[k.L.SPTE_YOUNG[gfn]] = s[k.L.PTE_PFN[gfn]], 1
    assert host.aging_walk_lockless(k, s, t, gfn, host.R_AGE_IDLE)
    assert s[k.L.PTL] == 1 and s[k.base[t]] == host.R_AGE_IDLE
    assert k.locks_held(s, t) == ["ptl"]
