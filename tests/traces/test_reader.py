import gzip
import lzma
from pathlib import Path

import pytest

from mmuspec.errors import UsageError
from mmuspec.traces.reader import Malformed, Record, open_trace, parse_line, read_trace

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize(
    ("line", "comm", "pid", "cpu", "event", "fields"),
    [
        # newest kvm_exit, ftrace with the flags column, a task name with a space and a slash
        (" CPU 0/KVM-995362 [003] d.... 12345.000100: kvm_exit: vcpu 0 reason EPT_VIOLATION rip 0xffffffff81a0b2c4 "
         "info1 0x0000000000000181 info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000",
         "CPU 0/KVM", 995362, 3, "kvm_exit", {"vcpu": 0, "reason": "EPT_VIOLATION", "info1": 0x181}),
        # v5.12-v6.2 kvm_exit, trace-cmd without flags
        ("qemu-kvm-2002  [001]  7001.300000: kvm_exit: vcpu 1 reason EPT_VIOLATION rip 0x7fa0 info 182 0",
         "qemu-kvm", 2002, 1, "kvm_exit", {"vcpu": 1, "info1": 0x182, "info2": 0}),
        # the oldest kvm_exit, without the vcpu
        ("qemu-kvm-2001  [000]  7001.100000: kvm_exit: reason EXTERNAL_INTERRUPT rip 0xffff info 0 800000fd",
         "qemu-kvm", 2001, 0, "kvm_exit", {"reason": "EXTERNAL_INTERRUPT", "info2": 0x800000FD}),
        # the three kvm_page_fault formats
        ("a-1 [000] 1.000000: kvm_page_fault: vcpu 0 rip 0x10 address 0x0000000012345000 error_code 0x181",
         "a", 1, 0, "kvm_page_fault", {"vcpu": 0, "address": 0x12345000, "error_code": 0x181}),
        ("a-1 [000] 1.000000: kvm_page_fault: vcpu 0 rip 0x10 address 0x12345000 error_code 182",
         "a", 1, 0, "kvm_page_fault", {"address": 0x12345000, "error_code": 0x182}),
        ("a-1 [000] 1.000000: kvm_page_fault: address 1a2b3000 error_code 181",
         "a", 1, 0, "kvm_page_fault", {"address": 0x1A2B3000, "error_code": 0x181}),
        # perf script: system prefix, pid/tid, a period before the event
        (" CPU 0/KVM 995360/995362 [003] 12345.000200: 1 kvm:kvm_entry: vcpu 0, rip 0xffffffff81a0b2c8",
         "CPU 0/KVM", 995362, 3, "kvm_entry", {"vcpu": 0}),
        # arm64: kvm_exit, kvm_entry and kvm_guest_fault of trace_arm.h
        (" CPU 0/KVM-4100 [002] d..1. 200.0: kvm_exit: TRAP: HSR_EC: 0x0024 (DABT_LOW), PC: 0xffff800010a3c1f4",
         "CPU 0/KVM", 4100, 2, "kvm_exit", {"type": "TRAP", "ec": 0x24, "ec_class": "DABT_LOW"}),
        (" CPU 0/KVM-4100 [002] d..1. 200.0: kvm_entry: PC: 0xffff800010a3c1f4",
         "CPU 0/KVM", 4100, 2, "kvm_entry", {"pc": 0xFFFF800010A3C1F4}),
        (" CPU 0/KVM-4100 [002] d..1. 200.0: kvm_guest_fault: ipa 0x80a3f000, hsr 0x93c08046, "
         "hxfar 0xffff00000a3f0008, pc 0xffff800010a3c1f4",
         "CPU 0/KVM", 4100, 2, "kvm_guest_fault", {"ipa": 0x80A3F000, "esr": 0x93C08046}),
        # a dash-and-digits task name: the last "-<pid> [" wins
        ("worker-7-pool-123 [002] ..... 5.5: kvm_set_spte_hva: mmu notifier set pte hva: 0x007f1c2a400000",
         "worker-7-pool", 123, 2, "kvm_set_spte_hva", {"hva": 0x7F1C2A400000}),
        # KSM pfns are decimal
        ("ksmd-61 [001] ..... 1.0: ksm_merge_with_ksm_page: ksm pfn 2044477 rmap_item 00000000fd98c937 "
         "mm 000000004a7b2c11 error 0", "ksmd", 61, 1, "ksm_merge_with_ksm_page", {"pfn": 2044477, "ksm": True}),
        ("ksmd-61 [001] ..... 1.0: ksm_merge_with_ksm_page: pfn 2044478 rmap_item 00000000fd98c938 "
         "mm 000000004a7b2c11 error -14", "ksmd", 61, 1, "ksm_merge_with_ksm_page", {"pfn": 2044478, "error": -14}),
        ("k-1 [000] 1.0: kvm_tdp_mmu_spte_changed: as id 0 gfn 12345 level 1 old_spte 1f2e3d005 new_spte 0",
         "k", 1, 0, "kvm_tdp_mmu_spte_changed", {"gfn": 0x12345, "old_spte": 0x1F2E3D005, "new_spte": 0}),
    ],
)
def test_lines_in_every_framing_give_the_task_cpu_event_and_fields(line, comm, pid, cpu, event, fields):
    record = parse_line(1, line)
    assert isinstance(record, Record)
    assert (record.comm, record.pid, record.cpu, record.event) == (comm, pid, cpu, event)
    assert fields.items() <= record.fields.items()


