"""A variant's function is what every call reaches: through the model object and by its
bare name, in the interpreter and in the compiled core."""

from mmuspec.checking import CheckSpec, run_check
from mmuspec.model import Kernel, era_config, guest, load_scenario, parse_variant

UKSM = '''"""UKSM-style: the scanner never waits for the PTL."""


def ptl_free(k, s, t, arg):
    return True
'''


def test_a_bare_name_call_of_a_replaced_helper_reaches_the_replacement():
    variant = parse_variant(UKSM, "uksm.py")
    k = Kernel(load_scenario("host-cow"), era_config("5.13"), variant)
    s = bytearray(k.initial())
    s[k.L.PTL] = 1
    accessor = next(t.index for t in k.threads if t.kind == "accessor")
    # accessor.py's fault_can_run calls ptl_free(k, ...) by its bare name.
    assert k.fault_can_run(bytes(s), accessor, 0) is True
    upstream = Kernel(load_scenario("host-cow"), era_config("5.13"))
    assert upstream.fault_can_run(bytes(s), accessor, 0) is False


def test_the_upstream_modules_keep_their_functions_after_a_variant_ran():
    Kernel(load_scenario("host-cow"), era_config("5.13"), parse_variant(UKSM, "uksm.py"))
    upstream = Kernel(load_scenario("host-cow"), era_config("5.13"))
    s = bytearray(upstream.initial())
    s[upstream.L.PTL] = 1
    assert guest.ptl_free(upstream, bytes(s), 0, 0) is False
    assert upstream.ptl_free(bytes(s), 0, 0) is False


def test_the_uksm_style_ptl_free_variant_gives_the_same_verdict_and_counts_in_both_engines():
    variant = parse_variant(UKSM, "uksm.py")
    for era in ("5.12", "5.13", "5.15"):
        for scenario in ("ksm-merge", "host-cow"):
            spec = CheckSpec(load_scenario(scenario), era, {}, variant)
            _, compiled = run_check(spec, engine="compiled")
            _, interpreted = run_check(spec, engine="interpreted")
            assert compiled.engine == "compiled"
            assert (compiled.verdict, compiled.states, compiled.transitions) == (
                interpreted.verdict, interpreted.states, interpreted.transitions), (scenario, era)
            assert set(compiled.witnesses) == set(interpreted.witnesses)


def test_a_variant_alias_of_the_upstream_function_still_runs_the_upstream_body():
    text = ("from mmuspec.model.guest import ptl_free as _upstream\n\n\n"
            "def ptl_free(k, s, t, arg):\n    return _upstream(k, s, t, arg)\n")
    k = Kernel(load_scenario("host-cow"), era_config("5.13"), parse_variant(text, "alias.py"))
    s = bytearray(k.initial())
    s[k.L.PTL] = 1
    accessor = next(t.index for t in k.threads if t.kind == "accessor")
    assert k.fault_can_run(bytes(s), accessor, 0) is False
