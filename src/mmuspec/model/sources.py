"""Where in the kernel each step and helper of the model lives, era by era.

A reviewer reading a counterexample wants to open the code a step mirrors.  Each
registered function names, as ``file:function``, the kernel code it stands for, with
the alternatives that code had over the years, newest name first where it was renamed:
``mm/memory.c:zap_page_range`` until v6.2, ``mm/memory.c:zap_page_range_single`` after.
For an era, the location is the first candidate that the kernel tree of that era was
seen to define (``source_evidence.py``, written by ``tools/verify_sources.py`` from real
trees); it is marked:

* ``[V]`` verified: the era's tree defines the function (the evidence names the tree);
* ``[I]`` inferred: no tree of that era was read, but the trees of the eras on both
  sides define it (5.13, between 5.12.9 and 5.15.55), or, for the eras after the last tree
  read (6.15 and 6.18, whose trees were not read), the newest earlier tree (v6.12.118, which
  stands for 6.11: the nearest tree at hand, one release later) defines it and the table
  declares no absence: carried forward, not checked;
* ``[U]`` unverified: no tree showed it; the first candidate is shown as a guess.

``absent`` names the eras whose kernel had no counterpart at all (the callback did not
exist yet, or was gone); there the model runs the step as a what-if and no location is
shown.  KVM/arm64 arrived in v3.11 and KVM/MIPS in v3.10, so arch-specific locations of
those arches are absent in 2.6.32 and 3.7; the 2.6.32 tree has no book3s KVM for PPC
(only booke, without MMU notifiers), so PPC's are absent there.  ``tests/model/test_sources.py`` checks that
every step and helper has a location, or a declared absence, in every era.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmuspec.model.eras import ERAS
from mmuspec.model.source_evidence import FOUND, TREES

# The order of the mainline eras, for the eras on both sides of one without a tree.
MAINLINE = ("2.6.32", "3.7", "5.10", "5.12", "5.13", "5.15", "6.1", "6.3", "6.4", "6.8", "6.10", "6.11", "6.15",
            "6.18")
# The eras before the v6.8 begin()/range_add()/end() API (kvm_mmu_invalidate_begin() took the
# range from v6.0 to v6.7, and was kvm_inc_notifier_count() before).
_BEFORE_V6_8 = "2.6.32 3.7 5.10 5.12 5.13 5.15 6.1 6.3 6.4 glisse-2019"
_BEFORE_V6_0 = "2.6.32 3.7 5.10 5.12 5.13 5.15 glisse-2019"
# The eras before KVM_PRE_FAULT_MEMORY (bc1a5cd00211, v6.11).
_BEFORE_PREFAULT = "2.6.32 3.7 5.10 5.12 5.13 5.15 6.1 6.3 6.4 6.8 6.10 glisse-2019"
# The eras before aging without mmu_lock (kvm-x86-mmu-6.15, v6.15).
_BEFORE_LOCKLESS_AGING = _BEFORE_PREFAULT + " 6.11"
# The eras from v6.10 on (no change_pte, no hva-based retry).
_SINCE_6_10 = "6.10 6.11 6.15 6.18"
LATE_ARCHES = {"arm64": ("2.6.32", "3.7"), "mips": ("2.6.32", "3.7"), "ppc": ("2.6.32",)}


@dataclass(frozen=True)
class Source:
    """Candidates (``file:function``, space-separated) for x86 and every arch without its
    own, then per arch; ``absent`` lists eras with no counterpart."""

    x86: str
    arm64: str = ""
    ppc: str = ""
    mips: str = ""
    absent: str = ""
    note: str = ""

    def candidates(self, arch: str) -> tuple[str, ...]:
        own = {"arm64": self.arm64, "ppc": self.ppc, "mips": self.mips}.get(arch, "")
        return tuple((own or self.x86).split())

    def absent_in(self, era: str, arch: str) -> bool:
        own = {"arm64": self.arm64, "ppc": self.ppc, "mips": self.mips}.get(arch, "")
        return era in self.absent.split() or (bool(own) and era in LATE_ARCHES.get(arch, ()))


@dataclass(frozen=True)
class Location:
    """One era's answer: ``file:function`` and how sure it is."""

    file: str
    function: str
    status: str  # "V", "I" or "U"
    evidence: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        return f"{self.file}:{self.function}"

    def label(self) -> str:
        return f"{self.text} [{self.status}]"

    def to_json(self) -> dict[str, object]:
        return {"file": self.file, "function": self.function, "status": self.status,
                "evidence": list(self.evidence)}


