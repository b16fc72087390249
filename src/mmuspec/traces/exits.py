"""Which VM exits are stage-2 faults, and whether each fault read, wrote or fetched.

A stage-2 fault is an exit on a guest-physical page the secondary MMU does not
map (or maps with too few rights): a VMX EPT violation, an SVM nested page fault
(#NPF), an arm64 data or instruction abort from the guest.  These are the exits
the notifier protocol causes, so they are the ones ``trace stats`` counts by kind
and ``trace whatif`` replays.

The kind comes from whatever the trace prints of the hardware's fault syndrome:

* VMX exit qualification (SDM vol. 3, "Exit Qualification for EPT Violations"):
  bit 0 read, bit 1 write, bit 2 instruction fetch.  kvm_exit prints it as
  info/info1, and handle_ept_violation passes it unchanged to kvm_page_fault
  (arch/x86/kvm/vmx/vmx.c, every version).
* SVM #NPF EXITINFO1, a page-fault error code (APM vol. 2, "Nested page fault"):
  bit 1 W, bit 4 I/D (fetch).  kvm_exit prints it as info1; npf_interception
  passes it to kvm_page_fault (arch/x86/kvm/svm/svm.c; svm.c's pf_interception
  in v2.6.32).  EXITINFO2, kvm_exit's info2, is the faulting guest-physical
  address.
* arm64 ESR_ELx (ARM ARM D17.2.37): EC, bits 31:26, is 0x20 for an instruction
  abort from the guest, 0x24 for a data abort; for a data abort WnR (bit 6) says
  write, and KVM also treats a fault on a stage-1 table walk (S1PTW, bit 7) as
  a write, since the walk may set the access/dirty flag (kvm_vcpu_dabt_iswrite(),
  arch/arm64/include/asm/kvm_emulate.h).  kvm_exit prints only EC, so a data
  abort's kind waits for kvm_guest_fault's ESR.
"""

from __future__ import annotations

from typing import NamedTuple

from mmuspec.traces.tracepoint import Fields, Format

VMX_FAULTS = frozenset(("EPT_VIOLATION", "ept_violation"))  # v2.6.32's vmx.c table is lower case
SVM_FAULTS = frozenset(("npf", "EXIT_NPF"))  # SVM_EXIT_REASONS; EXIT_NPF is plugin_kvm's name
IABT, IABT_CUR, DABT, DABT_CUR = 0x20, 0x21, 0x24, 0x25
WNR, S1PTW = 1 << 6, 1 << 7
KINDS = ("read", "write", "fetch", "unknown")


class Exit(NamedTuple):
    reason: str
    isa: str  # "vmx", "svm", "arm" or "" when the exit does not say
    fault: bool | None  # None: the exit does not say (v3.9 arm prints only the PC)
    kind: str | None = None  # read/write/fetch when the exit itself says
    gfn: int | None = None  # guest frame, when the exit itself says (SVM EXITINFO2)


def vmx_kind(qualification: int) -> str:
    return "fetch" if qualification & 0x4 else "write" if qualification & 0x2 else "read"


def npf_kind(error_code: int) -> str:
    return "fetch" if error_code & 0x10 else "write" if error_code & 0x2 else "read"


def esr_kind(esr: int) -> str | None:
    ec = (esr >> 26) & 0x3F
    if ec in (IABT, IABT_CUR):
        return "fetch"
    if ec in (DABT, DABT_CUR):
        return "write" if esr & (WNR | S1PTW) else "read"
    return None


def fault_code_kind(isa: str, code: int) -> str:
    """The kind of a kvm_page_fault's error code, which is what the exit of ``isa`` gave it."""
    return vmx_kind(code) if isa == "vmx" else npf_kind(code) if isa == "svm" else "unknown"


def classify_exit(fields: Fields, fmt: Format) -> Exit:
    if fmt.arch == "arm64":
        return _arm_exit(fields)
    reason = str(fields["reason"])
    name = reason.split(" ")[0]
    if name in VMX_FAULTS:
        if "FAILED_VMENTRY" in reason:  # the entry failed: nothing was accessed
            return Exit(reason, "vmx", False)
        kind = vmx_kind(int(fields["info1"])) if "info1" in fields else None
        return Exit(reason, "vmx", True, kind)
    if reason in SVM_FAULTS:
        if "info1" not in fields:
            return Exit(reason, "svm", True)
        return Exit(reason, "svm", True, npf_kind(int(fields["info1"])), int(fields["info2"]) >> 12)
    return Exit(reason, "", False)


def _arm_exit(fields: Fields) -> Exit:
    if "ec" not in fields:
        return Exit("(reason not printed)", "arm", None)
    kind_of_exit = str(fields["type"])
    if kind_of_exit != "TRAP":
        return Exit(kind_of_exit, "arm", False)
    ec = int(fields["ec"])
    reason = str(fields["ec_class"]) or f"EC {ec:#x}"
    if ec == IABT:  # from the guest; *_CUR aborts are taken at EL2 itself
        return Exit(reason, "arm", True, "fetch")
    if ec == DABT:
        return Exit(reason, "arm", True)
    return Exit(reason, "arm", False)
