"""The fields of each tracepoint mmuspec understands, from its TP_printk format.

Formats changed across kernel versions; every historical form listed in
``../shared/reference/costs-and-traces.md`` section 4 is accepted.  Each parser
returns a dict of fields (ints for numbers, whatever base the kernel printed them
in) or None when the text does not match, which the reader reports as malformed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Fields = dict[str, Any]
Parser = Callable[[str], Fields | None]

HEX = r"(?:0x)?[0-9a-fA-F]+"
PTR = r"(?:0x)?[0-9a-fA-F]+|\(____ptrval____\)|\(null\)"


def _num(text: str, base: int = 16) -> int:
    return int(text, 0) if text.startswith(("0x", "0X")) else int(text, base)


def _regex(pattern: str, convert: dict[str, Callable[[str], Any]]) -> Parser:
    compiled = re.compile(pattern)

    def parse(text: str) -> Fields | None:
        m = compiled.fullmatch(text.strip())
        if m is None:
            return None
        return {k: convert.get(k, str)(v) for k, v in m.groupdict().items() if v is not None}

    return parse


def _first(*parsers: Parser) -> Parser:
    def parse(text: str) -> Fields | None:
        for p in parsers:
            fields = p(text)
            if fields is not None:
                return fields
        return None

    return parse


dec = int
hexa = _num

KVM_EXIT = _first(
    # newest: vcpu %u reason %s%s%s rip 0x%lx info1 0x%016llx info2 0x%016llx intr_info 0x%08x error_code 0x%08x
    _regex(rf"vcpu (?P<vcpu>\d+) reason (?P<reason>\S+)(?P<flags>(?: \([^)]*\))*) rip (?P<rip>{HEX}) "
           rf"info1 (?P<info1>{HEX}) info2 (?P<info2>{HEX}) intr_info (?P<intr_info>{HEX}) "
           rf"error_code (?P<error_code>{HEX})",
           {"vcpu": dec, "rip": hexa, "info1": hexa, "info2": hexa, "intr_info": hexa, "error_code": hexa}),
    # ~v5.12-v6.2: vcpu %u reason %s%s%s rip 0x%lx info %llx %llx ; ~v5.6: vcpu %u reason %s rip 0x%lx info %llx %llx
    _regex(rf"vcpu (?P<vcpu>\d+) reason (?P<reason>\S+)(?P<flags>(?: \([^)]*\))*) rip (?P<rip>{HEX}) "
           rf"info (?P<info1>{HEX}) (?P<info2>{HEX})",
           {"vcpu": dec, "rip": hexa, "info1": hexa, "info2": hexa}),
    # before: reason %s rip 0x%lx info %llx %llx
    _regex(rf"reason (?P<reason>\S+)(?P<flags>(?: \([^)]*\))*) rip (?P<rip>{HEX}) info (?P<info1>{HEX}) (?P<info2>{HEX})",
           {"rip": hexa, "info1": hexa, "info2": hexa}),
)

KVM_ENTRY = _first(
    _regex(rf"vcpu (?P<vcpu>\d+), rip (?P<rip>{HEX})", {"vcpu": dec, "rip": hexa}),
    _regex(r"vcpu (?P<vcpu>\d+)", {"vcpu": dec}),
)

KVM_PAGE_FAULT = _first(
    # ~v6.1+: vcpu %u rip 0x%lx address 0x%016llx error_code 0x%llx (interim: address 0x%lx error_code %x)
    _regex(rf"vcpu (?P<vcpu>\d+) rip (?P<rip>{HEX}) address (?P<address>{HEX}) error_code (?P<error_code>{HEX})",
           {"vcpu": dec, "rip": hexa, "address": hexa, "error_code": hexa}),
    # classic: address %lx error_code %x
    _regex(rf"address (?P<address>{HEX}) error_code (?P<error_code>{HEX})", {"address": hexa, "error_code": hexa}),
)

UNMAP_HVA_RANGE = _regex(rf"mmu notifier unmap range: (?P<start>{HEX}) -- (?P<end>{HEX})", {"start": hexa, "end": hexa})
SET_SPTE_HVA = _regex(rf"mmu notifier set pte hva: (?P<hva>{HEX})", {"hva": hexa})
AGE_HVA = _regex(rf"mmu notifier age hva: (?P<start>{HEX}) -- (?P<end>{HEX})", {"start": hexa, "end": hexa})
TEST_AGE_HVA = _first(
    _regex(rf"mmu notifier test age hva: (?P<hva>{HEX})", {"hva": hexa}),
    _regex(rf"mmu notifier test age hva: (?P<start>{HEX}) -- (?P<end>{HEX})", {"start": hexa, "end": hexa}),
)
GUEST_FAULT = _regex(  # arm64 trace_arm.h kvm_guest_fault (a stage-2 fault)
    rf"ipa (?P<ipa>{HEX}), hsr (?P<hsr>{HEX}), hxfar (?P<hxfar>{HEX}), pc (?P<pc>{HEX})",
    {"ipa": hexa, "hsr": hexa, "hxfar": hexa, "pc": hexa})

SPTE_REQUESTED = _regex(rf"gfn (?P<gfn>{HEX}) pfn (?P<pfn>{HEX}) level (?P<level>\d+)",
                        {"gfn": hexa, "pfn": hexa, "level": dec})
SET_SPTE = _regex(rf"gfn (?P<gfn>{HEX}) spte (?P<spte>{HEX}) \((?P<perms>[^)]*)\) level (?P<level>\d+) at (?P<at>{HEX})",
                  {"gfn": hexa, "spte": hexa, "level": dec, "at": hexa})
FAST_PAGE_FAULT = _regex(
    rf"vcpu (?P<vcpu>\d+) gva (?P<gva>{HEX}) error_code (?P<error_code>\S*) sptep (?P<sptep>{PTR}) "
    rf"old (?P<old>{HEX}) new (?P<new>{HEX}) spurious (?P<spurious>\d+) fixed (?P<fixed>\d+)",
    {"vcpu": dec, "gva": hexa, "old": hexa, "new": hexa, "spurious": dec, "fixed": dec})
PREPARE_ZAP_PAGE = _regex(rf"sp gen (?P<gen>\d+) gfn (?P<gfn>{HEX}) l(?P<level>\d+) (?P<rest>.*)",
                          {"gen": dec, "gfn": hexa, "level": dec})
TDP_SPTE_CHANGED = _regex(
    rf"as id (?P<as_id>\d+) gfn (?P<gfn>{HEX}) level (?P<level>\d+) old_spte (?P<old_spte>{HEX}) new_spte (?P<new_spte>{HEX})",
    {"as_id": dec, "gfn": hexa, "level": dec, "old_spte": hexa, "new_spte": hexa})

KSM_SCAN = _regex(r"seq (?P<seq>-?\d+) rmap size (?P<rmap_size>-?\d+)", {"seq": dec, "rmap_size": dec})
KSM_MM = _regex(rf"mm (?P<mm>{PTR})", {})
KSM_MERGE_ONE = _regex(rf"ksm pfn (?P<pfn>\d+) rmap_item (?P<rmap_item>{PTR}) mm (?P<mm>{PTR}) error (?P<error>-?\d+)",
                       {"pfn": dec, "error": dec})
KSM_MERGE_WITH = _regex(
    rf"(?P<ksm>ksm )?pfn (?P<pfn>\d+) rmap_item (?P<rmap_item>{PTR}) mm (?P<mm>{PTR}) error (?P<error>-?\d+)",
    {"pfn": dec, "error": dec, "ksm": lambda s: bool(s.strip())})
KSM_REMOVE_PAGE = _regex(r"pfn (?P<pfn>\d+)", {"pfn": dec})
KSM_REMOVE_RMAP = _regex(rf"pfn (?P<pfn>\d+) rmap_item (?P<rmap_item>{PTR}) mm (?P<mm>{PTR})", {"pfn": dec})
KSM_ADVISOR = _regex(r"ksm scan time (?P<scan_time>-?\d+) pages_to_scan (?P<pages_to_scan>\d+) cpu percent (?P<cpu_percent>\d+)",
                     {"scan_time": dec, "pages_to_scan": dec, "cpu_percent": dec})

PARSERS: dict[str, Parser] = {
    "kvm_exit": KVM_EXIT,
    "kvm_entry": KVM_ENTRY,
    "kvm_page_fault": KVM_PAGE_FAULT,
    "kvm_unmap_hva_range": UNMAP_HVA_RANGE,
    "kvm_set_spte_hva": SET_SPTE_HVA,
    "kvm_age_hva": AGE_HVA,
    "kvm_test_age_hva": TEST_AGE_HVA,
    "kvm_guest_fault": GUEST_FAULT,
    "kvm_mmu_spte_requested": SPTE_REQUESTED,
    "kvm_mmu_set_spte": SET_SPTE,
    "fast_page_fault": FAST_PAGE_FAULT,
    "kvm_mmu_prepare_zap_page": PREPARE_ZAP_PAGE,
    "kvm_tdp_mmu_spte_changed": TDP_SPTE_CHANGED,
    "ksm_start_scan": KSM_SCAN,
    "ksm_stop_scan": KSM_SCAN,
    "ksm_enter": KSM_MM,
    "ksm_exit": KSM_MM,
    "ksm_merge_one_page": KSM_MERGE_ONE,
    "ksm_merge_with_ksm_page": KSM_MERGE_WITH,
    "ksm_remove_ksm_page": KSM_REMOVE_PAGE,
    "ksm_remove_rmap_item": KSM_REMOVE_RMAP,
    "ksm_advisor": KSM_ADVISOR,
}
SYSTEM = {name: ("ksm" if name.startswith("ksm_") else "kvmmmu" if name in (
    "kvm_mmu_spte_requested", "kvm_mmu_set_spte", "fast_page_fault", "kvm_mmu_prepare_zap_page",
    "kvm_tdp_mmu_spte_changed") else "kvm") for name in PARSERS}
