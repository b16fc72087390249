"""Every witness a search returns is a path of the model itself, whatever the options.

The search runs over representatives (symmetry, sequence and value quotients); the paths it
finds are turned back into paths of the model before they are reported.  An edit once put
that step under an unrelated condition (whether a variant's cross-check had a note), so that
searches without a variant reported representative paths, which do not replay.  These tests
replay every witness, violation and observations alike, under each combination of options
that takes a different branch of ``run_check``.
"""

from pathlib import Path

import pytest

from mmuspec.checking import CheckSpec, Reductions, run_check
from mmuspec.explore.trace import replay
from mmuspec.model import load_scenario, load_variant

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "variants"
ALL = Reductions()


def witnesses_replay(kernel, result):
    """Each witness replays step by step on ``kernel`` and fires its event at its last step."""
    bits = {e.id: 1 << i for i, e in enumerate(kernel.events)}
    assert result.witnesses
    for event, w in result.witnesses.items():
        if event == "deadlock" or w.loop_start is not None:
            continue
        steps = replay(kernel, w.actions)
        assert steps[-1].events & bits[event], event
    return True


def spec(variant=None):
    sc = load_scenario("zap").scaled(2, 2)
    return CheckSpec(sc, "5.13", {}, load_variant(str(EXAMPLES / variant)) if variant else None)


@pytest.mark.parametrize("engine", ["compiled", "interpreted"])
@pytest.mark.parametrize("variant", [None, "trust_the_sequence.py"])
def test_a_violation_found_with_reductions_replays_on_the_model(engine, variant):
    kernel, result = run_check(spec(variant), reductions=ALL, engine=engine)
    assert result.engine == engine
    assert (result.violation is not None) == (variant is not None)
    assert witnesses_replay(kernel, result)


@pytest.mark.parametrize("variant", [None, "trust_the_sequence.py"])
def test_witnesses_of_a_timed_or_first_violation_search_replay_on_the_model(variant):
    kernel, result = run_check(spec(variant), reductions=ALL, max_seconds=60.0, stop_on_violation=True)
    assert witnesses_replay(kernel, result)


def test_a_minimized_violation_of_a_variant_replays_on_the_model():
    kernel, result = run_check(spec("trust_the_sequence.py"), reductions=ALL, minimize=True)
    assert result.violation is not None
    assert witnesses_replay(kernel, result)