def test_headers_are_skipped_and_unknown_events_kept_without_fields():
    assert parse_line(1, "# tracer: nop") is None
    assert parse_line(2, "cpus=4") is None
    unknown = parse_line(3, "a-1 [000] 1.0: kvm_vcpu_wakeup: wait time 1000 ns, polling valid")
    assert isinstance(unknown, Record) and unknown.fields is None


def test_a_malformed_line_is_reported_with_its_number_and_reading_goes_on():
    with open(DATA / "ftrace_kvm.txt") as handle:
        items = list(read_trace(handle))
    bad = [i for i in items if isinstance(i, Malformed)]
    assert [(m.line, m.reason.split(":")[0]) for m in bad] == [(31, "kvm_exit"), (35, "not a trace line (no '<task>-<pid> [<cpu>] <time>")]
    assert sum(isinstance(i, Record) for i in items) == 21


@pytest.mark.parametrize("compress", [gzip.open, lzma.open])
def test_gzip_and_xz_are_read_directly(tmp_path, compress):
    path = tmp_path / "t.txt.z"
    with compress(path, "wt") as handle:
        handle.write((DATA / "perf_script.txt").read_text())
    with open_trace(str(path)) as stream:
        assert sum(isinstance(i, Record) for i in read_trace(stream)) == 6


def test_a_missing_file_is_a_usage_error():
    with pytest.raises(UsageError, match="no such trace file"):
        open_trace("/nonexistent/trace.txt")


@pytest.mark.parametrize(("line", "pid", "tgid"), [
    (" CPU 0/KVM-5001    (   5000) [000] d.... 400.0: kvm_entry: vcpu 0, rip 0x1", 5001, 5000),
    (" CPU 0/KVM-5001    (-------) [000] d.... 400.0: kvm_entry: vcpu 0, rip 0x1", 5001, None),
    (" CPU 0/KVM-5001 [000] d.... 400.0: kvm_entry: vcpu 0, rip 0x1", 5001, None),
    (" CPU 0/KVM 5000/5001 [000] 400.0: kvm:kvm_entry: vcpu 0, rip 0x1", 5001, 5000),
    (" CPU 0/KVM  5001 [000] 400.0: kvm:kvm_entry: vcpu 0, rip 0x1", 5001, None),
])
def test_the_thread_is_the_pid_ftrace_prints_and_the_vm_its_tgid_column_or_perfs_pid(line, pid, tgid):
    record = parse_line(1, line)
    assert isinstance(record, Record)
    assert (record.pid, record.tgid, record.thread) == (pid, tgid, f"CPU 0/KVM-{pid}")
