"""The MMU-notifier tracepoints of include/trace/events/kvm.h.

v5.13 moved kvm_unmap_hva_range, kvm_set_spte_hva, kvm_age_hva and
kvm_test_age_hva from arm64's trace_arm.h to this generic header (501b918525ef),
keeping arm64's %#016lx text ("0x" and at least 14 digits: the width counts
the prefix), so on x86 they prove v5.13 or later and on arm64
(which printed the same text from v5.9 [I]) they do not.  v6.10 removed
kvm_set_spte_hva with the change_pte notifier.  x86's own aging event,
kvm_age_page, lived here until v5.13.  The ``fast_only`` and ranged
``test age`` forms are from 2024 MGLRU aging patches not known to have been
merged [I]; they are read so that a kernel carrying them is not reported
malformed.
"""

from __future__ import annotations

from mmuspec.traces.tracepoint import HEX, Format, alt_hex, dec, num, table

H = "include/trace/events/kvm.h"
BOTH = "include/trace/events/kvm.h (arch/arm64/kvm/trace_arm.h before v5.13)"
# %#016lx: the width 16 counts the "0x", so a user address prints as 0x007f3a41000000 (14 digits).
LONG = alt_hex(16)
CONV = {"hva": num, "start": num, "end": num, "gfn": num, "level": dec, "fast_only": dec}

FORMATS = table(
    Format("kvm_unmap_hva_range", "generic", BOTH, "x86 v5.13+; arm64 v5.9+ [I]",
           "mmu notifier unmap range: %#016lx -- %#016lx",
           rf"mmu notifier unmap range: (?P<start>{LONG}) -- (?P<end>{LONG})", CONV),
    Format("kvm_set_spte_hva", "generic", BOTH, "x86 v5.13 - v6.9; arm64 v5.9 - v6.9 [I]",
           "mmu notifier set pte hva: %#016lx", rf"mmu notifier set pte hva: (?P<hva>{LONG})", CONV),
    Format("kvm_age_hva", "fast-only", H, "proposed 2024 (MGLRU lockless aging) [I]; no release verified",
           "mmu notifier age hva: %#016lx -- %#016lx fast_only: %d",
           rf"mmu notifier age hva: (?P<start>{LONG}) -- (?P<end>{LONG}) fast_only: (?P<fast_only>\d+)", CONV),
    Format("kvm_age_hva", "generic", BOTH, "x86 v5.13+; arm64 v5.9+ [I]",
           "mmu notifier age hva: %#016lx -- %#016lx",
           rf"mmu notifier age hva: (?P<start>{LONG}) -- (?P<end>{LONG})", CONV),
    Format("kvm_test_age_hva", "fast-only", H, "proposed 2024 (MGLRU lockless aging) [I]; no release verified",
           "mmu notifier test age hva: %#016lx fast_only: %d",
           rf"mmu notifier test age hva: (?P<hva>{LONG}) fast_only: (?P<fast_only>\d+)", CONV),
    Format("kvm_test_age_hva", "range", H, "proposed 2024 (MGLRU bitmap aging) [I]; no release verified",
           "mmu notifier test age hva: %#016lx -- %#016lx",
           rf"mmu notifier test age hva: (?P<start>{LONG}) -- (?P<end>{LONG})", CONV),
    Format("kvm_test_age_hva", "generic", BOTH, "x86 v5.13+; arm64 v5.9+ [I]",
           "mmu notifier test age hva: %#016lx", rf"mmu notifier test age hva: (?P<hva>{LONG})", CONV),
    Format("kvm_age_page", "level", H, "about v5.10 - v5.12 [I] (TDP MMU aging)", "hva %llx gfn %llx level %u %s",
           rf"hva (?P<hva>{HEX}) gfn (?P<gfn>{HEX}) level (?P<level>\d+) (?P<young>YOUNG|OLD)", CONV,
           arch="x86", until="5.13"),
    Format("kvm_age_page", "hva-gfn", H, "about v2.6.38 - v5.9 [I]", "hva %llx gfn %llx %s",
           rf"hva (?P<hva>{HEX}) gfn (?P<gfn>{HEX}) (?P<young>YOUNG|OLD)", CONV, arch="x86", until="5.13"),
)
