"""Persistent sets from declared footprints: fewer states, the same events, no step ignored."""

from mmuspec.explore import bfs
from mmuspec.explore.por import PersistentSets, conflict, persistent_sets
from tests.explore.toys import Counters, LostUpdate, Spinner


def test_steps_conflict_when_one_writes_what_the_other_reads_or_writes():
    assert conflict((0, 1), (1, 0))
    assert conflict((1, 0), (0, 1))
    assert conflict((0, 1), (0, 1))
    assert not conflict((1, 0), (1, 0))
    assert not conflict((2, 2), (1, 1))


def test_private_counting_is_explored_one_thread_at_a_time():
    plain = bfs(Counters(3, 3))
    reduced = bfs(Counters(3, 3), por=True)
    assert plain.states == 5**3
    # Each thread counts alone in turn (1 + 3 * 3 states), then the three shared steps
    # meet in every order (2 ** 3 - 1 more).
    assert reduced.states == 1 + 3 * 3 + 7
    assert set(reduced.witnesses) == set(plain.witnesses) == {"all_counted"}


def test_the_reduction_keeps_the_same_states_and_transitions_with_workers():
    serial = bfs(Counters(3, 3), por=True)
    parallel = bfs(Counters(3, 3), factory=lambda: Counters(3, 3), por=True, workers=2, chunk=2)
    assert (parallel.states, parallel.transitions) == (serial.states, serial.transitions)


def test_a_model_without_footprints_is_searched_in_full():
    assert persistent_sets(LostUpdate()) is None
    assert persistent_sets(Counters(2, 2, declare=False)) is None
    assert bfs(Counters(2, 2, declare=False), por=True).states == 4**2


def test_nothing_is_reduced_when_every_step_conflicts_with_every_other_thread():
    sets = PersistentSets(([0, 1], [1, 1], [[(1, 1), (0, 0)]] * 2, [(1, 1)] * 2))
    assert not sets.useful


def test_the_cycle_proviso_keeps_a_step_that_a_spinning_thread_would_hide():
    result = bfs(Spinner(), por=True)
    assert "moved" in result.witnesses
    assert result.states == 4
