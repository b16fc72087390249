"""The translator's subset of Python (docs/translator.md) means in C what it means in Python,
and what is outside it is refused with its file and line before the C compiler runs."""

import pytest

from mmuspec.checking import CheckSpec, run_check
from mmuspec.model import load_scenario, parse_variant
from mmuspec.native.build import NativeUnavailable
from mmuspec.native.search import load

# A helper with an effect as a chain's middle operand: Python calls it once.
CHAIN_CALLS_ONCE = '''
def _flip(k, s):
    s[k.L.LAST_WRITTEN] = s[k.L.LAST_WRITTEN] ^ 1
    return s[k.L.LAST_WRITTEN]


def mmu_notifier_retry_hva(k, s, mmu_seq, hva):
    return 0 <= _flip(k, s) < 256 and (s[k.L.SEQ] != mmu_seq or s[k.L.COUNT] != 0)
'''
# A chain stops at the first false comparison: the last operand is not evaluated.
CHAIN_SHORT_CIRCUITS = '''
def _flip(k, s):
    s[k.L.LAST_WRITTEN] = s[k.L.LAST_WRITTEN] ^ 1
    return 0


def mmu_notifier_retry_hva(k, s, mmu_seq, hva):
    return (1 < s[k.L.COUNT] + 1 < _flip(k, s)) or s[k.L.SEQ] != mmu_seq or s[k.L.COUNT] != 0
'''
FIVE_TUPLE = '''
def mmu_notifier_retry_hva(k, s, mmu_seq, hva):
    a, b, c, d, e = (1, 2, 3, 4, s[k.L.SEQ])
    return e != mmu_seq or s[k.L.COUNT] != a - 1
'''


def both(text):
    spec = CheckSpec(load_scenario("zap"), "5.13", {}, parse_variant(text, "subset.py"))
    _, compiled = run_check(spec, engine="compiled")
    _, interpreted = run_check(spec, engine="interpreted")
    assert compiled.engine == "compiled"
    return compiled, interpreted


@pytest.mark.parametrize("text", [CHAIN_CALLS_ONCE, CHAIN_SHORT_CIRCUITS, FIVE_TUPLE],
                         ids=["chain-middle-once", "chain-short-circuit", "five-tuple"])
def test_the_compiled_core_runs_the_subset_as_python_does(text):
    compiled, interpreted = both(text)
    assert (compiled.states, compiled.transitions, compiled.verdict) == \
        (interpreted.states, interpreted.transitions, interpreted.verdict)
    assert any("both engines agree on the whole search" in n for n in compiled.notes)


def test_a_chain_with_a_membership_test_is_refused_with_its_line():
    text = "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    return 0 < s[k.L.SEQ] in (1, 2)\n"
    kernel = CheckSpec(load_scenario("zap"), "5.13", {}, parse_variant(text, "chain.py")).kernel()
    with pytest.raises(NativeUnavailable, match=r"chain\.py:2: mmu_notifier_retry_hva: comparison In in a chain"):
        load(kernel)


def test_a_helper_returning_a_tuple_is_refused_with_its_line():
    text = ("def _five(k, s):\n    return (1, 2, 3, 4, s[k.L.SEQ])\n\n\n"
            "def mmu_notifier_retry_hva(k, s, mmu_seq, hva):\n    a, b, c, d, e = _five(k, s)\n    return e != mmu_seq\n")
    kernel = CheckSpec(load_scenario("zap"), "5.13", {}, parse_variant(text, "five.py")).kernel()
    with pytest.raises(NativeUnavailable, match=r"five\.py:2: _five: expected an int, got tuple"):
        load(kernel)
