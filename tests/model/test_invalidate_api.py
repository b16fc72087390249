"""The v6.8 invalidation API: kvm_mmu_invalidate_begin(), range_add() and end() as three
helpers, and the three rules the kernel asserts about them, each caught by a deliberately
broken configuration and holding in the eras that have the API."""

import pytest

from mmuspec.model import era_config
from tests.helpers import check, kernel

# (scenario, era): states explored.  begin() and range_add() run in one mmu_lock section,
# so the three helpers leave every state count of the one-call form as it was.
PINNED = {
    ("memslot-delete-ksm", "6.10"): 361,
    ("memslot-create", "6.10"): 347,
    ("zap-gfn-range", "6.10"): 170,
    ("ksm-merge", "6.10"): 683,
}


def test_the_api_is_three_steps_from_6_8_and_one_call_before():
    assert era_config("6.4")["kvm.invalidate_api"] == "begin_with_range"
    for era in ("6.8", "6.10", "6.11", "6.15", "6.18"):
        assert era_config(era)["kvm.invalidate_api"] == "begin_add_end"


@pytest.mark.parametrize(("scenario", "era"), list(PINNED))
def test_the_three_helpers_explore_exactly_the_states_of_the_one_call_form(scenario, era):
    split = check(scenario, era)
    together = check(scenario, era, "kvm.invalidate_api=begin_with_range")
    assert split.states == together.states == PINNED[scenario, era]
    assert split.verdict == together.verdict == "safe"


def test_begin_without_a_range_before_end_is_caught_when_every_invalidation_counts():
    # 6.8's start() calls begin() only when a memslot intersects; counting every range,
    # as before 5.15, leaves begin() without range_add() when the slot is gone.
    result = check("memslot-delete-ksm", "6.10", "kvm.count_only_if_memslot=false")
    assert "invalidation_without_range" in {w.event for w in result.warnings}
    assert check("memslot-delete-ksm", "6.10").verdict == "safe"


def test_an_invalidation_left_in_progress_at_destroy_is_caught_without_the_memslot_wait():
    result = check("memslot-delete-ksm", "6.10", "kvm.memslot_update_waits=false")
    assert "invalidation_dangling_at_destroy" in {w.event for w in result.warnings}
    # The one-call form of 6.4 has no such assertion: only quiescence says so there.
    older = check("memslot-delete-ksm", "6.4", "kvm.memslot_update_waits=false")
    assert "invalidation_dangling_at_destroy" not in {w.event for w in older.warnings}
    assert older.violation is not None and older.violation.event == "quiescence"


def test_in_progress_going_negative_is_caught_when_a_memslot_appears_between_start_and_end():
    result = check("memslot-create", "6.10", "kvm.memslot_update_waits=false")
    assert "mmu_notifier_count_negative" in {w.event for w in result.warnings}


def test_end_clears_the_range_and_warns_only_when_no_range_was_added():
    k = kernel("memslot-delete-ksm", "6.10")
    s = bytearray(k.initial())
    k.kvm_mmu_invalidate_begin(s)
    k.ev = 0
    k.kvm_mmu_invalidate_end(s)
    assert k.ev and s[k.L.COUNT] == 0
    k.kvm_mmu_invalidate_begin(s)
    k.kvm_mmu_invalidate_range_add(s, 0, 1)
    k.ev = 0
    k.kvm_mmu_invalidate_end(s)
    assert k.ev == 0 and s[k.L.COUNT] == 0 and s[k.L.RANGE_ADDED] == 0
