"""The claims of c13fda237f08 and its history, each decided by exhaustive search."""

import pytest

from tests.helpers import ARCHES, SCENARIOS, check


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_2_6_32_as_it_was_is_safe(scenario):
    assert check(scenario, "2.6.32").verdict == "safe"


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_2_6_32_without_change_pte_is_safe_because_the_core_falls_back_to_invalidate_page(scenario, arch):
    # D1: __mmu_notifier_change_pte() called ->invalidate_page for a subscriber without
    # ->change_pte until 6bdb913f0a70; for KVM that is seq++ and an unmap.
    assert check(scenario, "2.6.32", "kvm.change_pte=none", f"arch={arch}").verdict == "safe"


def test_2_6_32_with_no_notification_at_all_loses_a_write_in_ksm_merge():
    result = check("ksm-merge", "2.6.32", "kvm.change_pte=none", "mm.change_pte_fallback=none")
    assert result.violation.event == "data_integrity"
    assert result.violation.length == 9


@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_2_6_32_did_not_need_the_seq_bump_because_every_fault_wrote(scenario, arch):
    # D2: change_pte updating in place without mmu_notifier_seq++ is safe with 2.6.32's
    # get_user_pages_fast(addr, 1, 1, page): a racing fault breaks COW itself.
    assert check(scenario, "2.6.32", "kvm.change_pte=update_in_place", f"arch={arch}").verdict == "safe"


@pytest.mark.parametrize("scenario", ["ksm-merge", "cow-break"])
def test_the_seq_bump_became_necessary_once_read_faults_could_map_read_only_pages(scenario):
    result = check(scenario, "2.6.32", "kvm.change_pte=update_in_place", "kvm.gup_write_always=false")
    assert result.violation.event == "data_integrity"
    assert result.violation.length == 12


@pytest.mark.parametrize("era", ["3.7", "5.13"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_3_7_and_5_13_are_safe_the_warn_never_fires_and_change_pte_is_dead_on_x86(era, scenario):
    result = check(scenario, era)
    assert result.verdict == "safe"
    assert result.warnings == []
    for outcome in ("installed", "repointed", "removed"):
        assert result.reachable(f"change_pte_{outcome}_spte") is False


def test_2_6_32_with_the_seeds_assertion_fires_it():
    result = check("ksm-merge", "2.6.32", "kvm.change_pte=warn_count")
    assert [w.event for w in result.warnings] == ["change_pte_without_invalidation"]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_6_10_is_safe(scenario):
    assert check(scenario, "6.10").verdict == "safe"


def test_the_2019_proposal_is_safe_and_re_points_the_spte_when_ksm_merges():
    result = check("ksm-merge", "glisse-2019")
    assert result.verdict == "safe"
    assert result.reachable("change_pte_repointed_spte") is True


def test_the_2019_proposal_only_removes_the_spte_on_an_x86_cow_which_saves_no_exit():
    # D17: x86 drops the SPTE for a writable new pte; only arm64 and MIPS keep it.
    result = check("cow-break", "glisse-2019")
    assert result.verdict == "safe"
    assert result.reachable("change_pte_removed_spte") is True
    assert result.reachable("change_pte_installed_spte") is False
    assert result.reachable("change_pte_repointed_spte") is False


@pytest.mark.parametrize(("arch", "live"), [("x86", False), ("ppc", False), ("arm64", True), ("mips", True)])
def test_per_arch_liveness_of_change_pte_in_5_13_when_other_pages_keep_the_table(arch, live):
    result = check("ksm-merge", "5.13", f"arch={arch}")
    assert result.verdict == "safe"
    assert bool(result.reachable("change_pte_installed_spte") or result.reachable("change_pte_repointed_spte")) is live


@pytest.mark.parametrize("arch", ARCHES)
def test_5_13_is_safe_on_every_arch_at_two_vcpus(arch):
    result = check("ksm-merge", "5.13", f"arch={arch}", vcpus=2, accesses=1)
    assert result.verdict == "safe"


@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_5_13_is_safe_at_two_vcpus_and_two_accesses(scenario):
    result = check(scenario, "5.13", vcpus=2, accesses=2)
    assert result.verdict == "safe"
    assert result.reachable("change_pte_removed_spte") is False


@pytest.mark.slow
@pytest.mark.parametrize("arch", ARCHES)
@pytest.mark.parametrize("scenario", ["ksm-merge", "cow-break"])
def test_2_6_32_did_not_need_the_seq_bump_at_two_vcpus_and_two_accesses_either(scenario, arch):
    result = check(scenario, "2.6.32", "kvm.change_pte=update_in_place", f"arch={arch}", vcpus=2, accesses=2)
    assert result.verdict == "safe"
