"""The fast path cannot drift from the semantics: on any schedule, the simulator and the
exact model of `mmuspec check` count the same exits, retries, COW breaks, merges,
change_pte calls, SPTE changes and zaps."""

from hypothesis import given, settings
from hypothesis import strategies as st

from mmuspec.model import era_config
from mmuspec.simulate.schedule import model_schedule, simulate_schedule
from tests.helpers import ARCHES, ERAS

events = st.lists(
    st.one_of(
        st.tuples(st.just("touch"), st.integers(0, 2), st.booleans()),
        st.tuples(st.just("scan"), st.integers(0, 2)),
    ),
    max_size=10,
)


def scans_once(schedule):
    seen, out = set(), []
    for event in schedule:
        if event[0] == "scan":
            if event[1] in seen:
                continue
            seen.add(event[1])
        out.append(event)
    return out


@settings(max_examples=150, deadline=None)
@given(schedule=events, era=st.sampled_from(ERAS), arch=st.sampled_from(ARCHES))
def test_simulator_and_model_count_the_same_on_any_schedule(schedule, era, arch):
    schedule = scans_once(schedule)
    config = era_config(era, {"arch": arch})
    assert simulate_schedule(config, 3, schedule) == model_schedule(config, 3, schedule)


def test_a_merge_then_a_write_costs_what_the_2023_discussion_says_in_5_13():
    # Yan Zhao (2023): after the page is merged and faulted read-only, a write exits,
    # breaks COW, retries because the sequence moved, and exits again.
    config = era_config("5.13")
    tally = simulate_schedule(config, 1, [("touch", 0, False), ("scan", 0), ("touch", 0, False), ("touch", 0, True)])
    assert (tally.merges, tally.cow, tally.retries) == (1, 1, 1)
    assert tally.exits == 1 + 1 + 2  # first fault, refault after the zap, write + retry
