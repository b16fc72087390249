"""KVM/arm tracepoints: arch/arm/kvm/trace.h (v3.9, shared with arm64 from v3.11),
virt/kvm/arm/trace.h (from about v4.x) and arch/arm64/kvm/trace_arm.h (from v5.8).

kvm_exit prints ``<type>: HSR_EC: 0x<EC> (<class>), PC: 0x<pc>``: the type is
kvm_arm_exception_type (``IRQ``, ``TRAP``, ...), EC is ESR_ELx bits 31:26
(0x24 DABT_LOW, a data abort from the guest; 0x20 IABT_LOW, an instruction abort)
and the class its kvm_arm_exception_class name.  kvm_guest_fault prints the whole
ESR (named ``hsr``, the arm32 name) of every stage-2 abort.

In June 2020 Marc Zyngier widened the PC and the notifier addresses from %08lx
to %016lx ("Expand the printing of such values to their full glory", v5.9 [I]).
A 16-digit value fits either format, so only a shorter one tells the version.
The same month a patch renamed ``HSR_EC``/``hsr`` to ``ESR_EC``/``esr``
("kvm/arm64: Rename HSR to ESR", kvmarm, 29 Jun 2020); the maintainers kept the
tracepoints as they were ("Tracepoints are ABI, and they cannot change"), so no
mainline release prints ``esr``.  Those forms are still read, in case a
distribution kernel carries the patch.
"""

from __future__ import annotations

from mmuspec.traces.tracepoint import HEX, Format, alt_hex, num, table, zero_hex

ARM32 = "arch/arm/kvm/trace.h, virt/kvm/arm/trace.h"
ARM64 = "arch/arm64/kvm/trace_arm.h"
# Widths as TP_printk gives them.  A text that fits an old and a new format (a value too long for
# either width to pad) is left to the new one, whose bounds are the weaker: ``most`` stops the old
# pattern just below the new format's least number of digits.
PC8 = zero_hex(8, most=15)  # "PC: 0x%08lx" (v3.9 - v5.8)
PC16 = zero_hex(16)  # "PC: 0x%016lx" (v5.9+)
HVA8 = alt_hex(8, most=13)  # %#08lx (v3.9 - v5.8): "0x" and at least 6 digits
HVA16 = alt_hex(16)  # %#016lx (v5.9+): "0x" and at least 14 digits


def _exit(reg: str, pc: str) -> str:
    return rf"(?P<type>[^:]+): (?P<esr_name>{reg})_EC: 0x(?P<ec>[0-9a-fA-F]+) \((?P<ec_class>[^)]*)\), PC: (?P<pc>{pc})"


def _fault(reg: str, pc: str) -> str:
    return rf"ipa (?P<ipa>{HEX}), (?P<esr_name>{reg}) (?P<esr>{HEX}), hxfar (?P<hxfar>{HEX}), pc (?P<pc>{pc})"


CONV = {"ec": num, "pc": num, "ipa": num, "esr": num, "hxfar": num, "hva": num, "start": num, "end": num}

FORMATS = table(
    Format("kvm_entry", "pc64", ARM64, "v5.9+ [I]", "PC: 0x%016lx", rf"PC: (?P<pc>{PC16})", CONV, arch="arm64"),
    Format("kvm_entry", "pc", ARM32, "v3.9 - v5.8 [I]", "PC: 0x%08lx", rf"PC: (?P<pc>{PC8})", CONV,
           arch="arm64", until="5.10"),
    Format("kvm_exit", "type-ec-pc64", ARM64, "v5.9+ [I]", "%s: HSR_EC: 0x%04x (%s), PC: 0x%016lx",
           _exit("HSR", PC16), CONV, arch="arm64"),
    Format("kvm_exit", "type-ec", ARM32, "about v4.6 - v5.8 [I]", "%s: HSR_EC: 0x%04x (%s), PC: 0x%08lx",
           _exit("HSR", PC8), CONV,
           arch="arm64", until="5.10"),
    Format("kvm_exit", "esr-ec", ARM64, "never merged (NAKed patch of 29 Jun 2020)",
           "%s: ESR_EC: 0x%04x (%s), PC: 0x%08lx",
           _exit("ESR", HEX), CONV, arch="arm64"),
    Format("kvm_exit", "pc", "arch/arm/kvm/trace.h", "v3.9 - about v4.5 [I]", "PC: 0x%08lx",
           rf"PC: (?P<pc>{HEX})", CONV, arch="arm64", until="5.10"),
    Format("kvm_guest_fault", "hsr-pc64", ARM64, "v5.9+ [I]", "ipa %#llx, hsr %#08lx, hxfar %#08lx, pc %#016lx",
           _fault("hsr", HVA16), CONV, arch="arm64"),
    Format("kvm_guest_fault", "hsr", ARM32, "v3.9 - v5.8 [I]", "ipa %#llx, hsr %#08lx, hxfar %#08lx, pc %#08lx",
           _fault("hsr", HVA8), CONV, arch="arm64", until="5.10"),
    Format("kvm_guest_fault", "esr", ARM64, "never merged (NAKed patch of 29 Jun 2020)",
           "ipa %#llx, esr %#08lx, hxfar %#08lx, pc %#08lx",
           _fault("esr", HEX), CONV, arch="arm64"),
    Format("kvm_unmap_hva", "hva", ARM32, "v3.9 - about v4.18 [I] (per-page; later only ranges)",
           "mmu notifier unmap hva: %#08lx", rf"mmu notifier unmap hva: (?P<hva>{HEX})", CONV,
           arch="arm64", until="5.10"),
    Format("kvm_unmap_hva_range", "arm", ARM32, "about v3.19 - v5.8 [I]",
           "mmu notifier unmap range: %#08lx -- %#08lx",
           rf"mmu notifier unmap range: (?P<start>{HVA8}) -- (?P<end>{HVA8})", CONV, arch="arm64", until="5.10"),
    Format("kvm_set_spte_hva", "arm", ARM32, "v3.9 - v5.8 [I]", "mmu notifier set pte hva: %#08lx",
           rf"mmu notifier set pte hva: (?P<hva>{HVA8})", CONV, arch="arm64", until="5.10"),
    Format("kvm_age_hva", "arm", ARM32, "about v4.1 - v5.8 [I]", "mmu notifier age hva: %#08lx -- %#08lx",
           rf"mmu notifier age hva: (?P<start>{HVA8}) -- (?P<end>{HVA8})", CONV, arch="arm64", until="5.10"),
    Format("kvm_test_age_hva", "arm", ARM32, "about v4.1 - v5.8 [I]", "mmu notifier test age hva: %#08lx",
           rf"mmu notifier test age hva: (?P<hva>{HVA8})", CONV, arch="arm64", until="5.10"),
)
