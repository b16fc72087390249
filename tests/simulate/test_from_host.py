"""A workload built from the operator's own host or trace: every value says where it came from."""

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from mmuspec.cli import main
from mmuspec.errors import InputError, UsageError
from mmuspec.simulate.from_host import built_workload, from_host, from_trace, host_vms
from mmuspec.simulate.workload import load_workload
from mmuspec.traces.stats import trace_stats

HOST = Path(__file__).parent / "data" / "host_6.18"  # recorded: one VM of the lab VMM, KSM off
TRACES = Path(__file__).parents[1] / "traces" / "data"


def test_from_host_counts_the_vms_and_vcpus_a_recorded_6_18_host_ran():
    (vm,) = host_vms(HOST)
    assert (vm.vcpus, vm.memory_pages) == (2, 17236 // 4)  # VmRSS 17236 kB: no -m on its command line
    values = {v.key: v for v in from_host(HOST)}
    assert values["vms.count"].value == 1 and values["vms.count"].how == "measured"
    assert values["vms.pages"].how == "derived" and "VmRSS" in values["vms.pages"].source
    assert values["ksm.pages_to_scan"].value == 100 and values["ksm.pages_to_scan"].how == "measured"
    # KSM was off: its counters do not say what is shared, so content stays assumed.
    assert values["ksm.run"].value == 0 and "content.shared" not in values


def test_from_host_reads_qemu_memory_from_its_command_line(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(HOST, root, symlinks=True)
    (pid,) = [p for p in (root / "proc").iterdir()]
    (pid / "cmdline").write_bytes(b"qemu-system-x86_64\0-enable-kvm\0-m\0size=2G,slots=2\0-smp\0" b"2\0")
    (vm,) = host_vms(root)
    assert vm.memory_pages == 2 * 262144 and "-m" in vm.memory_source


def test_from_host_derives_what_ksm_shares_when_it_runs(tmp_path):
    root = tmp_path / "root"
    shutil.copytree(HOST, root, symlinks=True)
    ksm = root / "sys" / "kernel" / "mm" / "ksm"
    for name, value in (("run", 1), ("pages_shared", 100), ("pages_sharing", 331)):
        (ksm / name).write_text(f"{value}\n")
    values = {v.key: v for v in from_host(root)}
    assert values["content.shared"].how == "derived"
    assert values["content.shared"].value == pytest.approx(431 / 4309)


def test_from_host_without_a_vm_is_one_line_of_usage_error(tmp_path):
    (tmp_path / "proc" / "1" / "fd").mkdir(parents=True)
    with pytest.raises(UsageError, match="no VM runs on this host"):
        from_host(tmp_path)


def test_the_built_workload_file_marks_each_value_and_keeps_the_base_for_the_rest():
    workload, text = built_workload(load_workload("vdi"), from_host(HOST), "--from-host", "host")
    assert (workload.vms, workload.vcpus, workload.pages_per_vm) == (1, 2, 4309)
    assert workload.shared == load_workload("vdi").shared  # not shown by the host: the base's
    assert "count = 1  # measured: kvm-vm file descriptors" in text
    assert "# run = 0  # measured:" in text
    tomllib.loads(text)  # a workload file like any other


def test_from_trace_counts_vms_vcpus_and_derives_the_fault_rate_as_a_lower_bound():
    with open(TRACES / "two_vms.txt", encoding="utf-8") as stream:
        stats = trace_stats(stream)
    values = {v.key: v for v in from_trace(stats, "two_vms.txt")}
    assert values["vms.count"].value == 2 and values["vms.count"].how == "measured"
    assert values["access.rate"].how == "derived" and "lower bound" in values["access.rate"].source
    assert values["access.write_fraction"].value == 0.5


def test_from_trace_of_a_trace_with_no_vcpu_thread_is_bad_input_naming_the_file():
    with open(TRACES / "real_6.18_ksm.txt", encoding="utf-8") as stream:
        stats = trace_stats(stream)
    with pytest.raises(InputError, match="no vCPU thread"):
        from_trace(stats, "real_6.18_ksm.txt")


def test_simulate_from_host_writes_the_workload_it_built_beside_the_results(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["simulate", "--from-host", str(HOST), "--era", "6.10", "--duration", "5", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "vms.count = 1  (measured: kvm-vm file descriptors" in captured.err
    assert "mmuspec simulate: host (1 VM x 0.02 GiB, 2 vCPUs each" in captured.out
    assert load_workload(str(out / "workload.toml")).vms == 1


def test_simulate_from_an_arm64_trace_simulates_arm64(tmp_path, capsys):
    assert main(["simulate", "--from-trace", str(TRACES / "arm64.txt"), "--era", "5.13", "--duration", "2",
                 "--out", str(tmp_path / "o"), "--json"]) == 0
    captured = capsys.readouterr()
    assert "arch arm64 (measured" in captured.err
    # On arm64, 5.13's change_pte installs the SPTE start() zapped; on x86 it never does.
    assert json.loads(captured.out)["eras"]["5.13"]["change_pte_installed_spte"] > 0


def test_simulate_needs_a_workload_or_a_source_to_build_one(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path / "o")]) == 2
    assert "give a WORKLOAD" in capsys.readouterr().err
