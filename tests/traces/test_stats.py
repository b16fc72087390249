import json
from pathlib import Path

from mmuspec.cli import main
from mmuspec.model import era_config
from mmuspec.traces.stats import trace_stats
from mmuspec.traces.whatif import whatif, workload_from_trace

DATA = Path(__file__).parent / "data"


def stats(name):
    with open(DATA / name) as handle:
        return trace_stats(handle)


def test_exits_faults_and_the_notifier_protocol_are_counted():
    s = stats("ftrace_kvm.txt")
    assert (s.lines, s.parsed, s.unparsed, s.unknown) == (35, 21, 2, 1)
    assert s.exit_reasons == {"EPT_VIOLATION": 3, "HLT": 1}
    assert s.fault_kinds == {"read": 1, "write": 1, "fetch": 1}
    assert (s.notifier_zaps, s.notifier_refaults) == (1, 1)
    assert (s.change_pte_calls, s.ksm_merges, s.cow_breaks) == (2, 1, 1)
    assert s.per_vcpu["vcpu0"]["exits"] == 3 and s.per_vcpu["vcpu1"]["notifier_refaults"] == 1


def test_svm_fault_kinds_come_from_the_npf_error_code():
    s = stats("perf_script.txt")
    assert s.exit_reasons == {"EXIT_NPF": 2}
    assert s.fault_kinds == {"write": 1, "fetch": 1}
    assert s.events["kvm:kvm_exit"] == 2


def test_every_ksm_event_is_known():
    s = stats("tracecmd_old.txt")
    assert s.unknown == 0 and s.unparsed == 0
    assert {e for e in s.events if e.startswith("ksm:")} == {
        "ksm:ksm_start_scan", "ksm:ksm_stop_scan", "ksm:ksm_enter", "ksm:ksm_exit", "ksm:ksm_merge_one_page",
        "ksm:ksm_merge_with_ksm_page", "ksm:ksm_remove_ksm_page", "ksm:ksm_remove_rmap_item", "ksm:ksm_advisor"}
    assert s.ksm_merges == 1  # error -14 is not a merge


def test_stats_json_has_the_documented_keys(capsys):
    assert main(["trace", "stats", str(DATA / "ftrace_kvm.txt"), "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert {"lines", "parsed", "unparsed", "events", "exit_reasons"} <= set(data)
    assert "ftrace_kvm.txt:31: malformed" in err


def test_whatif_replays_the_recorded_activity_through_each_era():
    with open(DATA / "ftrace_kvm.txt") as handle:
        recorded = workload_from_trace(handle)
    assert (recorded.faults, recorded.merges, recorded.pages) == (3, 1, 1)
    results = whatif(recorded, [(e, era_config(e)) for e in ("5.13", "glisse-2019")])
    assert results["5.13"]["spte_zaps"] == 1 and results["glisse-2019"]["spte_zaps"] == 0
    assert results["glisse-2019"]["change_pte_changed_spte"] > 0
