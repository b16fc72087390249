"""The per-arch change_pte handlers, one state at a time."""

import pytest

from mmuspec.model.events import (
    CHANGE_PTE_INSTALLED_SPTE,
    CHANGE_PTE_REMOVED_SPTE,
    CHANGE_PTE_REPOINTED_SPTE,
)
from tests.helpers import kernel


def setup(arch, *, spte=None, table=True):
    k = kernel("ksm-merge", "5.13", f"arch={arch}")
    s = bytearray(k.initial())
    L = k.L
    s[L.SPT_TABLE] = 1 if table else 0
    if spte is not None:
        s[L.SPTE_PFN[0]], s[L.SPTE_W[0]] = spte
    k.ev = 0
    return k, s


def spte(k, s):
    return s[k.L.SPTE_PFN[0]], s[k.L.SPTE_W[0]]


@pytest.mark.parametrize("arch", ["x86", "ppc"])
def test_x86_and_ppc_change_pte_is_a_nop_on_an_absent_spte(arch):
    k, s = setup(arch)
    assert k.kvm_set_spte_gfn(s, 0, 2, False) is False
    assert spte(k, s) == (0, 0)
    assert not k.ev


def test_x86_repoints_a_present_spte_read_only_for_a_read_only_pte():
    k, s = setup("x86", spte=(3, 1))
    assert k.kvm_set_spte_gfn(s, 0, 2, False) is True
    assert spte(k, s) == (2, 0)
    assert k.ev & CHANGE_PTE_REPOINTED_SPTE


def test_x86_zaps_a_present_spte_for_a_writable_pte():
    k, s = setup("x86", spte=(2, 0))
    k.kvm_set_spte_gfn(s, 0, 4, True)
    assert spte(k, s) == (0, 0)
    assert k.ev & CHANGE_PTE_REMOVED_SPTE and not k.ev & CHANGE_PTE_REPOINTED_SPTE


def test_ppc_unmaps_a_present_spte():
    k, s = setup("ppc", spte=(3, 1))
    k.kvm_set_spte_gfn(s, 0, 2, False)
    assert spte(k, s) == (0, 0)
    assert k.ev & CHANGE_PTE_REMOVED_SPTE


def test_arm64_maps_read_only_wherever_the_table_exists_even_over_nothing():
    k, s = setup("arm64")
    k.kvm_set_spte_gfn(s, 0, 4, True)
    assert spte(k, s) == (4, 0)
    assert k.ev & CHANGE_PTE_INSTALLED_SPTE


def test_arm64_cannot_map_without_a_table_because_it_has_no_memory_cache():
    k, s = setup("arm64", table=False)
    k.kvm_set_spte_gfn(s, 0, 4, True)
    assert spte(k, s) == (0, 0)


def test_mips_installs_the_host_pte_with_its_write_permission():
    k, s = setup("mips")
    k.kvm_set_spte_gfn(s, 0, 4, True)
    assert spte(k, s) == (4, 1)


def test_arm64_frees_an_empty_last_level_table_unless_something_keeps_it_alive():
    k, s = setup("arm64", spte=(3, 1))
    k.table_kept_alive = False
    k.kvm_unmap_gfn_range(s, 0)
    assert s[k.L.SPT_TABLE] == 0
    k, s = setup("x86", spte=(3, 1))
    k.table_kept_alive = False
    k.kvm_unmap_gfn_range(s, 0)
    assert s[k.L.SPT_TABLE] == 1
