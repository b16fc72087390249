"""Every step and helper names, era by era, the kernel file and function it mirrors, and
every location is verified against a kernel tree, inferred from the trees on both sides,
or marked unverified; the evidence is data in the repository (source_evidence.py)."""

import pytest

from mmuspec.model import ERAS, Kernel  # noqa: F401  (registers every step)
from mmuspec.model.registry import FUNCTIONS
from mmuspec.model.source_evidence import FOUND, TREES
from mmuspec.model.sources import SOURCES, Source, audit, history_text, location


def test_every_step_and_helper_has_a_location_or_a_declared_absence_in_every_era():
    assert audit(list(FUNCTIONS)) == []


def test_a_function_without_an_entry_is_reported():
    assert audit(["a_step_nobody_located"]) == ["a_step_nobody_located: no entry in model/sources.py SOURCES"]


def test_an_absence_that_a_tree_contradicts_is_reported():
    table = {"kvm_mmu_notifier_change_pte": Source("virt/kvm/kvm_main.c:kvm_mmu_notifier_change_pte", absent="5.10")}
    problems = audit(["kvm_mmu_notifier_change_pte"], table)
    assert problems == ["kvm_mmu_notifier_change_pte (x86): declared absent in 5.10, but its tree defines "
                        "virt/kvm/kvm_main.c:kvm_mmu_notifier_change_pte"]


@pytest.mark.parametrize("era", list(ERAS))
def test_a_verified_location_names_the_tree_of_its_era_as_evidence(era):
    for name in SOURCES:
        here = location(name, era)
        if here is None or here.status != "V":
            continue
        assert here.evidence == (f"v{TREES[era]}",)
        assert TREES[era] in FOUND[here.text]


def test_an_inferred_location_is_defined_by_the_trees_of_the_eras_on_both_sides():
    here = location("kvm_mmu_notifier_change_pte", "5.13")
    assert TREES["5.13"] is None
    assert here is not None and here.status == "I" and here.evidence == ("v5.12.9", "v5.15.55")


def test_a_function_renamed_between_eras_on_both_sides_stays_unverified_in_between():
    here = location("kvm_set_spte_gfn", "5.13")
    assert here is not None and here.label() == "arch/x86/kvm/mmu/mmu.c:kvm_set_spte_gfn [U]"


def test_locations_follow_the_kernel_across_renames_and_removals():
    assert location("direct_page_fault", "3.7").text == "arch/x86/kvm/mmu.c:tdp_page_fault"
    assert location("direct_page_fault", "6.8").text == "arch/x86/kvm/mmu/mmu.c:direct_page_fault"
    assert location("zap_page_range_start", "6.1").text == "mm/memory.c:zap_page_range"
    assert location("zap_page_range_start", "6.3").text == "mm/memory.c:zap_page_range_single"
    assert location("kvm_mmu_notifier_change_pte", "6.10") is None
    assert location("kvm_set_spte_gfn", "6.8", "arm64").text == "arch/arm64/kvm/mmu.c:kvm_set_spte_gfn"
    assert location("kvm_set_spte_gfn", "3.7", "arm64") is None  # KVM/arm64 came in v3.11
    assert location("kvm_set_spte_gfn", "glisse-2019", "arm64").text == "virt/kvm/arm/mmu.c:kvm_set_spte_hva"


def test_the_evidence_lists_only_candidates_of_the_table_and_trees_of_known_eras():
    candidates = {c for s in SOURCES.values() for a in ("x86", "arm64", "ppc", "mips") for c in s.candidates(a)}
    assert set(FOUND) == candidates
    trees = {v for v in TREES.values() if v is not None}
    assert all(set(versions) <= trees for versions in FOUND.values())
    assert set(TREES) == set(ERAS)


def test_the_history_of_a_step_merges_eras_with_the_same_location():
    assert history_text("kvm_mmu_notifier_invalidate_page").startswith(
        "2.6.32..3.7 virt/kvm/kvm_main.c:kvm_mmu_notifier_invalidate_page; 5.10..glisse-2019 (none)")


def test_the_eras_after_the_last_tree_read_carry_its_locations_forward_as_inferred():
    assert TREES["6.18"] is None
    here = location("zap_page_range_start", "6.18")
    assert here is not None and here.label() == "mm/memory.c:zap_page_range_single [I]"
    assert here.evidence == ("v6.10",)
    assert location("kvm_mmu_notifier_change_pte", "6.18") is None
    assert location("zap_page_range_start", "6.10").status == "V"
