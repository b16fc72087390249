"""KVM_PRE_FAULT_MEMORY vCPUs: the ioctl holds kvm->srcu until it returns, so its retry
loop and a memslot deletion wait for each other until 6.18 returns -EAGAIN."""

import pytest

from mmuspec.errors import UsageError
from mmuspec.model import era_config
from tests.helpers import check, kernel

PINNED = {"6.11": (22, "violation"), "6.15": (22, "violation"), "6.18": (20, "safe")}


@pytest.mark.parametrize("era", list(PINNED))
def test_prefault_against_a_memslot_deletion_explores_a_pinned_number_of_states(era):
    result = check("prefault-memslot-delete", era)
    assert (result.states, result.verdict) == PINNED[era]


def test_the_ioctl_exists_from_6_11_and_returns_eagain_on_an_invalid_slot_from_6_18():
    assert [era_config(e)["kvm.prefault"] for e in ("6.10", "6.11", "6.15", "6.18")] == [
        "none", "retry_in_kernel", "retry_in_kernel", "eagain_on_invalid_slot"]


@pytest.mark.parametrize(("era", "sets", "message"), [
    ("6.10", (), "this era has no such ioctl"),
    ("6.11", ("arch=arm64",), "modelled on x86 only"),
])
def test_a_prefaulting_scenario_is_refused_where_the_ioctl_does_not_exist(era, sets, message):
    with pytest.raises(UsageError, match=message):
        kernel("prefault-memslot-delete", era, *sets)


def test_a_prefaulting_vcpu_holds_srcu_while_it_retries_and_a_running_one_does_not():
    from mmuspec.model import guest

    k = kernel("prefault-memslot-delete", "6.11")
    s = bytearray(k.initial())
    b = k.vcpu_bases[0]
    s[b] = guest.RETRY
    assert guest.in_srcu(k, s, b)
    k.prefault = False
    assert not guest.in_srcu(k, s, b)
