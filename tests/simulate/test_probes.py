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
