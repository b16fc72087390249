"""How libtraceevent's kvm plugin prints kvm events (rostedt/libtraceevent
plugins/plugin_kvm.c, formerly tools/lib/traceevent and trace-cmd's own copy).

``trace-cmd report`` and ``perf script`` load this plugin when it is installed and
then print kvm_exit, kvm_entry and the kvm_mmu_*_page events with its handlers,
not with the kernel's TP_printk: kvm_exit as ``reason %s rip 0x%llx`` plus
`` info %llx %llx`` when the event has info1/info2, without the vcpu id, and with
the plugin's own reason names (``EXIT_NPF`` on SVM, ``UNKNOWN (<n>)`` for codes it
does not know, e.g. a VMX reason with the FAILED_VMENTRY bit).  When the
application resolves the guest RIP to a symbol it follows the RIP.  Text without
a symbol is the same as the kernel's v3.1-era format (``x86_trace``); only the
forms below are the plugin's alone.  kvm_mmu_prepare_zap_page prints the shadow
page's role but not its gfn.
"""

from __future__ import annotations

from mmuspec.traces.tracepoint import HEX, Format, dec, num, table

H = "libtraceevent plugins/plugin_kvm.c"
CONV = {"vcpu": dec, "rip": num, "info1": num, "info2": num, "level": dec, "root": dec}

FORMATS = table(
    Format("kvm_exit", "plugin-func", H, "trace-cmd/perf with the kvm plugin, on any kernel",
           'trace_seq_printf("reason %s") " rip 0x%llx" " %s" "+0x%0llx" " info %llx %llx"',
           rf"reason (?P<reason>.+?) rip (?P<rip>0x[0-9a-fA-F]+) (?P<func>(?!info )[^ ]+)"
           rf"(?: info (?P<info1>{HEX}) (?P<info2>{HEX}))?", CONV, arch="x86"),
    Format("kvm_entry", "plugin", H, "trace-cmd/perf with the kvm plugin, on v5.9+ kernels [I]",
           '" vcpu %u" " rip 0x%llx" " %s"',
           r"vcpu (?P<vcpu>\d+) rip (?P<rip>0x[0-9a-fA-F]+)(?: (?P<func>[^ ]+))?", CONV, arch="x86"),
    Format("kvm_mmu_prepare_zap_page", "plugin-role", H, "trace-cmd/perf with the kvm plugin, on any kernel",
           '"%u q%u%s %s%s %spae %snxe %swp%s%s%s" " root %u " "%s%c"',
           r"(?:(?P<level>\d+) q\d+.*|WORD: [0-9a-fA-F]+) root (?P<root>\d+) (?P<sync>unsync|sync)\x00?",
           CONV, arch="x86"),
)
