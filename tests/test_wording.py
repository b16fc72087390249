"""Headers count in words a reader does not stumble on: ``1 device x 1 access``."""

from mmuspec.model import load_scenario
from mmuspec.wording import counted


def test_a_count_of_one_is_singular_and_any_other_plural():
    assert [counted(n, "access", "accesses") for n in (0, 1, 2)] == ["0 accesses", "1 access", "2 accesses"]
    assert counted(1, "VM") == "1 VM" and counted(8, "VM") == "8 VMs"


def test_a_check_header_says_1_device_x_1_access_and_3_vcpus_x_1_access():
    assert load_scenario("hmm-mirror").size_text() == "1 device x 1 access"
    assert load_scenario("ksm-merge").scaled(3, 1).size_text() == "3 vCPUs x 1 access"
    assert load_scenario("zap").size_text() == "1 vCPU x 2 accesses"


def test_trace_whatif_says_1_stage_2_fault_and_1_page(tmp_path, capsys):
    from mmuspec.cli import main

    trace = tmp_path / "one.txt"
    trace.write_text(" CPU 0/KVM-1234 [000] .... 100.000001: kvm_exit: reason EPT_VIOLATION rip 0x1 info 182 0\n"
                     " CPU 0/KVM-1234 [000] .... 100.000002: kvm_page_fault: vcpu 0 rip 0x1 address 0x1000 "
                     "error_code 0x182\n")
    assert main(["trace", "whatif", str(trace)]) == 0
    line = capsys.readouterr().out.splitlines()[1]
    assert line.startswith("recorded: 1 stage-2 fault (1 with a guest address")
    assert "1 VM exit," in line and line.endswith(", 1 page")
