"""The progress search: a state the goal cannot be reached from, and its lasso."""

from mmuspec.explore.liveness import check_progress
from tests.explore.toys import GiveUp, Patient, Ring


def replay(model, actions):
    state, path = model.initial(), [model.initial()]
    for wanted in actions:
        state = next(n for a, n, _ in model.successors(state) if a == wanted)
        path.append(state)
    return path


def test_a_waiter_whose_setter_gave_up_can_never_finish_and_the_lasso_loops():
    model = GiveUp()
    found = check_progress(model, model.done)
    assert (found.states, found.doomed) == (4, 1)
    assert found.lasso is not None
    assert found.lasso.stem == (2,) and found.lasso.loop == (0,)
    path = replay(model, found.lasso.actions)
    assert path[len(found.lasso.stem)] == path[-1] == bytes([0, 1, 0])


def test_spinning_that_may_end_is_not_a_violation():
    model = Patient()
    found = check_progress(model, model.done)
    assert found.complete and found.doomed == 0 and found.lasso is None


def test_the_lasso_ends_in_a_bottom_cycle_not_in_a_loop_another_thread_could_leave():
    # Before the setter chooses, the waiter's spin is a loop too, but the setter can still
    # set the flag: the witness must be the loop after it gave up.
    model = GiveUp()
    lasso = check_progress(model, model.done).lasso
    assert lasso is not None
    loop_states = replay(model, lasso.actions)[len(lasso.stem):]
    assert all(s[1] == 1 for s in loop_states)


def test_a_ring_with_no_goal_state_is_all_doomed_and_its_cycle_is_the_whole_ring():
    found = check_progress(Ring(3), lambda s: False)
    assert found.doomed == 3
    assert found.lasso is not None and found.lasso.stem == () and len(found.lasso.loop) == 3


def test_a_state_bound_leaves_progress_undecided():
    found = check_progress(Ring(50), lambda s: False, max_states=10)
    assert not found.complete and found.lasso is None


class Stuck:
    """Two steps, then no thread can move: the model's stand-in step loops with bit 1."""

    events = ()

    def initial(self):
        return bytes([0])

    def successors(self, s):
        if s[0] < 2:
            return [(s[0], bytes([s[0] + 1]), 0)]
        return [(99, s, 1)]

    @staticmethod
    def done(s):
        return False


def test_a_loop_of_real_steps_is_a_livelock_and_the_stuck_step_a_deadlock():
    model = GiveUp()
    lasso = check_progress(model, model.done, stuck_events=1).lasso
    assert lasso is not None and lasso.kind == "livelock"
    lasso = check_progress(Stuck(), Stuck.done, stuck_events=1).lasso
    assert lasso is not None and (lasso.stem, lasso.loop, lasso.kind) == ((0, 1), (99,), "deadlock")
    # Without the model saying which bits mean "stuck", no loop is called a deadlock.
    assert check_progress(Stuck(), Stuck.done).lasso.kind == "livelock"