KVM = "virt/kvm/kvm_main.c"
MMU = "arch/x86/kvm/mmu/mmu.c"  # v5.8 on; arch/x86/kvm/mmu.c before
OLD_MMU = "arch/x86/kvm/mmu.c"
A64 = "arch/arm64/kvm/mmu.c"  # v5.7 on; virt/kvm/arm/ and arch/arm/kvm/ were shared with arm before
ARM = "virt/kvm/arm/mmu.c arch/arm/kvm/mmu.c"
PPC = "arch/powerpc/kvm/book3s.c arch/powerpc/kvm/book3s_64_mmu_hv.c"
MIPS = "arch/mips/kvm/mmu.c"
MEM = "mm/memory.c"
KSM = "mm/ksm.c"
RMAP = "mm/rmap.c"
MN = "mm/mmu_notifier.c"
MNH = "include/linux/mmu_notifier.h"
KH = "include/linux/kvm_host.h"
HMM = "lib/test_hmm.c"
GPC = "virt/kvm/pfncache.c"
# mmu_interval_notifier arrived in v5.5 (99cb252f5e68), lib/test_hmm.c in v5.9, the
# gfn_to_pfn_cache in v5.17: eras before them (and the 2019 proposal, on v5.0) had none.
_NO_ITREE = "2.6.32 3.7 glisse-2019"
_NO_HMM = "2.6.32 3.7 glisse-2019"
_NO_GPC = "2.6.32 3.7 5.10 5.12 5.13 5.15 glisse-2019"
# guest_memfd arrived in v6.8 (a7800aa80ea4); host mmap of the file in v6.18.
GMEM = "virt/kvm/guest_memfd.c"
_NO_GMEM = "2.6.32 3.7 5.10 5.12 5.13 5.15 6.1 6.3 6.4 glisse-2019"
_NO_GMEM_MMAP = f"{_NO_GMEM} 6.8 6.10"


def _fn(files: str, *names: str) -> str:
    """Every file (space-separated) x every name, files first: ``_fn("a b", "f")``."""
    return " ".join(f"{f}:{n}" for n in names for f in files.split())


def _per_arch(x86: str, arm64: str, ppc: str, mips: str, absent: str = "", note: str = "") -> Source:
    return Source(x86, arm64, ppc, mips, absent, note)


_MEMSLOT_SET = _fn(KVM, "kvm_set_memslot", "__kvm_set_memory_region")
_FAULT = _fn(f"{MMU} {OLD_MMU}", "direct_page_fault", "tdp_page_fault")
_ARM_FAULT = _fn(f"{A64} {ARM}", "user_mem_abort")
_PPC_FAULT = "arch/powerpc/kvm/book3s_64_mmu_hv.c:kvmppc_book3s_hv_page_fault"
_MIPS_FAULT = _fn(MIPS, "kvm_mips_map_page", "_kvm_mips_map_page_fast")
_EXIT = _fn("arch/x86/kvm/vmx/vmx.c arch/x86/kvm/vmx.c", "handle_ept_violation")
_ARM_EXIT = _fn(f"{A64} {ARM}", "kvm_handle_guest_abort")
_HOST_FAULT = _fn("arch/x86/mm/fault.c", "do_user_addr_fault", "__do_page_fault", "do_page_fault")
_RUN = "arch/x86/kvm/x86.c:vcpu_enter_guest"
_ARM_RUN = _fn("arch/arm64/kvm/arm.c virt/kvm/arm/arm.c arch/arm/kvm/arm.c", "kvm_arch_vcpu_ioctl_run")
_PPC_EXIT = _fn("arch/powerpc/kvm/book3s_hv.c", "kvmppc_handle_exit_hv", "kvmppc_handle_exit")


def _hva(x86_names: tuple[str, ...], absent: str = "") -> Source:
    """An arch handler of the notifier callbacks: per-gfn names from v5.13, per-hva before."""
    return _per_arch(
        _fn(f"{MMU} {OLD_MMU}", *x86_names),
        _fn(f"{A64} {ARM}", *x86_names),
        _fn(PPC, *x86_names),
        _fn(MIPS, *x86_names),
        absent,
    )


