from pathlib import Path

import pytest

from mmuspec.checking import CheckSpec, run_check
from mmuspec.errors import InputError
from mmuspec.model import load_scenario, load_variant, parse_variant

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "variants"


def run(scenario, variant):
    return run_check(CheckSpec(load_scenario(scenario), "5.13", {}, variant))[1]


def test_the_prefetch_example_is_safe_and_makes_change_pte_live_on_x86():
    result = run("ksm-merge", load_variant(str(EXAMPLES / "prefetch_in_change_pte.py")))
    assert result.verdict == "safe"
    assert result.reachable("change_pte_installed_spte") is True


def test_the_sequence_only_example_loses_data_in_zap():
    result = run("zap", load_variant(str(EXAMPLES / "trust_the_sequence.py")))
    assert result.violation.event == "data_integrity"


def test_a_function_with_an_unknown_name_is_reported_with_its_line():
    with pytest.raises(InputError) as info:
        parse_variant("def _x():\n    pass\n\n\ndef kvm_set_spte_gfnn(k, s):\n    pass\n", "v.py")
    assert str(info.value).startswith("v.py:5: def kvm_set_spte_gfnn")


def test_a_syntax_error_is_reported_with_its_line():
    with pytest.raises(InputError, match=r"^v.py:2: syntax error"):
        parse_variant("x = 1\ndef f(:\n  x\n", "v.py")


def test_private_helpers_are_allowed_and_a_variant_must_replace_something():
    with pytest.raises(InputError, match="replaces no step"):
        parse_variant("def _mine():\n    return 1\n", "v.py")


def test_a_variant_survives_pickling_for_worker_processes():
    import pickle

    variant = load_variant(str(EXAMPLES / "trust_the_sequence.py"))
    again = pickle.loads(pickle.dumps(variant))
    assert set(again.functions) == {"mmu_notifier_retry", "mmu_notifier_retry_hva", "mmu_invalidate_retry_gfn"}
