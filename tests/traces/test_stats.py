import io
import json
from pathlib import Path

import pytest

from mmuspec.cli import main
from mmuspec.traces.stats import trace_stats

DATA = Path(__file__).parent / "data"


def stats(name):
    with open(DATA / name) as handle:
        return trace_stats(handle)


def rows(s):
    return {t.label: t for t in s.per_vcpu}


def test_exits_faults_and_the_notifier_protocol_are_counted():
    s = stats("ftrace_kvm.txt")
    assert (s.lines, s.parsed, s.unparsed, s.unknown) == (35, 21, 2, 1)
    assert s.exit_reasons == {"EPT_VIOLATION": 3, "HLT": 1}
    assert s.fault_kinds == {"read": 1, "write": 1, "fetch": 1}
    assert (s.notifier_zaps, s.notifier_refaults) == (1, 1)
    assert (s.change_pte_calls, s.ksm_merges, s.cow_breaks) == (2, 1, 1)
    threads = rows(s)
    assert threads["CPU 0/KVM-995362"].counts["exits"] == 3
    assert threads["CPU 1/KVM-995363"].counts["notifier_refaults"] == 1


def test_intel_fault_kinds_come_from_the_vmx_exit_qualification():
    assert stats("ftrace_kvm.txt").fault_kinds == {"read": 1, "write": 1, "fetch": 1}
    assert stats("tracecmd_old.txt").fault_kinds == {"read": 1, "write": 1}


def test_amd_lowercase_npf_exits_give_faults_by_kind_from_the_npf_error_code():
    s = stats("amd_ftrace.txt")
    assert s.exit_reasons == {"npf": 3, "hlt": 1, "io": 1}
    assert s.fault_kinds == {"read": 1, "write": 1, "fetch": 1}


def test_perf_script_of_an_amd_host_counts_its_npf_faults_by_kind():
    s = stats("perf_script.txt")
    assert s.exit_reasons == {"npf": 2}
    assert s.fault_kinds == {"write": 1, "fetch": 1}
    assert s.events["kvm:kvm_exit"] == 2


def test_trace_cmds_plugin_exit_npf_faults_are_counted_with_and_without_kvm_page_fault():
    s = stats("tracecmd_plugin_amd.txt")
    assert (s.unparsed, s.exit_reasons) == (0, {"EXIT_NPF": 2, "EXIT_HLT": 1})
    assert s.fault_kinds == {"read": 1, "write": 1}


def test_arm64_exits_entries_and_guest_faults_are_parsed_not_malformed():
    s = stats("arm64.txt")
    assert (s.unparsed, s.unknown, s.arch) == (0, 0, "arm64")
    assert s.exit_reasons == {"DABT_LOW": 3, "IABT_LOW": 1, "IRQ": 1, "WFx": 1}


def test_arm64_faults_by_kind_come_from_the_esr_wnr_bit_and_instruction_aborts():
    assert stats("arm64.txt").fault_kinds == {"write": 2, "read": 1, "fetch": 1}


def test_a_page_fault_after_an_exit_that_is_not_a_stage2_fault_is_not_counted(tmp_path):
    # Shadow paging: a #PF intercept (EXCEPTION_NMI) is followed by kvm_page_fault with the guest's #PF code.
    trace = tmp_path / "shadow.txt"
    trace.write_text(
        " CPU 0/KVM-10 [000] 1.000: kvm_exit: reason EXCEPTION_NMI rip 0xffffffff81000000 info 7f0000001000 0\n"
        " CPU 0/KVM-10 [000] 1.001: kvm_page_fault: address 7f0000001000 error_code 6\n")
    with open(trace) as handle:
        s = trace_stats(handle)
    assert (s.faults, rows(s)["CPU 0/KVM-10"].counts["page_faults"]) == (0, 1)


def test_page_faults_on_threads_whose_exits_are_not_traced_are_faults_of_their_own(tmp_path):
    trace = tmp_path / "pf_only.txt"
    trace.write_text(
        " CPU 0/KVM-10 [000] 1.000: kvm_page_fault: vcpu 0 rip 0x1 address 0x0000000000001000 error_code 0x100000006\n"
        " CPU 0/KVM-10 [000] 1.001: kvm_page_fault: vcpu 0 rip 0x1 address 0x0000000000002000 error_code 0x182\n")
    with open(trace) as handle:
        s = trace_stats(handle)
    # bits 32-33 say #NPF (a write); without them the vendor is unknown, and so is the kind
    assert s.fault_kinds == {"write": 1, "unknown": 1}


