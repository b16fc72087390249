import pytest

from mmuspec.model import era_config
from mmuspec.simulate import probes
from mmuspec.simulate.probes import NONE, P_ANON, P_SWAP, RW


@pytest.mark.parametrize("era", ["3.7", "5.13", "6.10"])
def test_reclaiming_a_mapped_page_zaps_its_spte_and_leaves_a_swap_entry(era):
    out = probes.reclaim(era_config(era), RW)
    assert (out.pte_after, out.spte_after, out.zaps, out.flushes) == (P_SWAP, NONE, 1, 1)
    assert out.exits == 0


def test_touching_a_swapped_out_page_exits_once_and_swaps_it_back_in():
    out = probes.access(era_config("5.13"), P_SWAP, NONE, False)
    assert (out.exits, out.retries, out.pte_after) == (1, 0, P_ANON)
    assert out.spte_after != NONE


@pytest.mark.parametrize("era", ["5.13", "6.8", "6.10", "6.18"])
@pytest.mark.parametrize("spte", [0, 1, 2])
@pytest.mark.parametrize("write", [False, True])
def test_a_vcpu_that_spins_while_a_merge_invalidates_waits_for_it_and_is_not_reported_as_a_bug(era, spte,
                                                                                                    write):
    # From v6.8 kvm_faultin_pfn() retries before the lookup while the invalidation is in
    # progress, so the vCPU never blocks: the probe once ran out of steps (exit 3 in simulate).
    out = probes.access_during_merge(era_config(era), spte, write)
    assert out.exits >= 1 and out.pte_after is not None
