import pytest

from mmuspec.errors import InputError, UsageError
from mmuspec.simulate.workload import builtin_workloads, load_workload, parse_workload

GOOD = """\
description = "x"
[vms]
count = 2
pages = 1000
[access]
rate = 10
[[phases]]
name = "a"
duration = 5
[[phases]]
name = "b"
duration = 5
fill = "same"
"""


def test_every_builtin_workload_loads():
    assert set(builtin_workloads()) >= {"vdi", "mixed", "write-heavy", "ltp-ksm02"}
    for name in builtin_workloads():
        w = load_workload(name)
        assert w.pages > 0 and w.duration > 0


def test_a_phase_key_error_names_the_file_line_key_and_range():
    with pytest.raises(InputError) as info:
        parse_workload(GOOD.replace("duration = 5\nfill", "duration = -5\nfill"), "w.toml", "w")
    assert str(info.value) == "w.toml:12: phases[1].duration = -5: expected a number in 0.001..86400"


def test_an_unknown_key_is_reported_with_its_line():
    with pytest.raises(InputError, match=r"^w.toml:4: unknown key 'pagez' in \[vms\]"):
        parse_workload(GOOD.replace("pages = 1000", "pagez = 1000"), "w.toml", "w")


def test_content_shares_cannot_add_up_past_one():
    with pytest.raises(InputError, match="exceeds 1"):
        parse_workload(GOOD + "[content]\nzero = 0.6\nshared = 0.6\n", "w.toml", "w")


def test_an_unknown_cost_is_rejected():
    with pytest.raises(InputError, match=r"w.toml:15: unknown key 'exit_us' in \[costs\]"):
        parse_workload(GOOD + "[costs]\nexit_us = 1\n", "w.toml", "w")


def test_durations_can_be_cut_and_extended():
    w = parse_workload(GOOD, "w.toml", "w")
    assert w.with_duration(7).duration == 7
    assert [p.duration for p in w.with_duration(20).phases] == [5, 15]
    with pytest.raises(UsageError):
        w.with_duration(0)


def test_sweep_values_land_where_they_should():
    w = parse_workload(GOOD, "w.toml", "w")
    changed = w.with_values({"ksm.pages_to_scan": 400, "access.rate": 20, "costs.vm_exit_us": 2})
    assert changed.pages_to_scan == 400
    assert [p.rate for p in changed.phases] == [20, 20]
    assert changed.costs("x86").vm_exit_us == 2
    with pytest.raises(UsageError, match="not a value a sweep can set"):
        w.with_values({"ksm.bogus": 1})
