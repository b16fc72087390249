from mmuspec.explore import bfs, collision_probability, fingerprint
from tests.explore.toys import LostUpdate, Ring


def test_lost_update_has_exactly_the_hand_counted_states_and_transitions():
    result = bfs(LostUpdate())
    assert (result.states, result.transitions, result.depth) == (12, 14, 4)
    assert result.complete


def test_the_lost_update_is_found_with_its_shortest_path():
    result = bfs(LostUpdate())
    assert result.verdict == "violation"
    assert result.violation.event == "lost_update"
    assert result.violation.actions == (0, 2, 1, 3)


def test_observations_get_their_own_shortest_witness():
    result = bfs(LostUpdate())
    assert result.witnesses["wrote"].length == 2
    assert result.reachable("wrote") is True


def test_exact_and_fingerprint_stores_count_the_same_states():
    assert bfs(LostUpdate(), exact=True).states == bfs(LostUpdate()).states
    assert bfs(LostUpdate(), exact=True).collision_probability is None


def test_stopping_at_the_first_violation_leaves_unseen_events_undetermined():
    result = bfs(LostUpdate(), stop_on_violation=True)
    assert not result.complete
    assert result.violation is not None
    assert result.reachable("no_such_event") is None


def test_a_cycle_is_explored_once():
    result = bfs(Ring(5))
    assert (result.states, result.transitions) == (5, 5)
    assert result.witnesses["wrapped"].length == 5


def test_a_state_bound_makes_the_search_incomplete():
    result = bfs(Ring(100), max_states=10)
    assert not result.complete
    assert "state bound" in result.stop_reason
    assert result.verdict == "unknown"


def test_fingerprints_are_xxh3_and_do_not_depend_on_the_process():
    # xxh3-64 of these three bytes; Python's hash() would change with PYTHONHASHSEED.
    assert fingerprint(b"\x00\x01\x02") == 0x5F4299FC161C9CBB


def test_collision_probability_grows_with_the_square_of_the_states():
    assert collision_probability(1) == 0
    assert 0 < collision_probability(10**6) < 1e-7
    assert collision_probability(2 * 10**6) / collision_probability(10**6) > 3.9


def test_progress_is_reported_at_least_once():
    seen = []
    bfs(LostUpdate(), progress=seen.append, progress_every=0.0)
    assert seen and seen[-1].states == 12
