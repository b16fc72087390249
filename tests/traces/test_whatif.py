"""trace whatif replays exactly the faults trace stats counts, and says what its estimate bounds."""

import json
from pathlib import Path

import pytest

from mmuspec.cli import main
from mmuspec.model import era_config
from mmuspec.traces.stats import trace_stats
from mmuspec.traces.whatif import recorded_config, whatif, with_recorded_era, workload_from_trace

DATA = Path(__file__).parent / "data"
TRACES = ["ftrace_kvm.txt", "ksm_cow.txt", "amd_ftrace.txt", "perf_script.txt", "tracecmd_plugin_amd.txt", "tracecmd_old.txt",
          "arm64.txt", "two_vms.txt", "formats.txt"]


def recorded(name):
    with open(DATA / name) as handle:
        return workload_from_trace(handle)


@pytest.mark.parametrize("name", TRACES)
def test_whatif_reproduces_the_trace_stats_fault_count_for_the_recorded_era(name):
    with open(DATA / name) as handle:
        s = trace_stats(handle)
    r = recorded(name)
    result = whatif(r, [(e, era_config(e, {"arch": r.arch or "x86"})) for e in ("3.7", "5.13", "6.10")])
    assert r.faults == s.faults
    assert result.estimates[result.recorded_label] == s.faults


def test_whatif_does_not_estimate_more_exits_for_the_recorded_era_than_trace_stats_counts_faults():
    # The model replays the COW break as a fault that retries (two exits); the trace shows one fault.
    r = recorded("ksm_cow.txt")
    result = whatif(r, [("6.8", era_config("6.8"))])
    assert result.recorded_label == "6.8" and r.faults == 2
    assert result.results["6.8"]["exits_total"] > r.faults
    assert result.estimates["6.8"] == r.faults


def test_whatif_replays_the_recorded_activity_through_each_era():
    r = recorded("ftrace_kvm.txt")
    assert (r.faults, r.placed, r.merges, r.pages) == (3, 3, 1, 1)
    result = whatif(r, [(e, era_config(e)) for e in ("5.13", "glisse-2019")])
    assert result.results["5.13"]["spte_zaps"] == 1 and result.results["glisse-2019"]["spte_zaps"] == 0
    assert result.results["glisse-2019"]["change_pte_repointed_spte"] > 0


def test_the_same_gfn_in_two_vms_is_two_pages():
    r = recorded("two_vms.txt")
    assert (r.pages, [e[1] for e in r.events]) == (2, [0, 1])


def test_other_eras_add_the_models_difference_to_the_recorded_count():
    r = with_recorded_era(recorded("ftrace_kvm.txt"), "6.10")
    result = whatif(r, [(e, era_config(e)) for e in ("2.6.32", "6.10")], recorded_config(r))
    model = {label: res["exits_total"] for label, res in result.results.items()}
    assert result.recorded_label == "6.10"
    assert result.estimates["2.6.32"] == max(0, r.faults + model["2.6.32"] - model["6.10"])


def test_a_recorded_era_not_asked_for_gets_its_own_column():
    r = with_recorded_era(recorded("tracecmd_old.txt"), "3.7")
    result = whatif(r, [("6.10", era_config("6.10"))])
    assert list(result.estimates) == ["recorded 3.7", "6.10"]
    assert result.estimates["recorded 3.7"] == r.faults


def test_whatif_states_the_recorded_era_and_the_bound_of_its_estimate(capsys):
    assert main(["trace", "whatif", str(DATA / "ftrace_kvm.txt"), "--era", "5.13", "--era", "6.8"]) == 0
    out = capsys.readouterr().out
    assert "recorded era: 6.8 assumed (the trace fits 6.3, 6.4, 6.8" in out
    assert "6.8 (recorded)" in out and "lower bound" in out and "not in the trace" in out
    row = next(line for line in out.splitlines() if line.startswith("VM exits from stage-2 faults "))
    assert row.split()[-2:] == ["3", "3"]  # the trace's 3 faults, in the recorded era and in 5.13


def test_whatif_recorded_era_option_overrides_the_inference(capsys):
    assert main(["trace", "whatif", str(DATA / "ftrace_kvm.txt"), "--era", "6.10", "--recorded-era", "5.13",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recorded"]["recorded_era"]["evidence"] == ["given with --recorded-era"]
    assert data["recorded_column"] == "recorded 5.13" and data["estimated_exits"]["recorded 5.13"] == 3


def test_whatif_replays_an_arm64_trace_on_arm64(capsys):
    assert main(["trace", "whatif", str(DATA / "arm64.txt"), "--era", "5.13", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["recorded"]["arch"] == "arm64" and data["recorded_column"] == "5.13"


def test_a_fault_with_no_invalidation_before_it_is_a_first_touch_not_a_refault():
    r = recorded("amd_ftrace.txt")
    result = whatif(r, [("5.13", era_config("5.13"))])
    exits = result.results[result.recorded_label]["exits"]
    assert r.refaults == 0 and exits["refault_after_zap"] == 0 and exits["first_touch"] == r.placed


@pytest.mark.parametrize("name", TRACES)
def test_replay_and_stats_agree_on_refaults_in_the_recorded_era(name):
    # A refault is a fault on a page whose SPTE an invalidation removed; the rest are not.
    with open(DATA / name) as handle:
        s = trace_stats(handle)
    r = recorded(name)
    result = whatif(r, [])
    exits = result.results[result.recorded_label]["exits"]
    assert exits["refault_after_zap"] == s.notifier_refaults == r.refaults
    assert exits["first_touch"] <= r.placed - r.refaults