SOURCES: dict[str, Source] = {
    # -- KVM's notifier callbacks and the retry test (kvm.py) ---------------------------
    "kvm_inc_notifier_count": Source(_fn(KVM, "kvm_mmu_invalidate_begin", "kvm_inc_notifier_count",
                                         "kvm_mmu_notifier_invalidate_range_start")),
    "kvm_dec_notifier_count": Source(_fn(KVM, "kvm_mmu_invalidate_end", "kvm_dec_notifier_count",
                                         "kvm_mmu_notifier_invalidate_range_end")),
    "kvm_mmu_invalidate_begin": Source(_fn(KVM, "kvm_mmu_invalidate_begin"), absent=_BEFORE_V6_0),
    "kvm_mmu_invalidate_range_add": Source(_fn(KVM, "kvm_mmu_invalidate_range_add"), absent=_BEFORE_V6_8),
    "kvm_mmu_invalidate_end": Source(_fn(KVM, "kvm_mmu_invalidate_end"), absent=_BEFORE_V6_0),
    "kvm_mmu_notifier_invalidate_range_start": Source(_fn(KVM, "kvm_mmu_notifier_invalidate_range_start")),
    "kvm_mmu_notifier_invalidate_range_end": Source(_fn(KVM, "kvm_mmu_notifier_invalidate_range_end")),
    "kvm_mmu_notifier_change_pte": Source(_fn(KVM, "kvm_mmu_notifier_change_pte"), absent=_SINCE_6_10),
    "kvm_mmu_notifier_invalidate_page": Source(_fn(KVM, "kvm_mmu_notifier_invalidate_page"),
                                               absent="5.10 5.12 5.13 5.15 6.1 6.3 6.4 6.8 glisse-2019 " + _SINCE_6_10),
    "kvm_mmu_notifier_clear_flush_young": Source(_fn(KVM, "kvm_mmu_notifier_clear_flush_young")),
    "kvm_mmu_notifier_clear_young": Source(_fn(KVM, "kvm_mmu_notifier_clear_young"), absent="2.6.32 3.7"),
    "kvm_mmu_notifier_test_young": Source(_fn(KVM, "kvm_mmu_notifier_test_young"), absent="2.6.32"),
    "mmu_notifier_retry": Source(_fn(KH, "mmu_invalidate_retry", "mmu_notifier_retry")),
    "mmu_notifier_retry_hva": Source(_fn(KH, "mmu_invalidate_retry_hva", "mmu_notifier_retry_hva"),
                                     absent="2.6.32 3.7 5.10 glisse-2019 6.8 " + _SINCE_6_10),
    "mmu_invalidate_retry_gfn": Source(_fn(KH, "mmu_invalidate_retry_gfn"),
                                       absent="2.6.32 3.7 5.10 5.12 5.13 5.15 6.1 6.3 6.4 glisse-2019"),
    "mmu_invalidate_retry_gfn_unsafe": Source(_fn(KH, "mmu_invalidate_retry_gfn_unsafe"),
                                              absent="2.6.32 3.7 5.10 5.12 5.13 5.15 6.1 6.3 6.4 glisse-2019"),
    "is_page_fault_stale": _per_arch(_fn(MMU, "is_page_fault_stale") + " " + _FAULT, _ARM_FAULT, _PPC_FAULT,
                                     _MIPS_FAULT),
    "kvm_install_spte": _per_arch(_fn(f"{MMU} {OLD_MMU}", "direct_map", "__direct_map"), _ARM_FAULT, _PPC_FAULT,
                                  _MIPS_FAULT),
    # -- struct page (pages.py) ----------------------------------------------------------
    "alloc_page": Source("include/linux/gfp.h:alloc_page"),
    "get_page": Source("include/linux/mm.h:get_page"),
    "put_page": Source("include/linux/mm.h:put_page mm/swap.c:put_page"),
    "page_add_rmap": Source(_fn(RMAP, "page_add_anon_rmap", "folio_add_anon_rmap_ptes")),
    "page_remove_rmap": Source(_fn(RMAP, "page_remove_rmap") + " include/linux/rmap.h:folio_remove_rmap_pte"),
    "trylock_page": Source("include/linux/pagemap.h:trylock_page"),
    "unlock_page": Source("mm/filemap.c:unlock_page mm/folio-compat.c:unlock_page"),
    # -- the primary MMU (primary.py) ----------------------------------------------------
    "set_pte_at": Source("arch/x86/include/asm/pgtable.h:set_pte_at include/linux/pgtable.h:set_pte_at"),
    "ptep_clear_flush": Source("mm/pgtable-generic.c:ptep_clear_flush include/asm-generic/pgtable.h:ptep_clear_flush"),
    "pte_mkyoung": Source("arch/x86/include/asm/pgtable.h:pte_mkyoung"),
    "do_anonymous_page": Source(_fn(MEM, "do_anonymous_page")),
    "do_swap_page": Source(_fn(MEM, "do_swap_page")),
    # -- the vCPU (guest.py) --------------------------------------------------------------
    "guest_access": _per_arch(_EXIT, _ARM_EXIT, _PPC_EXIT,
                              "arch/mips/kvm/mips.c:kvm_mips_handle_exit"),
    "guest_retry": Source(_RUN, arm64=_ARM_RUN),
    "guest_attempt": _per_arch(_EXIT, _ARM_EXIT, _PPC_EXIT,
                               "arch/mips/kvm/mips.c:kvm_mips_handle_exit"),
    "access_done": Source(_RUN, arm64=_ARM_RUN),
    "kvm_mmu_page_fault": _per_arch(_fn(f"{MMU} {OLD_MMU}", "kvm_mmu_page_fault"), _ARM_EXIT, _PPC_FAULT,
                                    "arch/mips/kvm/mips.c:kvm_mips_handle_exit"),
    "vma_lookup": Source(_ARM_FAULT, absent="2.6.32 3.7", note="arm64 only"),
    "mmap_free": Source(_ARM_FAULT, absent="2.6.32 3.7", note="arm64 only: mmap_read_lock() in user_mem_abort()"),
    "fault_snapshot": Source(_ARM_FAULT, absent="2.6.32 3.7", note="arm64 only"),
    "guest_touch": Source(_RUN),
    "kvm_vcpu_pre_fault_memory": Source(_fn(KVM, "kvm_vcpu_pre_fault_memory"), absent=_BEFORE_PREFAULT),
    "kvm_tdp_map_page_retry": Source(_fn(MMU, "kvm_tdp_map_page"), absent=_BEFORE_PREFAULT),
    "hva_to_pfn": Source(_fn(KVM, "hva_to_pfn", "gfn_to_pfn")),
    "hva_to_pfn_can_run": Source(_fn(KVM, "hva_to_pfn", "gfn_to_pfn")),
    "handle_mm_fault": Source(_fn(MEM, "handle_mm_fault")),
    "do_wp_page": Source(_fn(MEM, "do_wp_page")),
    "wp_page_reuse": Source(_fn(MEM, "wp_page_reuse", "do_wp_page")),
    "wp_page_prepare_copy": Source(_fn(MEM, "wp_page_copy", "do_wp_page")),
    "wait_on_page_locked": Source(_fn(MEM, "do_wp_page")),
    "page_unlocked_and_ptl_free": Source("include/linux/pagemap.h:lock_page"),
    "wp_page_copy_start": Source(_fn(MEM, "wp_page_copy", "do_wp_page")),
    "wp_page_copy_lock": Source(_fn(MEM, "wp_page_copy", "do_wp_page")),
    "ptl_free": Source("include/linux/mm.h:pte_offset_map_lock"),
    "wp_page_copy_notify": Source(f"{MNH}:set_pte_at_notify " + _fn(MEM, "wp_page_copy")),
    "wp_page_copy_done": Source(_fn(MEM, "wp_page_copy", "do_wp_page")),
    "wp_page_copy_leave": Source(_fn(MEM, "wp_page_copy", "do_wp_page")),
    "wp_page_copy_end": Source(_fn(MEM, "wp_page_copy", "do_wp_page")),
    "direct_page_fault": _per_arch(_FAULT, _ARM_FAULT, _PPC_FAULT, _MIPS_FAULT),
    "kvm_release_pfn_clean": Source(_fn(KVM, "kvm_release_pfn_clean")),
    # -- host accessors (accessor.py) ------------------------------------------------------
    "accessor_access": Source(_HOST_FAULT),
    "accessor_retry": Source(_HOST_FAULT),
    "accessor_attempt": Source(_HOST_FAULT),
    "host_touch": Source(_HOST_FAULT),
    "accessor_fault": Source(_fn(MEM, "handle_mm_fault")),
    "fault_can_run": Source(_fn(MEM, "handle_pte_fault")),
    # -- the arch handlers (arch.py) ---------------------------------------------------------
    "kvm_unmap_gfn_range": _hva(("kvm_unmap_gfn_range", "kvm_unmap_hva_range", "kvm_unmap_hva")),
    "kvm_set_spte_gfn": _hva(("kvm_set_spte_gfn", "kvm_set_spte_hva"), absent=_SINCE_6_10),
    "kvm_age_gfn": _hva(("kvm_age_gfn", "kvm_age_hva")),
    "kvm_test_age_gfn": _hva(("kvm_test_age_gfn", "kvm_test_age_hva"), absent="2.6.32"),
    # -- madvise and reclaim (host.py) ---------------------------------------------------------
    "zap_page_range_start": Source(_fn(MEM, "zap_page_range", "zap_page_range_single")),
    "zap_pte_range": Source(_fn(MEM, "zap_pte_range")),
    "zap_pte": Source(_fn(MEM, "zap_pte_range")),
    "zap_page_range_end": Source(_fn(MEM, "zap_page_range", "zap_page_range_single")),
    "tlb_finish_mmu": Source("mm/mmu_gather.c:tlb_finish_mmu mm/memory.c:tlb_finish_mmu "
                             "include/asm-generic/tlb.h:tlb_finish_mmu"),
    "page_idle_clear_pte_refs": Source("mm/page_idle.c:page_idle_clear_pte_refs_one", absent="2.6.32 3.7"),
    "mmu_notifier_test_young_probe": Source(f"{MNH}:mmu_notifier_test_young", absent="2.6.32"),
    "page_referenced": Source(_fn(RMAP, "page_referenced_one", "folio_referenced_one")),
    "kvm_faultin_pfn_recheck": Source(_fn(MMU, "kvm_faultin_pfn"), absent=_BEFORE_V6_8),
    "aging_walk_lockless": Source("virt/kvm/kvm_main.c:kvm_age_hva_range", absent=_BEFORE_LOCKLESS_AGING),
    "aging_skips_old": Source("arch/x86/kvm/mmu/tdp_mmu.c:__kvm_tdp_mmu_age_gfn_range",
                              absent=_BEFORE_LOCKLESS_AGING),
    "kvm_age_spte_lockless": Source("arch/x86/kvm/mmu/tdp_mmu.c:kvm_tdp_mmu_age_spte", absent=_BEFORE_LOCKLESS_AGING),
    "try_to_unmap_start": Source(_fn(RMAP, "try_to_unmap_one")),
    "try_to_unmap_one": Source(_fn(RMAP, "try_to_unmap_one")),
    "try_to_unmap_end": Source(_fn(RMAP, "try_to_unmap_one")),
    "shrink_page_list_free": Source("mm/vmscan.c:shrink_page_list mm/vmscan.c:shrink_folio_list"),
    "reclaim_next_target": Source("mm/vmscan.c:shrink_page_list mm/vmscan.c:shrink_folio_list"),
    # -- KVM's own zaps (kvm_mmu.py) ---------------------------------------------------------------
    # The MTRR zap went in 6.11; the APICv inhibit is the caller left (v6.12.118).
    "kvm_update_gfn_attributes": Source("arch/x86/kvm/mtrr.c:update_mtrr "
                                        "arch/x86/kvm/x86.c:__kvm_set_or_clear_apicv_inhibit", absent="2.6.32 3.7"),
    "kvm_zap_gfn_range": Source(_fn(f"{MMU} {OLD_MMU}", "kvm_zap_gfn_range"), absent="2.6.32 3.7"),
    "kvm_zap_gfn_range_end": Source(_fn(f"{MMU} {OLD_MMU}", "kvm_zap_gfn_range"), absent="2.6.32 3.7"),
    "kvm_sync_page": Source("arch/x86/kvm/mmu/paging_tmpl.h:FNAME(sync_page) "
                            "arch/x86/kvm/paging_tmpl.h:FNAME(sync_page) "
                            "arch/x86/kvm/mmu/paging_tmpl.h:FNAME(sync_spte)"),
    "kvm_flush_remote_tlbs": Source(_fn(KVM, "kvm_flush_remote_tlbs")),
    "kvm_flush_if_needed": Source(_fn(KVM, "kvm_mmu_notifier_invalidate_range_start")),
    # -- memslot updates (memslot.py) --------------------------------------------------------------
    "set_memslot": Source(_MEMSLOT_SET),
    "kvm_create_memslot": Source(_fn(KVM, "kvm_create_memslot") + " " + _MEMSLOT_SET),
    "no_invalidation_active": Source(_fn(KVM, "kvm_swap_active_memslots", "install_new_memslots")
                                     + " " + _MEMSLOT_SET),
    "kvm_invalidate_memslot": Source(_fn(KVM, "kvm_invalidate_memslot") + " " + _MEMSLOT_SET),
    "synchronize_srcu_expedited": Source(_fn(KVM, "kvm_swap_active_memslots", "install_new_memslots")
                                         + " " + _MEMSLOT_SET),
    "no_fault_on_old_slot": Source(_fn(KVM, "kvm_swap_active_memslots", "install_new_memslots")
                                   + " " + _MEMSLOT_SET),
    "kvm_arch_flush_shadow_memslot": Source("arch/x86/kvm/x86.c:kvm_arch_flush_shadow_memslot "
                                            "arch/x86/kvm/x86.c:kvm_arch_flush_shadow "
                                            f"{MMU}:kvm_arch_flush_shadow_memslot"),
    "kvm_delete_memslot": Source(_fn(KVM, "kvm_delete_memslot") + " " + _MEMSLOT_SET),
    # -- the notifier chain (notifier.py) -------------------------------------------------------------
    "mmu_notifier_invalidate_range_start": Source(f"{MN}:__mmu_notifier_invalidate_range_start"),
    "mmu_notifier_invalidate_range_end": Source(f"{MN}:__mmu_notifier_invalidate_range_end"),
    "mmu_notifier_invalidate_range_start_nonblock": Source(f"{MNH}:mmu_notifier_invalidate_range_start_nonblock",
                                                           absent="2.6.32 3.7"),
    "mmu_notifier_change_pte": Source(f"{MN}:__mmu_notifier_change_pte", absent=_SINCE_6_10),
    "mmu_notifier_invalidate_page": Source(f"{MN}:__mmu_notifier_invalidate_page",
                                           absent="5.10 5.12 5.13 5.15 6.1 6.3 6.4 6.8 glisse-2019 " + _SINCE_6_10),
    "mmu_notifier_clear_flush_young": Source(f"{MN}:__mmu_notifier_clear_flush_young"),
    "mmu_notifier_clear_young": Source(f"{MN}:__mmu_notifier_clear_young", absent="2.6.32 3.7"),
    "mmu_notifier_test_young": Source(f"{MN}:__mmu_notifier_test_young", absent="2.6.32"),
    # -- the OOM reaper and munmap (unmap.py) -----------------------------------------------------------
    "oom_reap_range_start": Source("mm/oom_kill.c:__oom_reap_task_mm mm/oom_kill.c:__oom_reap_task",
                                   absent="2.6.32 3.7"),
    "munmap_start": Source("mm/mmap.c:unmap_region mm/vma.c:unmap_region"),
    "munmap_zap_pte_range": Source(_fn(MEM, "zap_pte_range")),
    "munmap_finish": Source("mm/mmap.c:unmap_region mm/vma.c:unmap_region"),
    # -- ksmd (ksm.py) ------------------------------------------------------------------------------------
    "ksm_scan_page": Source(_fn(KSM, "cmp_and_merge_page")),
    "write_protect_page_start": Source(_fn(KSM, "write_protect_page")),
    "write_protect_page_lock": Source(_fn(KSM, "write_protect_page")),
    "write_protect_page_notify": Source(_fn(KSM, "write_protect_page")),
    "write_protect_page_leave": Source(_fn(KSM, "write_protect_page")),
    "write_protect_page_end": Source(_fn(KSM, "write_protect_page")),
    "try_to_merge_one_page_compare": Source(_fn(KSM, "try_to_merge_one_page")),
    "replace_page_start": Source(_fn(KSM, "replace_page")),
    "replace_page_lock": Source(_fn(KSM, "replace_page")),
    "replace_page_notify": Source(_fn(KSM, "replace_page")),
    "replace_page_done": Source(_fn(KSM, "replace_page")),
    "replace_page_end": Source(_fn(KSM, "replace_page")),
    "ksm_put_page": Source(_fn(KSM, "cmp_and_merge_page")),
    "ksm_put_page_pair": Source(_fn(KSM, "try_to_merge_two_pages", "cmp_and_merge_page")),
    "ksm_next_target": Source(_fn(KSM, "ksm_do_scan")),
    "lru_add_drain_all": Source("mm/swap.c:lru_add_drain_all"),
    # -- the notifier chain's phases, for subscribers with lock sections of their own ---------------------
    "mn_phases_reset": Source(f"{MN}:__mmu_notifier_invalidate_range_start"),
    "mn_start_ready": Source(f"{MN}:__mmu_notifier_invalidate_range_start"),
    "mn_end_ready": Source(f"{MN}:__mmu_notifier_invalidate_range_end"),
    "mn_phase_is": Source(f"{MN}:__mmu_notifier_invalidate_range_start"),
    # -- mmu_interval_notifier (interval.py), v5.5 on ------------------------------------------------------
    "mn_itree_inv_start_range": Source(f"{MN}:mn_itree_inv_start_range", absent=_NO_ITREE),
    "itree_phase_ready": Source(f"{MN}:mn_itree_invalidate", absent=_NO_ITREE),
    "mn_itree_inv_end": Source(f"{MN}:mn_itree_inv_end", absent=_NO_ITREE),
    "mn_itree_inv_end_deferred": Source(f"{MN}:mn_itree_inv_end", absent=_NO_ITREE),
    "mn_itree_deferred": Source(f"{MN}:mn_itree_inv_end", absent=_NO_ITREE),
    "mn_itree_inv_end_inline": Source(f"{MN}:mn_itree_invalidate", absent=_NO_ITREE),
    "interval_overlaps": Source(f"{MN}:mn_itree_inv_start_range", absent=_NO_ITREE),
    "mn_itree_inv_end_failed_deferred": Source(f"{MN}:mn_itree_inv_end", absent=_NO_ITREE),
    "mn_itree_inv_end_failed": Source(f"{MN}:mn_itree_invalidate", absent=_NO_ITREE),
    "mmu_interval_set_seq": Source(f"{MNH}:mmu_interval_set_seq", absent=_NO_ITREE),
    "mmu_interval_read_begin": Source(f"{MN}:mmu_interval_read_begin", absent=_NO_ITREE),
    "itree_lock_ready": Source(f"{MN}:mmu_interval_read_begin", absent=_NO_ITREE),
    "mmu_interval_read_begin_wait": Source(f"{MN}:mmu_interval_read_begin", absent=_NO_ITREE),
    "read_begin_woken": Source(f"{MN}:mmu_interval_read_begin", absent=_NO_ITREE),
    "mmu_interval_notifier_insert": Source(f"{MN}:mmu_interval_notifier_insert", absent=_NO_ITREE),
    "mmu_interval_notifier_remove": Source(f"{MN}:mmu_interval_notifier_remove", absent=_NO_ITREE),
    "mmu_interval_notifier_remove_wait": Source(f"{MN}:mmu_interval_notifier_remove", absent=_NO_ITREE),
    "seq_released": Source(f"{MN}:mmu_interval_seq_released {MN}:mmu_interval_notifier_remove", absent=_NO_ITREE),
    # -- the HMM device mirror of lib/test_hmm.c (hmm.py), v5.9 on -----------------------------------------
    "dmirror_access": Source(_fn(HMM, "dmirror_read"), absent=_NO_HMM),
    "dmirror_retry": Source(_fn(HMM, "dmirror_read"), absent=_NO_HMM),
    "dmirror_attempt": Source(_fn(HMM, "dmirror_do_read"), absent=_NO_HMM),
    "device_touch": Source(_fn(HMM, "dmirror_do_read"), absent=_NO_HMM),
    "hmm_range_fault": Source("mm/hmm.c:hmm_range_fault", absent=_NO_HMM),
    "hmm_range_fault_can_run": Source("mm/hmm.c:hmm_range_fault", absent=_NO_HMM),
    "dmirror_range_fault": Source(_fn(HMM, "dmirror_range_fault"), absent=_NO_HMM),
    "dmirror_range_fault_can_lock": Source(_fn(HMM, "dmirror_range_fault"), absent=_NO_HMM),
    "dmirror_do_fault": Source(_fn(HMM, "dmirror_do_fault"), absent=_NO_HMM),
    "dmirror_do_fault_can_run": Source(_fn(HMM, "dmirror_do_fault"), absent=_NO_HMM),
    "dmirror_fops_release": Source(_fn(HMM, "dmirror_fops_release"), absent=_NO_HMM),
    "dmirror_interval_invalidate": Source(_fn(HMM, "dmirror_interval_invalidate"), absent=_NO_HMM),
    "dmirror_invalidate_ready": Source(_fn(HMM, "dmirror_interval_invalidate"), absent=_NO_HMM),
    # -- KVM's gfn_to_pfn_cache (pfncache.py), v5.17 on -----------------------------------------------------
    "kvm_gpc_check": Source(_fn(GPC, "kvm_gpc_check", "kvm_gfn_to_pfn_cache_check"), absent=_NO_GPC),
    "kvm_gpc_check_retry": Source(_fn(GPC, "kvm_gpc_check", "kvm_gfn_to_pfn_cache_check"), absent=_NO_GPC),
    "gpc_attempt": Source(_fn(GPC, "kvm_gpc_check", "kvm_gfn_to_pfn_cache_check"), absent=_NO_GPC),
    "gpc_touch": Source(_fn(GPC, "kvm_gpc_check", "kvm_gfn_to_pfn_cache_check"), absent=_NO_GPC),
    "kvm_gpc_refresh": Source(_fn(GPC, "kvm_gpc_refresh", "kvm_gfn_to_pfn_cache_refresh"), absent=_NO_GPC),
    "hva_to_pfn_retry": Source(_fn(GPC, "hva_to_pfn_retry"), absent=_NO_GPC),
    "hva_to_pfn_retry_can_run": Source(_fn(GPC, "hva_to_pfn_retry"), absent=_NO_GPC),
    "retry_cache": Source(_fn(GPC, "mmu_notifier_retry_cache", "hva_to_pfn_retry"), absent=_NO_GPC),
    "mmu_notifier_retry_cache": Source(_fn(GPC, "mmu_notifier_retry_cache", "hva_to_pfn_retry"), absent=_NO_GPC),
    "gfn_to_pfn_cache_invalidate_start": Source(_fn(GPC, "gfn_to_pfn_cache_invalidate_start"), absent=_NO_GPC),
    # -- guest_memfd (gmem.py), v6.8 on; no tree was read for these yet: [U] ------------------------------
    "kvm_gmem_invalidate_begin": Source(_fn(GMEM, "kvm_gmem_invalidate_begin"), absent=_NO_GMEM),
    "kvm_gmem_punch_hole": Source(_fn(GMEM, "kvm_gmem_punch_hole"), absent=_NO_GMEM),
    "invalidate_lock_free": Source(_fn(GMEM, "kvm_gmem_punch_hole"), absent=_NO_GMEM),
    "unmap_mapping_folio_start": Source(_fn(MEM, "unmap_mapping_folio"), absent=_NO_GMEM_MMAP),
    "unmap_mapping_folio_zap": Source(_fn(MEM, "unmap_mapping_folio"), absent=_NO_GMEM_MMAP),
    "unmap_mapping_folio_end": Source(_fn(MEM, "unmap_mapping_folio"), absent=_NO_GMEM_MMAP),
    "truncate_inode_folio": Source("mm/truncate.c:truncate_inode_folio", absent=_NO_GMEM),
    "kvm_gmem_invalidate_end": Source(_fn(GMEM, "kvm_gmem_invalidate_end"), absent=_NO_GMEM),
    "kvm_gmem_release": Source(_fn(GMEM, "kvm_gmem_release"), absent=_NO_GMEM),
    "release_may_start": Source(_fn(GMEM, "kvm_gmem_release"), absent=_NO_GMEM),
    "slots_lock_free": Source(_fn(GMEM, "kvm_gmem_release"), absent=_NO_GMEM),
    "kvm_gmem_delete_memslot": Source(_MEMSLOT_SET),
    "no_fault_in_flight": Source(_fn(KVM, "kvm_swap_active_memslots")),
    "kvm_gmem_unbind": Source(_fn(GMEM, "kvm_gmem_unbind"), absent=_NO_GMEM),
    "binding_may_change": Source(_fn(GMEM, "kvm_gmem_bind"), absent=_NO_GMEM),
    "kvm_gmem_bind": Source(_fn(GMEM, "kvm_gmem_bind"), absent=_NO_GMEM),
    "kvm_gmem_create_memslot": Source(_MEMSLOT_SET),
    "kvm_gmem_fault": Source(_fn(MMU, "kvm_faultin_pfn"), absent=_NO_GMEM),
    "kvm_gmem_get_folio": Source(_fn(GMEM, "kvm_gmem_get_folio"), absent=_NO_GMEM),
    "kvm_gmem_get_pfn": Source(_fn(GMEM, "kvm_gmem_get_pfn"), absent=_NO_GMEM),
    "gmem_folio_ready": Source(_fn(GMEM, "kvm_gmem_get_folio"), absent=_NO_GMEM),
    "gmem_user_access": Source(_HOST_FAULT),
    "gmem_user_retry": Source(_HOST_FAULT),
    "gmem_user_attempt": Source(_HOST_FAULT),
    "kvm_gmem_fault_user_mapping": Source(_fn(GMEM, "kvm_gmem_fault_user_mapping"), absent=_NO_GMEM_MMAP),
    "user_folio_ready": Source(_fn(GMEM, "kvm_gmem_fault_user_mapping"), absent=_NO_GMEM_MMAP),
}


