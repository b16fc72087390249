"""Counting transitions per action: the counts add up to the search's transitions, also
when partial-order reduction asks for one thread's steps and throws them away."""

from mmuspec.checking import CheckSpec, Reductions, run_check
from mmuspec.explore.coverage import CountingModel
from mmuspec.model import load_scenario


def test_counts_add_up_to_the_transitions_the_search_took():
    spec = CheckSpec(load_scenario("ksm-merge"), "5.13")
    _, counted = run_check(spec, reductions=Reductions(), coverage=True)
    _, plain = run_check(spec, reductions=Reductions(), engine="interpreted")
    assert sum(counted.action_counts.values()) == counted.transitions == plain.transitions
    assert counted.states == plain.states


def test_counts_are_exact_under_partial_order_reduction():
    spec = CheckSpec(load_scenario("ksm-merge"), "glisse-2019")  # the era where POR reduces
    _, counted = run_check(spec, reductions=Reductions(), coverage=True)
    assert sum(counted.action_counts.values()) == counted.transitions


class Toy:
    """Two threads; per-thread successors for the reduction's candidates."""

    events = ()

    def initial(self):
        return b"\x00"

    def successors(self, state, thread=None):
        out = [(1, b"\x01", 0), (2, b"\x02", 0)]
        return out if thread is None else [t for t in out if t[0] == thread + 1]


def test_a_thread_set_that_was_discarded_is_not_counted():
    model = CountingModel(Toy())
    model.successors(b"\x00", 0)  # asked for thread 0, rejected
    model.successors(b"\x00")  # expanded in full instead
    model.successors(b"\x01", 1)  # asked for thread 1 on the next state: kept
    model.successors(b"\x02")
    assert model.counts() == {1: 2, 2: 3}
    assert model.sample() == [b"\x00", b"\x02"]
