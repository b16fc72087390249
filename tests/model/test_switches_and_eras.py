import pytest

from mmuspec.errors import UsageError
from mmuspec.model import ERAS, SWITCHES, era_config, parse_assignments


def test_every_era_sets_every_switch_except_the_arch():
    for era in ERAS.values():
        assert set(era.switches) == set(SWITCHES) - {"arch"}, era.name


def test_every_era_cites_a_commit_and_every_switch_a_source():
    for era in ERAS.values():
        assert era.commit and era.title
    for switch in SWITCHES.values():
        assert switch.source and switch.summary


def test_set_overrides_the_era():
    config = era_config("5.13", parse_assignments(["kvm.change_pte=bump_seq", "arch=arm64"]))
    assert config["kvm.change_pte"] == "bump_seq"
    assert config["arch"] == "arm64"
    assert config["mm.wrap_change_pte"] is True


def test_the_seed_era_warns_instead_of_bumping():
    assert era_config("3.7")["kvm.change_pte"] == "bump_seq"
    assert era_config("5.13")["kvm.change_pte"] == "warn_count"
    assert era_config("6.10")["kvm.change_pte"] == "none"
    assert era_config("2.6.32")["mm.wrap_change_pte"] is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kvm.change_pte=sometimes", "is not one of bump_seq | warn_count | check_count | update_in_place | none"),
        ("kvm.bogus=1", "unknown switch 'kvm.bogus'"),
        ("mm.wrap_change_pte=maybe", "is not a boolean"),
        ("arch", "expected NAME=VALUE"),
    ],
)
def test_bad_assignments_are_one_line_errors(text, message):
    with pytest.raises(UsageError, match=message.replace("|", r"\|")):
        parse_assignments([text])


def test_booleans_accept_the_usual_spellings():
    assert parse_assignments(["kvm.end_bumps_seq=no"])["kvm.end_bumps_seq"] is False
    assert parse_assignments(["kvm.end_bumps_seq=TRUE"])["kvm.end_bumps_seq"] is True


def test_an_unknown_era_is_a_usage_error():
    with pytest.raises(UsageError, match=r"unknown era '5\.14'"):
        era_config("5.14")


def test_3_7_calls_change_pte_before_set_pte_at_as_48af0d7cb3c8_made_it():
    assert era_config("2.6.32")["mm.change_pte_order"] == "set_then_notify"
    assert era_config("3.7")["mm.change_pte_order"] == "notify_then_set"


def test_only_2_6_32_falls_back_to_invalidate_page_for_a_subscriber_without_change_pte():
    assert [name for name in ERAS if era_config(name)["mm.change_pte_fallback"] == "invalidate_page"] == ["2.6.32"]


def test_the_eras_after_6_10_cite_their_commits_and_follow_each_other_in_order():
    names = list(ERAS)
    assert names.index("6.10") < names.index("6.11") < names.index("6.15") < names.index("6.18")
    assert "bc1a5cd00211" in ERAS["6.11"].commit
    assert "aa34b811650c" in ERAS["6.15"].commit
    assert "3ccbf6f47098" in ERAS["6.18"].commit
    for name in ("6.11", "6.15", "6.18"):
        assert era_config(name)["kvm.change_pte"] == "none"
        assert era_config(name)["kvm.retry_range"] == "gfn"
