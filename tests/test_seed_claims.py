"""The claims of c13fda237f08 and its history, each decided by exhaustive search."""

import pytest

from tests.helpers import ARCHES, SCENARIOS, check


def test_2_6_32_without_its_change_pte_loses_data_in_ksm_merge():
    result = check("ksm-merge", "2.6.32", "kvm.change_pte=none")
    assert result.violation.event in ("data_integrity", "no_use_after_free")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_2_6_32_as_it_was_is_safe(scenario):
    assert check(scenario, "2.6.32").verdict == "safe"


@pytest.mark.parametrize("era", ["3.7", "5.13"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_3_7_and_5_13_are_safe_the_warn_never_fires_and_change_pte_is_dead_on_x86(era, scenario):
    result = check(scenario, era)
    assert result.verdict == "safe"
    assert result.warnings == []
    assert result.reachable("change_pte_changed_spte") is False


def test_2_6_32_with_the_seeds_assertion_fires_it():
    result = check("ksm-merge", "2.6.32", "kvm.change_pte=warn_count")
    assert [w.event for w in result.warnings] == ["change_pte_without_invalidation"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_6_10_is_safe(scenario):
    assert check(scenario, "6.10").verdict == "safe"


@pytest.mark.parametrize("scenario", ["ksm-merge", "cow-break"])
def test_the_2019_proposal_is_safe_and_makes_change_pte_live(scenario):
    result = check(scenario, "glisse-2019")
    assert result.verdict == "safe"
    assert result.reachable("change_pte_changed_spte") is True


@pytest.mark.parametrize(("arch", "live"), [("x86", False), ("ppc", False), ("arm64", True), ("mips", True)])
def test_per_arch_liveness_of_change_pte_in_5_13_when_other_pages_keep_the_table(arch, live):
    result = check("ksm-merge", "5.13", f"arch={arch}")
    assert result.verdict == "safe"
    assert result.reachable("change_pte_changed_spte") is live


@pytest.mark.parametrize("arch", ARCHES)
def test_5_13_is_safe_on_every_arch_at_two_vcpus(arch):
    result = check("ksm-merge", "5.13", f"arch={arch}", vcpus=2, accesses=1)
    assert result.verdict == "safe"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_5_13_is_safe_at_two_vcpus_and_two_accesses(scenario):
    result = check(scenario, "5.13", vcpus=2, accesses=2)
    assert result.verdict == "safe"
    assert result.reachable("change_pte_changed_spte") is False
