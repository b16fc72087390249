"""A scenario's [expect] table: answers per era in LKMM's words, validated with the file
and line of every problem."""

import pytest

from mmuspec.errors import InputError
from mmuspec.model import parse_scenario

BASE = '[guest]\nvcpus = 1\n[host]\nzap = [0]\n'


def parse(expect):
    return parse_scenario(BASE + "[expect]\n" + expect, "mine.toml", "mine")


def test_an_expect_table_gives_each_era_its_answers_with_star_for_the_others():
    sc = parse('verdict = "safe"\nspte_zapped = { "*" = "Sometimes", "6.10" = "Never" }\n')
    assert sc.expect.for_era("5.13") == {"verdict": "safe", "spte_zapped": "Sometimes"}
    assert sc.expect.for_era("6.10") == {"verdict": "safe", "spte_zapped": "Never"}
    assert sc.expect.eras() == ["6.10"] and sc.expect.any_era()


def test_a_scenario_without_expect_expects_nothing():
    sc = parse_scenario(BASE, "mine.toml", "mine")
    assert not sc.expect and sc.expect.for_era("5.13") == {}


@pytest.mark.parametrize(
    ("expect", "line", "message"),
    [
        ('verdict = { "6.9" = "safe" }\n', 6, "unknown era '6.9'; did you mean '6.8' or '6.4'?"),
        ('spte_zapped = "Sometime"\n', 6, "expected one of Always, Sometimes, Never; did you mean 'Sometimes'?"),
        ('verdict = "unsafe"\n', 6, "expect.verdict = 'unsafe': expected one of safe, violation, warning"),
        ('spte_zaped = "Never"\n', 6, "unknown key 'spte_zaped' in [expect]"),
    ],
)
def test_a_bad_expect_entry_names_the_file_line_and_problem(expect, line, message):
    with pytest.raises(InputError) as info:
        parse(expect)
    assert str(info.value).startswith(f"mine.toml:{line}: ")
    assert message in str(info.value)