def test_two_vms_cpu0_threads_get_separate_rows_with_their_vm_process():
    threads = rows(stats("two_vms.txt"))
    assert set(threads) == {"CPU 0/KVM-5001", "CPU 0/KVM-6001", "CPU 1/KVM-6002"}
    assert [(t.vm, t.vcpu_id, t.counts["exits"]) for t in threads.values()] == [("5000", 0, 1), ("6000", 0, 2),
                                                                                ("6000", 1, 1)]


def test_the_vm_of_a_thread_is_unknown_when_the_trace_has_no_tgid():
    assert {t.vm for t in stats("ftrace_kvm.txt").per_vcpu} == {"-"}


def test_every_ksm_event_is_known():
    s = stats("ksm.txt")
    assert s.unknown == 0 and s.unparsed == 0
    assert {e for e in s.events if e.startswith("ksm:")} == {
        "ksm:ksm_start_scan", "ksm:ksm_stop_scan", "ksm:ksm_enter", "ksm:ksm_exit", "ksm:ksm_merge_one_page",
        "ksm:ksm_merge_with_ksm_page", "ksm:ksm_remove_ksm_page", "ksm:ksm_remove_rmap_item", "ksm:ksm_advisor"}
    assert s.ksm_merges == 1  # error -14 is not a merge


def test_stats_json_has_the_documented_keys(capsys):
    assert main(["trace", "stats", str(DATA / "ftrace_kvm.txt"), "--json"]) == 0
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert {"lines", "parsed", "unparsed", "events", "exit_reasons", "faults", "fault_kinds", "per_vcpu"} <= set(data)
    assert "ftrace_kvm.txt:31: malformed" in err


def test_per_vcpu_json_and_text_name_the_thread_and_its_vm(capsys):
    assert main(["trace", "stats", str(DATA / "two_vms.txt"), "--json"]) == 0
    per_vcpu = json.loads(capsys.readouterr().out)["per_vcpu"]
    assert [(r["thread"], r["vm"], r["vcpu_id"]) for r in per_vcpu] == [
        ("CPU 0/KVM-5001", "5000", 0), ("CPU 0/KVM-6001", "6000", 0), ("CPU 1/KVM-6002", "6000", 1)]
    assert per_vcpu[1]["counts"] == {"exits": 2, "faults": 1, "page_faults": 1}
    assert main(["trace", "stats", str(DATA / "two_vms.txt")]) == 0
    text = capsys.readouterr().out
    assert "CPU 0/KVM-5001  VM    5000  vcpu 0" in text and "CPU 0/KVM-6001  VM    6000  vcpu 0" in text


def test_the_per_vcpu_plot_has_one_bar_group_per_thread(tmp_path, capsys):
    assert main(["trace", "stats", str(DATA / "two_vms.txt"), "--plots", str(tmp_path / "plots")]) == 0
    assert (tmp_path / "plots" / "per_vcpu.png").stat().st_size > 0


ARM_FAULT = (" CPU 0/KVM-4100 [002] d..1. 200.000101: kvm_guest_fault: ipa 0x80a3f000, hsr 0x93c08046, "
             "hxfar 0xffff00000a3f0008, pc 0xffff800010a3c1f4\n")


@pytest.mark.parametrize("before", [
    "",  # alone in the file
    " CPU 0/KVM-4100 [002] d..1. 200.000001: kvm_exit: IRQ: HSR_EC: 0x0001 (WFx), PC: 0xffff800010a3c1f0\n",
    (" CPU 0/KVM-4100 [002] d..1. 200.000001: kvm_exit: TRAP: HSR_EC: 0x0024 (DABT_LOW), PC: 0xffff800010a3c1f0\n"
     " CPU 0/KVM-4100 [002] d..1. 200.000002: kvm_guest_fault: ipa 0x80a3e000, hsr 0x93c08046, "
     "hxfar 0xffff00000a3e0008, pc 0xffff800010a3c1f0\n"),
])
def test_an_arm64_kvm_guest_fault_counts_as_one_fault_wherever_it_stands(before):
    s = trace_stats(io.StringIO(before + ARM_FAULT))
    assert s.faults == before.count("kvm_guest_fault") + 1


def test_exit_latency_is_the_time_from_kvm_exit_to_the_threads_next_kvm_entry_per_reason():
    with open(DATA / "ftrace_kvm.txt") as handle:
        s = trace_stats(handle)
    latency = s.to_json(1.0)["exit_latency_us"]
    assert set(latency) == {"EPT_VIOLATION"} and latency["EPT_VIOLATION"]["count"] == 2
    assert abs(latency["EPT_VIOLATION"]["mean"] - 4.0) < 1e-6


def test_cow_breaks_are_not_printed_as_zero_for_a_kernel_without_change_pte(capsys):
    assert main(["trace", "stats", str(DATA / "real_6.18_ksm.txt")]) == 0
    out = capsys.readouterr().out
    assert "COW breaks (change_pte from a vCPU)      not traced" in out
