"""Which exits are stage-2 faults and what each fault did, from the syndrome the trace prints."""

import pytest

from mmuspec.traces.exits import classify_exit, esr_kind, npf_kind, vmx_kind
from mmuspec.traces.formats import BY_KEY
from mmuspec.traces.reader import Record, parse_line


def exit_of(fields_text: str):
    record = parse_line(1, f"CPU 0/KVM-10 [000] 1.0: kvm_exit: {fields_text}")
    assert isinstance(record, Record)
    return classify_exit(record.fields, BY_KEY[record.format])


@pytest.mark.parametrize(("qualification", "kind"), [(0x181, "read"), (0x182, "write"), (0x183, "write"),
                                                     (0x184, "fetch"), (0x83, "write"), (0x1A9, "read")])
def test_vmx_fault_kind_is_bits_0_to_2_of_the_exit_qualification(qualification, kind):
    assert vmx_kind(qualification) == kind


@pytest.mark.parametrize(("error_code", "kind"), [(0x100000004, "read"), (0x100000006, "write"),
                                                  (0x100000014, "fetch"), (0x200000007, "write")])
def test_svm_fault_kind_is_the_w_and_id_bits_of_the_npf_error_code(error_code, kind):
    assert npf_kind(error_code) == kind


@pytest.mark.parametrize(("esr", "kind"), [
    (0x93C08006, "read"),   # DABT_LOW, WnR clear
    (0x93C08046, "write"),  # DABT_LOW, WnR set
    (0x92000086, "write"),  # DABT_LOW, S1PTW: a stage-1 walk, handled as a write (kvm_vcpu_dabt_iswrite)
    (0x82000006, "fetch"),  # IABT_LOW
    (0x5A000000, None),     # HVC64: not an abort
])
def test_arm64_fault_kind_comes_from_the_esr_class_wnr_and_s1ptw_bits(esr, kind):
    assert esr_kind(esr) == kind


def test_amd_lowercase_npf_exits_are_counted_as_faults():
    ex = exit_of("vcpu 0 reason npf rip 0xffffffff81a0b2c4 info1 0x0000000100000006 info2 0x0000000012345000 "
                 "intr_info 0x00000000 error_code 0x00000000")
    assert (ex.fault, ex.isa, ex.kind, ex.gfn) == (True, "svm", "write", 0x12345)


def test_libtraceevent_exit_npf_is_a_fault_but_no_kernel_upper_case_npf_is_invented():
    assert exit_of("reason EXIT_NPF rip 0xffffffff81060fc2 info 100000014 12346000").kind == "fetch"
    assert exit_of("reason NPF rip 0xffffffff81060fc2 info 100000014 12346000").fault is False


def test_v2_6_32_lower_case_ept_violation_is_a_fault_whose_kind_waits_for_kvm_page_fault():
    ex = exit_of("reason ept_violation rip 0xffffffff8103a6f2")
    assert (ex.fault, ex.isa, ex.kind) == (True, "vmx", None)


def test_a_failed_vm_entry_is_not_a_fault():
    assert exit_of("vcpu 1 reason EPT_VIOLATION FAILED_VMENTRY rip 0xfff0 info 0 0").fault is False


def test_svm_exception_reasons_with_a_space_are_one_reason():
    assert exit_of("reason PF excp rip 0xffffffff8103a6f2").reason == "PF excp"


@pytest.mark.parametrize(("text", "fault", "kind"), [
    ("TRAP: HSR_EC: 0x0024 (DABT_LOW), PC: 0xffff800010a3c1f4", True, None),
    ("TRAP: HSR_EC: 0x0020 (IABT_LOW), PC: 0x0000ffff9a3c1230", True, "fetch"),
    ("IRQ: HSR_EC: 0x0000 (UNKNOWN), PC: 0xffff800010a3c310", False, None),
    ("TRAP: HSR_EC: 0x0016 (HVC64), PC: 0xffff800010a3c310", False, None),
    ("PC: 0xc0008a18", None, None),
])
def test_arm64_aborts_from_the_guest_are_faults(text, fault, kind):
    ex = exit_of(text)
    assert (ex.fault, ex.kind) == (fault, kind)
