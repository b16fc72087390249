"""kvm_entry, kvm_exit and kvm_page_fault as arch/x86/kvm/trace.h has printed them.

Versions are those of the releases that carry each TP_printk.  Where a version is
read from the date of the patch that changed the format rather than from a
release, it is marked [I].  ``reason %s`` is ``__print_symbolic`` of the exit
reason: VMX_EXIT_REASONS (arch/x86/include/uapi/asm/vmx.h, upper case:
``EPT_VIOLATION``), SVM_EXIT_REASONS (arch/x86/include/uapi/asm/svm.h, lower case:
``npf``; exceptions as ``PF excp``, with a space), and in v2.6.32 the vendor
modules' own tables (vmx.c: lower case ``ept_violation``; svm.c: as svm.h).
VMX exits that failed VM entry carry `` FAILED_VMENTRY`` (VMX_EXIT_REASON_FLAGS).
No kernel has printed an upper-case ``NPF``; ``EXIT_NPF`` is libtraceevent's
rendering (``plugin_kvm``).
"""

from __future__ import annotations

from mmuspec.traces.tracepoint import HEX, Format, dec, num, table

H = "arch/x86/kvm/trace.h"
REASON = r"(?P<reason>.+?)"
FLAGS = r"(?P<reason>\S+(?: FAILED_VMENTRY)+)"
EXIT = {"vcpu": dec, "rip": num, "info1": num, "info2": num, "intr_info": num, "error_code": num}
FAULT = {"vcpu": dec, "rip": num, "address": num, "error_code": num}

FORMATS = table(
    # -- kvm_entry --------------------------------------------------------------------
    Format("kvm_entry", "inj", H, "proposed 2024 with the guest-mode kvm_exit fields [I]; no release verified",
           "vcpu %u, rip 0x%lx inj 0x%08x inj_error_code 0x%08x%s%s",
           rf"vcpu (?P<vcpu>\d+), rip (?P<rip>{HEX}) inj (?P<inj>{HEX}) inj_error_code (?P<inj_error_code>{HEX})"
           r"(?P<flags>(?:\[immediate exit\]|\[guest\])*)",
           {"vcpu": dec, "rip": num, "inj": num, "inj_error_code": num}, arch="x86"),
    Format("kvm_entry", "immediate-exit", H, "v6.9+ [I] (force_immediate_exit, 2024)",
           "vcpu %u, rip 0x%lx%s",
           rf"vcpu (?P<vcpu>\d+), rip (?P<rip>{HEX})(?P<flags>\[immediate exit\])",
           {"vcpu": dec, "rip": num}, arch="x86", since="6.8"),
    Format("kvm_entry", "rip", H, "v5.9+ [I] (RIP added in 2020)", "vcpu %u, rip 0x%lx",
           rf"vcpu (?P<vcpu>\d+), rip (?P<rip>{HEX})", {"vcpu": dec, "rip": num}, arch="x86", since="5.7"),
    Format("kvm_entry", "vcpu", H, "v2.6.32 - v5.8 [I]", "vcpu %u",
           r"vcpu (?P<vcpu>\d+)", {"vcpu": dec}, arch="x86", until="5.10"),
    # -- kvm_exit ---------------------------------------------------------------------
    Format("kvm_exit", "info1-info2", H, "v5.9+ [I] (Sean Christopherson, July 2020)",
           "vcpu %u reason %s%s%s rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info 0x%08x error_code 0x%08x",
           rf"vcpu (?P<vcpu>\d+) reason {REASON} rip (?P<rip>{HEX}) info1 (?P<info1>{HEX}) info2 (?P<info2>{HEX}) "
           rf"intr_info (?P<intr_info>{HEX}) error_code (?P<error_code>{HEX})(?: (?P<extra>.*))?",
           EXIT, arch="x86", since="5.8"),
    Format("kvm_exit", "vcpu-flags-info", H, "about v5.8 - v5.9 [I] (VMX exit-reason flags, 2020)",
           "vcpu %u reason %s%s%s rip 0x%lx info %llx %llx",
           rf"vcpu (?P<vcpu>\d+) reason {FLAGS} rip (?P<rip>{HEX}) info (?P<info1>{HEX}) (?P<info2>{HEX})",
           EXIT, arch="x86", since="5.0", until="5.11"),
    Format("kvm_exit", "vcpu-info", H, "about v5.3 - v5.9 [I] (vcpu id added in 2019)",
           "vcpu %u reason %s rip 0x%lx info %llx %llx",
           rf"vcpu (?P<vcpu>\d+) reason {REASON} rip (?P<rip>{HEX}) info (?P<info1>{HEX}) (?P<info2>{HEX})",
           EXIT, arch="x86", since="5.0", until="5.11"),
    Format("kvm_exit", "info", H, "from the addition of info1/info2 (before v3.7) to about v5.2 [I]; libtraceevent's rendering on any later kernel",
           "reason %s rip 0x%lx info %llx %llx",
           rf"reason {REASON} rip (?P<rip>{HEX}) info (?P<info1>{HEX}) (?P<info2>{HEX})", EXIT, arch="x86"),
    Format("kvm_exit", "no-info", H, "v2.6.32 until info1/info2 were added (before v3.7) [I]", "reason %s rip 0x%lx",
           rf"reason {REASON} rip (?P<rip>{HEX})", EXIT, arch="x86", until="3.7"),
    # -- kvm_page_fault ---------------------------------------------------------------
    Format("kvm_page_fault", "u64", H, "v6.x [I] (error code widened to u64 after 2022)",
           "vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx",
           rf"vcpu (?P<vcpu>\d+) rip (?P<rip>{HEX}) address (?P<address>0x[0-9a-fA-F]{{16}}) "
           rf"error_code (?P<error_code>0x[0-9a-fA-F]+)", FAULT, arch="x86", since="5.19"),
    Format("kvm_page_fault", "vcpu-rip", H, "v5.19+ [I] (vcpu and rip added, patch of May 2022)",
           "vcpu %u rip 0x%lx address 0x%lx error_code %x",
           rf"vcpu (?P<vcpu>\d+) rip (?P<rip>{HEX}) address (?P<address>{HEX}) error_code (?P<error_code>{HEX})",
           FAULT, arch="x86", since="5.19"),
    Format("kvm_page_fault", "classic", H, "v2.6.32 - v5.18 [I]", "address %lx error_code %x",
           rf"address (?P<address>{HEX}) error_code (?P<error_code>{HEX})", FAULT, arch="x86"),
)
