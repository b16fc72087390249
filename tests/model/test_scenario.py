import pytest

from mmuspec.errors import InputError, UsageError
from mmuspec.model import builtin_names, load_scenario, parse_scenario

GOOD = """\
description = "x"
[memory]
gfns = 1
initial = ["anon"]
[guest]
accesses = 2
"""


def test_every_builtin_scenario_loads():
    assert set(builtin_names()) >= {"ksm-merge", "cow-break", "zap", "aging"}
    for name in builtin_names():
        assert load_scenario(name).name == name


def test_a_toml_syntax_error_names_the_file_and_line():
    with pytest.raises(InputError) as info:
        parse_scenario(GOOD + "[guest\n", "bad.toml", "bad")
    assert str(info.value).startswith("bad.toml:7: TOML syntax")


def test_an_unknown_key_names_its_line():
    with pytest.raises(InputError) as info:
        parse_scenario(GOOD.replace("accesses = 2", "acesses = 2"), "s.toml", "s")
    assert str(info.value).startswith("s.toml:6: unknown key 'acesses' in [guest]")


def test_an_out_of_range_value_names_the_key_and_range():
    with pytest.raises(InputError) as info:
        parse_scenario(GOOD.replace("gfns = 1", "gfns = 9"), "s.toml", "s")
    assert "s.toml:3: memory.gfns = 9: expected an integer in 1..4" in str(info.value)


def test_ksmd_only_merges_anonymous_pages():
    text = GOOD.replace('initial = ["anon"]', 'initial = ["zero"]') + "[ksm]\nstable_page = true\nmerge = [0]\n"
    with pytest.raises(InputError, match="ksmd merges anonymous pages"):
        parse_scenario(text, "s.toml", "s")


def test_an_unknown_table_is_rejected():
    with pytest.raises(InputError, match=r"unknown table \[hosts\]"):
        parse_scenario(GOOD + "[hosts]\nzap = [0]\n", "s.toml", "s")


def test_scaling_checks_its_bounds():
    scenario = load_scenario("ksm-merge")
    assert scenario.scaled(3, 4).vcpus == 3
    with pytest.raises(UsageError):
        scenario.scaled(0, None)
    with pytest.raises(UsageError):
        scenario.scaled(None, 99)


def test_an_unknown_builtin_name_lists_the_known_ones():
    with pytest.raises(UsageError, match="built-in scenarios: aging"):
        load_scenario("ksm-merg")
