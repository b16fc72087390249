import pytest

from mmuspec.explore import ReplayError, bfs, replay
from tests.explore.toys import LostUpdate


def test_replaying_a_witness_reaches_its_event():
    result = bfs(LostUpdate())
    steps = replay(LostUpdate(), result.violation.actions)
    assert steps[-1].events & 1
    assert steps[-1].after[4] == 1


def test_replaying_a_disabled_action_is_an_error_naming_the_step():
    with pytest.raises(ReplayError) as info:
        replay(LostUpdate(), [0, 0])
    assert info.value.position == 1
