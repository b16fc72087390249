"""Kernel eras: named presets of switches, each citing the commits that made it so.

An era fixes every switch except ``arch``; ``--set`` after ``--era`` overrides any
value.  Each preset lists every switch, so that a new switch cannot silently take its
default in an era it does not describe.  Facts marked [I] are inferences (dates and
versions that follow from merge logs, or a reading of code) and [U] unverified, as in
the reference notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmuspec.errors import UsageError
from mmuspec.model.switches import SWITCHES, Config, Value, refuse_inert


@dataclass(frozen=True)
class Era:
    name: str
    version: str
    commit: str
    title: str
    summary: str
    switches: dict[str, Value] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# What every era from v5.13 on shares, before each one's changes.
_V5_13: dict[str, Value] = {
    "mm.wrap_change_pte": True,
    "mm.change_pte_order": "notify_then_set",
    "mm.change_pte_fallback": "none",
    "mm.nonblock_end_on_failure": True,
    "mm.nonblock_itree_end": False,  # not fixed in any kernel (reports/oom-reaper-itree-leak.md)
    "mm.rmap_unmap_notifier": "range",
    "mm.aging_notifiers": "clear_young",
    "mm.wp_reuse": "page_count",
    "kvm.change_pte": "warn_count",
    "kvm.start_zaps_change_pte_events": True,
    "kvm.end_bumps_seq": True,
    "kvm.fault_retry_checks": "seq_and_count",
    "kvm.gup_write_always": False,
    "kvm.change_pte_skips_invalid_slot": False,
    "kvm.retry_range": "hva",
    "kvm.lockless_precheck": False,
    "kvm.zap_gfn_range_count": "none",
    "kvm.count_only_if_memslot": False,
    "kvm.memslot_update_waits": False,
    "kvm.mmu_seq_snapshot": "unsigned_long",
    "kvm.tlbs_dirty": "long",
    "kvm.fault_snapshot": "after_unlock",
    "mm.interval_notifier": True,
    "mm.interval_remove_wait": "lockless",
    "hmm.device_update": "under_lock",
    "kvm.pfncache_retry": "none",
    "kvm.prefault": "none",
    "kvm.invalidate_api": "begin_with_range",
    "kvm.guest_memfd": "none",
    "kvm.gmem_bind_lock": True,
    "kvm.gmem_invalidate_begin": "if_bound",
}
_V5_15 = {**_V5_13, "kvm.change_pte": "check_count", "kvm.zap_gfn_range_count": "gfn_range",
          "kvm.count_only_if_memslot": True, "kvm.memslot_update_waits": True}
# 6.1 has the fixes of v5.18-rc4 (319561669a59) and v5.19 (58cd407ca4c6).
_V6_1 = {**_V5_15, "kvm.zap_gfn_range_count": "all", "kvm.mmu_seq_snapshot": "int",
         "mm.interval_remove_wait": "locked", "kvm.pfncache_retry": "active_count"}
_V6_3 = {**_V6_1, "kvm.mmu_seq_snapshot": "unsigned_long", "kvm.fault_snapshot": "before_unlock"}
_V6_4 = {**_V6_3, "kvm.change_pte_skips_invalid_slot": True}
_V6_8 = {**_V6_4, "kvm.retry_range": "gfn", "kvm.zap_gfn_range_count": "gfn_range", "kvm.lockless_precheck": True,
         "kvm.invalidate_api": "begin_add_end", "kvm.guest_memfd": "private"}
_V6_10 = {**_V6_8, "kvm.change_pte": "none"}
# 6.11 adds KVM_PRE_FAULT_MEMORY, 6.15 lockless aging, 6.18 the prefault -EAGAIN fix: the
# switches that select them are set below as the model gains the steps they need.
_V6_11 = {**_V6_10, "kvm.prefault": "retry_in_kernel"}
_V6_15 = {**_V6_11}
_V6_18 = {**_V6_15, "kvm.prefault": "eagain_on_invalid_slot", "kvm.guest_memfd": "mmap"}
# Before v5.12: no hva range, no pairing of end() with a failed non-blockable start().
_V5_10 = {**_V5_13, "kvm.change_pte": "bump_seq", "kvm.retry_range": "global",
          "mm.nonblock_end_on_failure": False, "kvm.tlbs_dirty": "truncated"}
_V3_7 = {**_V5_10, "mm.rmap_unmap_notifier": "invalidate_page", "mm.wp_reuse": "mapcount",
         "mm.aging_notifiers": "test_young", "mm.interval_notifier": False}
_V2_6_32 = {**_V3_7, "mm.wrap_change_pte": False, "mm.change_pte_order": "set_then_notify",
            "mm.change_pte_fallback": "invalidate_page", "kvm.gup_write_always": True, "kvm.tlbs_dirty": "none",
            "mm.aging_notifiers": "clear_flush_young"}

ERAS: dict[str, Era] = {
    e.name: e
    for e in (
        Era(
            name="2.6.32",
            version="v2.6.32 (2009)",
            commit="828502d30073",
            title="ksm: add mmu_notifier set_pte_at_notify()",
            summary="change_pte is called bare, with no invalidate_range_start/end around it, after "
            "set_pte_at(); KVM's change_pte bumps mmu_notifier_seq, and a subscriber without "
            "change_pte gets ->invalidate_page instead.",
            switches=_V2_6_32,
            notes=(
                "KVM/arm64 did not exist yet (v3.11); arm64/ppc/mips run their later "
                "handlers here as a what-if.",
                "hva_to_pfn() always asked get_user_pages_fast() for write access, so every "
                "fault broke COW: a racing fault never maps the old page read-only.",
                "KSM's unstable-tree merge allocated a fresh KSM page in 2.6.32; the model "
                "converts the scanned page in place, as 2.6.33 on did.",
            ),
        ),
        Era(
            name="3.7",
            version="v3.7 (2012)",
            commit="6bdb913f0a70",
            title="mm: wrap calls to set_pte_at_notify with invalidate_range_start and "
            "invalidate_range_end",
            summary="Every change_pte is now surrounded by start/end, so KVM has zapped the "
            "SPTE before change_pte looks for it, and the invalidate_page fallback is gone; "
            "change_pte still bumps the sequence, and is called before set_pte_at().",
            switches=_V3_7,
            notes=(
                "change_pte before set_pte_at() is 48af0d7cb3c8 (Xiao Guangrong, posted "
                "2012-08-21; its mainline id is from a mirror and its landing before v3.7 is [I]).",
            ),
        ),
        Era(
            name="5.10",
            version="v5.10 (2020)",
            commit="(LTS base)",
            title="before the hva-range retry and the pairing of a failed non-blockable start()",
            summary="As 3.7 for change_pte (seq bump), with the v5.x fault path and reclaim; "
            "a subscriber that fails the OOM reaper's non-blockable start() leaves KVM's count "
            "raised (93065ac753e4, v4.19), and start() flushes for tlbs_dirty through an int.",
            switches=_V5_10,
            notes=("88bf56d04bc3 (kvm: check tlbs_dirty directly) is dated 2020-12-17 and went "
                   "into v5.11 [I].",),
        ),
        Era(
            name="5.12",
            version="v5.12 (2021)",
            commit="4a42d848db95, c2655835fd8c",
            title="KVM: x86/mmu: Consider the hva in mmu_notifier retry; mm/mmu_notifiers: ensure "
            "range_end() is paired with range_start()",
            summary="x86 faults retry only when an in-progress invalidation's hva range holds "
            "their hva; the core calls every end() after a failed non-blockable start().",
            switches={**_V5_10, "kvm.retry_range": "hva", "mm.nonblock_end_on_failure": True,
                      "kvm.tlbs_dirty": "long"},
        ),
        Era(
            name="5.13",
            version="v5.13 (2021)",
            commit="c13fda237f08",
            title="KVM: Assert that notifier count is elevated in .change_pte()",
            summary="The seed: change_pte no longer bumps the sequence and instead "
            "WARN_ON_ONCE(!mmu_notifier_count); the elevated count blocks racing faults.",
            switches=_V5_13,
        ),
        Era(
            name="5.15",
            version="v5.15 (2021)",
            commit="071064f14d87, 52ac8b358b0c, edb298c663fc",
            title="KVM: Don't take mmu_lock for range invalidation unless necessary; Block "
            "memslot updates across range_start() and range_end(); x86/mmu: bump mmu notifier "
            "count in kvm_zap_gfn_range",
            summary="start()/end() move the count only for ranges that hit a memslot, and "
            "memslot updates wait for mn_active_invalidate_count to drain; change_pte returns "
            "when the count is 0; kvm_zap_gfn_range() raises the count with its gfn range, "
            "which x86 faults compare with hvas.",
            switches=_V5_15,
            notes=("edb298c663fc came with the APICv series merged for v5.15 [I].",),
        ),
        Era(
            name="6.1",
            version="v6.1 (2022)",
            commit="6d3085e4d89a",
            title="KVM: x86/mmu: Block all page faults during kvm_zap_gfn_range()",
            summary="kvm_zap_gfn_range() blocks every fault (0 ... ALL_ONES); the x86 fault's "
            "is_page_fault_stale() still takes an int mmu_seq (a955cad84cda, v5.16), which "
            "6.1.y later fixed in stable.",
            switches=_V6_1,
        ),
        Era(
            name="6.3",
            version="v6.3 (2023)",
            commit="ba6e3fe25543, 13ec9308a857",
            title="KVM: x86/mmu: Grab mmu_invalidate_seq in kvm_faultin_pfn(); KVM: arm64: Retry "
            "fault if vma_lookup() results become invalid",
            summary="The x86 snapshot is an unsigned long again; arm64 reads the sequence before "
            "mmap_read_unlock(), so a VMA change after vma_lookup() makes the fault retry.",
            switches=_V6_3,
        ),
        Era(
            name="6.4",
            version="v6.4 (2023)",
            commit="2230f9e1171a",
            title="KVM: Avoid illegal stage2 mapping on invalid memory slot",
            summary="change_pte skips a memslot flagged KVM_MEMSLOT_INVALID, so a KSM merge "
            "racing a memslot deletion no longer maps into it (arm64 and MIPS map in change_pte).",
            switches=_V6_4,
        ),
        Era(
            name="6.8",
            version="v6.8 (2024)",
            commit="8569992d64b8, d02c357e5bfa, a7800aa80ea4",
            title="KVM: Use gfn instead of hva for mmu_notifier_retry; KVM: x86/mmu: Retry fault "
            "before acquiring mmu_lock if mapping is changing; KVM: Add KVM_CREATE_GUEST_MEMFD ioctl() for "
            "guest-specific backing memory",
            summary="Ranges are gfns (kvm_zap_gfn_range() adds its own gfn range again), added by "
            "kvm_mmu_invalidate_range_add() between kvm_mmu_invalidate_begin() and end(), which "
            "WARNs if none was; x86 faults pre-check mmu_invalidate_retry_gfn_unsafe() before the "
            "lookup; guest_memfd backs memslots without an hva and invalidates them itself.",
            switches=_V6_8,
        ),
        Era(
            name="6.10",
            version="v6.10 (2024)",
            commit="f3b65bbaed7c",
            title="KVM: delete .change_pte MMU notifier callback",
            summary="change_pte is gone (997308f9ae72 removed the notifier, f7842747d13d "
            "set_pte_at_notify); start/end alone keep the secondary MMU coherent.",
            switches=_V6_10,
        ),
        Era(
            name="6.11",
            version="v6.11 (2024)",
            commit="bc1a5cd00211, 6e01b7601dfe",
            title="KVM: Add KVM_PRE_FAULT_MEMORY vcpu ioctl to pre-populate guest memory; KVM: x86: "
            "Implement kvm_arch_vcpu_pre_fault_memory()",
            summary="Userspace can fault guest memory in from the vCPU ioctl: "
            "kvm_tdp_map_page() loops on RET_PF_RETRY in the kernel until the fault is fixed, "
            "a signal is pending or the memslot is gone; the notifier protocol is 6.10's.",
            switches=_V6_11,
            notes=(
                "Both ids came through the kvm tree in July 2024 (a linux-next merge report of "
                "2024-07-17 names them), so v6.11 [I].",
            ),
        ),
        Era(
            name="6.15",
            version="v6.15 (2025)",
            commit="aa34b811650c, b146a9b34aed, af3b6a9eba48",
            title="KVM: Allow lockless walk of SPTEs when handing aging mmu_notifier event; KVM: "
            "x86/mmu: Age TDP MMU SPTEs without holding mmu_lock; KVM: x86/mmu: Walk rmaps (shadow "
            "MMU) without holding mmu_lock when aging gfns",
            summary="Architectures that select CONFIG_KVM_MMU_LOCKLESS_AGING (x86 here; s390, "
            "outside the model, later) run clear_young/test_young without mmu_lock, so ageing "
            "races zaps and faults and only the SPTE's atomic update orders them.",
            switches=_V6_15,
            notes=(
                "Merged through the tag kvm-x86-mmu-6.15 (a linux-next revision list shows it), "
                "so v6.15 [I]; the ids are the kvm-x86 ones, which that tag keeps.",
                "arm64's lockless aging (\"KVM: arm64: Relax locking for kvm_test_age_gfn and "
                "kvm_age_gfn\") was posted in 2024 and not merged: arm64 still ages under mmu_lock.",
            ),
        ),
        Era(
            name="6.18",
            version="v6.18 (2025)",
            commit="3ccbf6f47098, 2bc2694fe20b",
            title="KVM: x86/mmu: Return -EAGAIN if userspace deletes/moves memslot during prefault; "
            "KVM: TDX: Do not retry locally when the retry is caused by invalid memslot",
            summary="A prefault that meets a memslot being deleted or moved returns -EAGAIN to "
            "userspace instead of retrying in the kernel while the memslot update waits for it; "
            "guest_memfd can be mmap()ed by the host (KVM_CAP_GUEST_MEMFD_MMAP, reworked into "
            "GUEST_MEMFD_FLAGS with INIT_SHARED in 6.18-rc2).",
            switches=_V6_18,
            notes=(
                "3ccbf6f47098 was applied to kvm-x86 mmu in September 2025 and the kvm-x86 fixes "
                "pull for 6.18-rc2 adds a regression test 'for the bug fixed by' it, so v6.18 [I].",
                "The notifier chain and KSM are 6.10's; what changed is the prefault path and "
                "guest_memfd.",
            ),
        ),
        Era(
            name="glisse-2019",
            version="unmerged proposal against v5.0 (2019)",
            commit="(none: never merged)",
            title="kvm/mmu_notifier: re-enable the change_pte() optimization",
            summary="KVM's start/end return early for ranges that carry a change_pte (KSM "
            "and COW), so the SPTE survives and change_pte updates it in place; the "
            "callback still bumps the sequence, as every pre-2021 kernel did.",
            switches={**_V5_10, "mm.wp_reuse": "mapcount", "kvm.start_zaps_change_pte_events": False,
                      "mm.interval_notifier": False},
            notes=(
                "Message-ID 20190221012227.13236-1-jglisse@redhat.com; the KVM callback of "
                "2019 still did mmu_notifier_seq++ (the seed removed that in 2021).",
                "kvm.change_pte=update_in_place drops that bump; see the README for what "
                "the checker finds then.",
                "Against v5.0, before mmu_interval_notifier (v5.5): a scenario with a device mirror "
                "does not run here unless mm.interval_notifier=true (a what-if).",
            ),
        ),
    )
}

DEFAULT_ERA = "5.13"


def era_config(name: str, overrides: dict[str, Value] | None = None) -> Config:
    """The complete switch assignment of an era, with ``overrides`` applied on top."""
    era = ERAS.get(name)
    if era is None:
        raise UsageError(f"unknown era {name!r}; known eras: {', '.join(ERAS)}")
    values: dict[str, Value] = {n: s.default for n, s in SWITCHES.items()}
    values.update(era.switches)
    if overrides:
        values.update(overrides)
        refuse_inert({k: v for k, v in overrides.items() if k != "arch"}, values["arch"])
    return Config(values)