def _found(candidate: str, era: str) -> tuple[str, ...]:
    tree = TREES.get(era)
    return (tree,) if tree is not None and tree in FOUND.get(candidate, ()) else ()


def _neighbours(era: str) -> tuple[str, ...] | None:
    """The eras whose trees stand in for ``era``, which has none: the nearest eras with a
    tree on both sides, or only the newest era with a tree when no later era has one (the
    eras after the last tree read, whose locations are carried forward, marked [I])."""
    if era not in MAINLINE or TREES.get(era) is not None:
        return None
    i = MAINLINE.index(era)
    before = [e for e in MAINLINE[:i] if TREES.get(e) is not None]
    after = [e for e in MAINLINE[i + 1:] if TREES.get(e) is not None]
    if not before:
        return None
    return (before[-1], after[0]) if after else (before[-1],)


def location(name: str, era: str, arch: str = "x86") -> Location | None:
    """The kernel code ``name`` mirrors in ``era`` on ``arch``; None when that kernel had
    no counterpart (or the function is a variant's own, with no entry here)."""
    source = SOURCES.get(name)
    if source is None or source.absent_in(era, arch):
        return None
    return _locate(source, era, arch)


def _locate(source: Source, era: str, arch: str) -> Location:
    candidates = source.candidates(arch)
    for candidate in candidates:
        seen = _found(candidate, era)
        if seen:
            return _make(candidate, "V", seen)
    sides = _neighbours(era)
    if sides is not None:
        for candidate in candidates:
            seen = tuple(v for e in sides for v in _found(candidate, e))
            if len(seen) == len(sides):
                return _make(candidate, "I", seen)
    return _make(candidates[0], "U", ())


