"""What the recorded lab runs (tests/lab/data) measure, what the simulator predicts for the
same runs, and the cost profile they write (lab/measure.py, lab/predict.py, report/lab.py,
simulate/profile.py).  The figures are pinned: they are the recorded runs' own."""

from pathlib import Path

import pytest

from mmuspec.errors import InputError
from mmuspec.lab.vmm_output import parse_vmm_output
from mmuspec.report.lab import lab_profile, lab_text
from mmuspec.report.reevaluation import cost_table
from mmuspec.simulate.profile import load_profile, merge_profiles, with_profile
from mmuspec.simulate.workload import load_workload
from tests.lab.recorded import KERNEL, analysed, vmm_run


@pytest.fixture(scope="module")
def ksm():
    return analysed("ksm-merge")


@pytest.fixture(scope="module")
def cow():
    return analysed("cow-break")


def test_ksm_merge_counts_one_merge_per_page_and_two_unmaps_per_stable_tree_merge(ksm):
    c = ksm.measurement.counts
    # 64 identical pages: one becomes the KSM page in place (one unmap: write_protect_page()),
    # 63 merge with it (two unmaps each: write_protect_page() and replace_page()).
    assert (c["merges"], c["merge-in-place"], c["merge"], c["unmap_events"]) == (64, 1, 63, 127)
    assert c["refaults"] == 64 and (c["exits"], c["pf_taken"], c["pf_fixed"]) == (774, 82, 82)


def test_ksm_merge_measures_the_merge_the_window_and_the_refault_from_the_trace_and_the_guest_clock(ksm):
    costs = ksm.measurement.cost_values()
    assert costs == {"ksm_merge_us": 3.0, "merge_window_us": 1.0, "ksm_scan_us": 1.319, "fault_us": 22.198}
    samples = {k: len(s.values) for k, s in ksm.measurement.costs.items()}
    assert samples == {"ksm_merge_us": 63, "merge_window_us": 63, "ksm_scan_us": 213, "fault_us": 64, "cow_us": 0}


def test_cow_break_measures_the_copy_on_write_break_beyond_the_refault(cow):
    costs = cow.measurement.cost_values()
    assert costs["cow_us"] == 17.811 and costs["fault_us"] == 14.797
    assert cow.measurement.counts["unmap:mm"] == 64  # one COW break per merged page, from the vCPU's thread


def test_the_zap_run_refaults_after_nearly_every_madv_dontneed():
    c = analysed("zap").measurement.counts
    assert (c["unmap_events"], c["refaults"]) == (503, 502)


def test_a_recorded_run_s_integrity_holds_and_a_mismatch_fails_it_with_the_events_around_it():
    run = vmm_run("zap")
    assert analysed("zap", run).integrity_ok
    first_act = next(a for a in run.acts if a["kind"] == "dontneed")
    run.mismatches.append({"vcpu": 0, "gfn": int(first_act["gfn"]), "tsc": int(first_act["tsc"]), "got": 1,
                           "expected": 2})
    result = analysed("zap", run)
    assert not result.integrity_ok and not result.ok
    found = result.measurement.integrity[0]
    assert found["gfn"] == int(first_act["gfn"]) and found["events_around"]
    assert any("kvm_unmap_hva_range" in e for e in found["events_around"])
    assert "integrity: 1 VIOLATIONS" in lab_text(result, Path("out"))


@pytest.mark.parametrize("workload,row,predicted,measured", [
    ("ksm-merge", "KSM merges", 64, 64),
    ("ksm-merge", "unmapped ranges (kvm_unmap_hva_range)", 127, 127),
    ("ksm-merge", "refaults after an invalidation", 64, 64),
    ("cow-break", "unmapped ranges (kvm_unmap_hva_range)", 191, 191),
    ("cow-break", "refaults after an invalidation", 128, 128),
])
def test_the_simulator_predicts_the_recorded_ksm_runs_counts(workload, row, predicted, measured, ksm, cow):
    result = {"ksm-merge": ksm, "cow-break": cow}[workload]
    found = next(r for r in result.rows if r.what == row)
    assert (found.predicted, found.measured) == (predicted, measured) and found.ratio == 1.0


def test_rows_the_simulator_cannot_predict_for_zap_and_memslot_say_why_instead_of_a_number():
    for workload in ("zap", "memslot"):
        rows = {r.what: r for r in analysed(workload).rows}
        for what in ("unmapped ranges (kvm_unmap_hva_range)", "refaults after an invalidation",
                     "faults taken (KVM pf_taken)", "VM exits (KVM exits)"):
            assert rows[what].predicted is None and rows[what].ratio is None
            assert "no MADV_DONTNEED or memslot thread" in rows[what].note


def test_the_profile_of_a_run_holds_only_measured_values_and_says_where_they_were_measured(ksm, tmp_path):
    path = tmp_path / "costs.toml"
    path.write_text(lab_profile(ksm, "2026-12-07T00:00:00Z"))
    profile = load_profile(str(path))
    assert profile.values == ksm.measurement.cost_values() and profile.kernel == KERNEL
    assert "cow_us" not in profile.values and "#   cow_us: no sample in this run" in path.read_text()
    assert profile.source_of("ksm_merge_us").startswith(f"`mmuspec lab ksm-merge` on {KERNEL}")


