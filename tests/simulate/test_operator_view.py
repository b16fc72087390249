"""What an operator reads in simulate's table: each test is named after what it once hid."""

import json

import pytest

from mmuspec.model import era_config
from mmuspec.report.simulation import table_text
from mmuspec.simulate.run import LOST_CAUSES, simulate_era
from tests.helpers import run_cli
from tests.simulate.test_simulate import small


@pytest.fixture(scope="module")
def runs():
    w = small()
    return w, [simulate_era(w, e, e, era_config(e), 5) for e in ("5.13", "5.15", "glisse-2019")]


def test_simulate_prints_peak_and_mean_memory_saved_as_well_as_the_end_value(runs):
    w, rs = runs
    text = table_text(w, 5, rs)
    for row in ("memory saved at the end (MiB)", "memory saved, peak (MiB)", "memory saved, mean (MiB)"):
        assert row in text
    for r in rs:
        assert r.saved_mib_peak >= r.saved_mib_mean and r.saved_mib_peak >= r.saved_mib_end
        assert r.saved_mib_peak == max(r.series["saved_mib"])


def test_guest_time_lost_is_split_by_cause_in_percent_of_vcpu_time_and_the_parts_add_up(runs):
    w, rs = runs
    vcpu_seconds = w.vms * w.vcpus * w.duration
    for r in rs:
        assert set(r.guest_time_lost_pct_by_cause) == set(LOST_CAUSES)
        assert sum(r.guest_time_lost_pct_by_cause.values()) == pytest.approx(r.guest_time_lost_pct)
        assert r.guest_time_lost_pct == pytest.approx(100 * r.guest_time_lost_s / vcpu_seconds)
    text = table_text(w, 5, rs)
    assert "guest time lost (% of vCPU time)" in text and "to refaults after zaps" in text
    assert "guest time lost (s)" not in text and "ms/s" not in text


def test_identical_era_columns_are_merged_in_the_table_as_in_the_plots(runs):
    w, rs = runs
    header = table_text(w, 5, rs).splitlines()[2]
    assert "5.13 = 5.15" in header and "glisse-2019" in header and header.count("|") == 4


def test_simulate_names_a_variants_column_after_its_file(capsys, tmp_path):
    status, out, _ = run_cli(capsys, "simulate", "ltp-ksm02", "--era", "5.13", "--duration", "5",
                             "--variant", "examples/variants/trust_the_sequence.py", "--out", str(tmp_path / "o"),
                             "--json", "--quiet")
    assert status == 0 and set(json.loads(out)["eras"]) == {"5.13", "5.13+trust_the_sequence"}