def _make(candidate: str, status: str, evidence: tuple[str, ...]) -> Location:
    file, _, function = candidate.partition(":")
    return Location(file, function, status, tuple(f"v{v}" for v in evidence))


def history(name: str, arch: str = "x86") -> list[tuple[list[str], Location | None]]:
    """``name``'s locations over the eras (in ``ERAS`` order), runs of eras with the same
    ``file:function`` (or the same absence) merged."""
    runs: list[tuple[list[str], Location | None]] = []
    for era in ERAS:
        here = location(name, era, arch)
        if runs and _same(runs[-1][1], here):
            runs[-1][0].append(era)
        else:
            runs.append(([era], here))
    return runs


def _same(a: Location | None, b: Location | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a.text == b.text)


def history_text(name: str, arch: str = "x86") -> str:
    """``2.6.32-3.7 arch/x86/kvm/mmu.c:tdp_page_fault; 5.10-6.10 ...`` with the eras whose
    location is inferred or unverified named after it."""
    parts = []
    for eras_, here in history(name, arch):
        span = eras_[0] if len(eras_) == 1 else f"{eras_[0]}..{eras_[-1]}"
        if here is None:
            parts.append(f"{span} (none)")
            continue
        marks = [f"{e} [{loc.status}]" for e in eras_ if (loc := location(name, e, arch)) and loc.status != "V"]
        parts.append(f"{span} {here.text}" + (f" ({', '.join(marks)})" if marks else ""))
    return "; ".join(parts)


def audit(functions: list[str], sources: dict[str, Source] | None = None) -> list[str]:
    """Every problem of the table for the registered ``functions``: a function without an
    entry, an era/arch with neither a location nor a declared absence, a verified or
    inferred location without evidence, an absence that a tree contradicts."""
    table = SOURCES if sources is None else sources
    problems = []
    for name in functions:
        source = table.get(name)
        if source is None:
            problems.append(f"{name}: no entry in model/sources.py SOURCES")
            continue
        arches = ["x86"] + [a for a in ("arm64", "ppc", "mips") if getattr(source, a)]
        for arch in arches:
            for era in ERAS:
                if source.absent_in(era, arch):
                    defined = [c for c in source.candidates(arch) if _found(c, era)]
                    if defined:
                        problems.append(f"{name} ({arch}): declared absent in {era}, but its tree defines {defined[0]}")
                    continue
                here = _locate(source, era, arch)
                if here.status not in ("V", "I", "U"):
                    problems.append(f"{name} ({arch}, {era}): status {here.status!r}")
                elif here.status != "U" and not here.evidence:
                    problems.append(f"{name} ({arch}, {era}): {here.label()} without evidence")
    return problems