def test_profiles_of_two_runs_merge_later_wins_and_a_simulation_is_charged_at_them(ksm, cow, tmp_path):
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text(lab_profile(ksm, "d"))
    b.write_text(lab_profile(cow, "d"))
    merged = merge_profiles([load_profile(str(a)), load_profile(str(b))])
    assert merged.values["fault_us"] == 14.797 and merged.values["cow_us"] == 17.811
    assert merged.values["ksm_merge_us"] == 2.0 and merged.workload == "ksm-merge and cow-break"
    workload = with_profile(load_workload("vdi"), merged)
    assert workload.cost_overrides[""]["ksm_merge_us"] == 2.0


def test_the_reevaluation_cost_table_marks_measured_values_with_kernel_and_host_and_keeps_the_rest_assumed(ksm, tmp_path):
    path = tmp_path / "costs.toml"
    path.write_text(lab_profile(ksm, "d"))
    rows = {line.split("|")[1].strip(): line for line in cost_table([], load_profile(str(path)))[2:] if "|" in line}
    assert "**measured**: `mmuspec lab ksm-merge` on 6.18.44-fc-v1300" in rows["`ksm_merge_us`"]
    assert "the default was 3 µs, assumed" in rows["`ksm_merge_us`"]
    assert "**assumed**" in rows["`aging_us`"] and "**measured**" not in rows["`aging_us`"]


def test_a_profile_without_costs_is_bad_input_naming_the_file(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text('[profile]\nkernel = "6.18"\n')
    with pytest.raises(InputError, match=r"empty\.toml"):
        load_profile(str(path))


def test_vmm_output_with_an_unknown_record_is_bad_input_with_its_line():
    with pytest.raises(InputError, match=r"^vmm output:2: unknown record 'bogus'$"):
        parse_vmm_output("vmm version=1 pages=1\nbogus x=1\n")
    with pytest.raises(InputError, match=r"^vmm output:1: clock record without a valid 'mono_ns'$"):
        parse_vmm_output("clock at=start tsc=1\n")


def test_ksm_scan_cost_leaves_out_scans_with_a_merge_and_scans_longer_than_one_batch():
    """A scan that merged (its merges are ksm_merge_us), or that spans batches (ksmd sleeps
    sleep_millisecs between them), is not the cost of scanning a page."""
    run = vmm_run("ksm-merge")
    from mmuspec.lab.measure import measure
    from tests.lab.recorded import trace_path

    every = measure(str(trace_path("ksm-merge")), run)
    assert len(every.costs["ksm_scan_us"].values) == 213  # of 215 scans: the first (empty) and the merging one left out
    assert measure(str(trace_path("ksm-merge")), run, pages_to_scan=32).costs["ksm_scan_us"].values == []
    assert every.costs["ksm_scan_us"].statistic == "p10" and every.costs["ksm_scan_us"].taken() == "p10"
    assert every.costs["ksm_scan_us"].value() < sorted(every.costs["ksm_scan_us"].values)[len(every.costs["ksm_scan_us"].values) // 2]


def test_a_ksm_scan_cost_of_fewer_than_ten_scans_is_their_median_and_the_report_and_profile_call_it_that(tmp_path):
    """Nine samples have no tenth percentile: the value is their median, and nothing that
    shows it may label it a percentile."""
    from dataclasses import replace

    from mmuspec.lab.measure import Samples

    nine = Samples([float(v) for v in range(1, 10)], statistic="p10")
    assert (nine.taken(), nine.value()) == ("median", 5.0)
    assert Samples([float(v) for v in range(1, 11)], statistic="p10").taken() == "p10"
    assert (Samples(statistic="p10").taken(), Samples(statistic="p10").value()) == (None, None)

    r = analysed("ksm-merge")
    few = replace(r, measurement=replace(r.measurement, costs={**r.measurement.costs, "ksm_scan_us": nine}))
    text = lab_text(few, tmp_path)
    line = next(x for x in text.splitlines() if x.strip().startswith("ksm_scan_us"))
    assert "median of 9 samples" in line and "percentile" not in text.split("measured costs")[1].split("predicted")[0]
    assert few.measurement.to_json()["costs_us"]["ksm_scan_us"] == {"value": 5.0, "statistic": "median", "samples": 9}
    path = tmp_path / "costs.toml"
    path.write_text(lab_profile(few, "d"))
    assert load_profile(str(path)).source_of("ksm_scan_us").endswith("(median of 9 events)")
    path.write_text(lab_profile(r, "d"))
    assert load_profile(str(path)).source_of("ksm_scan_us").endswith("(tenth percentile of 213 events)")


def test_a_profile_that_names_no_statistic_is_read_without_naming_one(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text('[profile]\nworkload = "ksm-merge"\n[costs]\nksm_scan_us = 0.6\n[samples]\nksm_scan_us = 40\n')
    assert load_profile(str(path)).source_of("ksm_scan_us").endswith("(40 events)")
    path.write_text('[costs]\nksm_scan_us = 0.6\n[statistic]\nksm_scan_us = "mean"\n')
    with pytest.raises(InputError, match=r"old\.toml.*ksm_scan_us = 'mean': expected median \| p10"):
        load_profile(str(path))
