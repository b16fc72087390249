import pickle

from mmuspec.errors import InputError


def test_an_input_error_raised_in_a_worker_process_reaches_the_parent_whole():
    again = pickle.loads(pickle.dumps(InputError("v.py", 3, "a loop that never ends?")))
    assert (type(again), again.path, again.line, again.problem, str(again)) == (
        InputError, "v.py", 3, "a loop that never ends?", "v.py:3: a loop that never ends?")
