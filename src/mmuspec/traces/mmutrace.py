"""The kvmmmu tracepoints mmuspec uses, from arch/x86/kvm/mmu/mmutrace.h
(arch/x86/kvm/mmutrace.h before v5.6 [I]).

kvm_mmu_prepare_zap_page prints KVM_MMU_PAGE_PRINTK, whose text grew over the
years (a level, then the gpte size and A/D bit, then the generation); only the
gfn is read from it.  kvm_tdp_mmu_spte_changed came with the TDP MMU (v5.10 [I]);
kvm_mmu_spte_requested and kvm_mmu_set_spte with the 2019 tracepoints around
__direct_map (about v5.4 [I]); fast_page_fault with the lockless fault path
(v3.6 [I]).  ``%p`` prints hashed since v4.15 and as a raw address before.
"""

from __future__ import annotations

from mmuspec.traces.tracepoint import HEX, PTR, Format, dec, num, table

H = "arch/x86/kvm/mmu/mmutrace.h"
CONV = {"gfn": num, "pfn": num, "level": dec, "spte": num, "at": num, "vcpu": dec, "gva": num, "old": num,
        "new": num, "spurious": dec, "fixed": dec, "as_id": dec, "old_spte": num, "new_spte": num}

FORMATS = table(
    Format("kvm_mmu_spte_requested", "gfn-pfn", H, "about v5.4+ [I]", "gfn %llx pfn %llx level %d",
           rf"gfn (?P<gfn>{HEX}) pfn (?P<pfn>{HEX}) level (?P<level>\d+)", CONV, arch="x86"),
    Format("kvm_mmu_set_spte", "gfn-spte", H, "about v5.4+ [I] (five access flags, kx/ux, from 2024 [I])",
           "gfn %llx spte %llx (%s%s%s%s) level %d at %llx",
           rf"gfn (?P<gfn>{HEX}) spte (?P<spte>{HEX}) \((?P<perms>[^)]*)\) level (?P<level>\d+) at (?P<at>{HEX})",
           CONV, arch="x86"),
    Format("fast_page_fault", "sptep", H, "v3.6+ [I]",
           "vcpu %d gva %llx error_code %s sptep %p old %#llx new %llx spurious %d fixed %d",
           rf"vcpu (?P<vcpu>\d+) gva (?P<gva>{HEX}) error_code (?P<error_code>\S*) sptep (?P<sptep>{PTR}) "
           rf"old (?P<old>{HEX}) new (?P<new>{HEX}) spurious (?P<spurious>\d+) fixed (?P<fixed>\d+)", CONV, arch="x86"),
    Format("kvm_mmu_prepare_zap_page", "gen", H, "about v5.3+ [I] (mmu_valid_gen: %lx, then %u)",
           "sp gen %u gfn %llx l%u %u-byte q%u%s %s%s %snxe %sad root %u %s%c",
           rf"sp gen (?P<gen>[0-9a-fA-F]+) gfn (?P<gfn>{HEX}) l(?P<level>\d+) (?P<role>.*)", CONV, arch="x86"),
    Format("kvm_mmu_prepare_zap_page", "level-bytes", H, "about v4.x - v5.2 [I]",
           "sp gfn %llx l%u %u-byte q%u%s %s%s %snxe %sad root %u %s%c",
           rf"sp gfn (?P<gfn>{HEX}) l(?P<level>\d+) (?P<role>\d+-byte .*)", CONV, arch="x86"),
    Format("kvm_mmu_prepare_zap_page", "pae", H, "v2.6.3x - about v4.x [I]",
           "sp gfn %llx %u%s q%u%s %s%s %snxe root %u %s%c",
           rf"sp gfn (?P<gfn>{HEX}) (?P<level>\d+)(?P<role>(?: pae)? q\d+.*)", CONV, arch="x86"),
    Format("kvm_tdp_mmu_spte_changed", "as-id", H, "v5.10+ [I]",
           "as id %d gfn %llx level %d old_spte %llx new_spte %llx",
           rf"as id (?P<as_id>\d+) gfn (?P<gfn>{HEX}) level (?P<level>\d+) old_spte (?P<old_spte>{HEX}) "
           rf"new_spte (?P<new_spte>{HEX})", CONV, arch="x86", since="5.9"),
)
