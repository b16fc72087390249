"""The switches that describe one kernel's behaviour, and their validation.

An era (``eras.py``) is nothing but a preset of these switches; a user can set any
of them with ``--set NAME=VALUE``.  Every switch names the kernel code whose
behaviour it selects, so that a reader can check the model against the source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mmuspec.errors import UsageError

Value = bool | str


@dataclass(frozen=True)
class Switch:
    name: str
    choices: tuple[Value, ...]
    default: Value
    summary: str
    source: str
    arches: tuple[str, ...] = ()  # the arches whose code the switch selects; () = every arch

    def acts_on(self, arch: Value) -> bool:
        """Whether the model reads this switch on ``arch`` (the kernel code it selects exists there)."""
        return not self.arches or arch in self.arches

    def parse(self, text: str) -> Value:
        """Turn the text of ``--set NAME=TEXT`` into a value, or raise UsageError."""
        if isinstance(self.default, bool):
            lowered = text.strip().lower()
            if lowered in ("true", "1", "yes", "on"):
                return True
            if lowered in ("false", "0", "no", "off"):
                return False
            raise UsageError(f"switch {self.name}: {text!r} is not a boolean (use true or false)")
        if text not in self.choices:
            allowed = " | ".join(str(c) for c in self.choices)
            raise UsageError(f"switch {self.name}: {text!r} is not one of {allowed}")
        return text

    def describe_choices(self) -> str:
        if isinstance(self.default, bool):
            return "true | false"
        return " | ".join(str(c) for c in self.choices)


SWITCHES: dict[str, Switch] = {
    s.name: s
    for s in (
        Switch(
            "arch",
            ("x86", "arm64", "ppc", "mips"),
            "x86",
            "Which architecture's kvm_set_spte_gfn() (the change_pte handler), unmap and "
            "table-freeing behaviour the secondary MMU has.",
            "arch/x86/kvm/mmu/mmu.c kvm_set_pte_rmap, tdp_mmu.c set_spte_gfn; "
            "arch/arm64/kvm/mmu.c kvm_set_spte_gfn; arch/powerpc/kvm/book3s.c kvm_set_spte_gfn; "
            "arch/mips/kvm/mmu.c kvm_set_spte_handler",
        ),
        Switch(
            "mm.wrap_change_pte",
            (True, False),
            True,
            "Every set_pte_at_notify() caller (KSM write_protect_page/replace_page, "
            "wp_page_copy) is surrounded by mmu_notifier_invalidate_range_start/end.",
            "6bdb913f0a70 (v3.7) mm: wrap calls to set_pte_at_notify with "
            "invalidate_range_start and invalidate_range_end",
        ),
        Switch(
            "mm.change_pte_order",
            ("set_then_notify", "notify_then_set"),
            "notify_then_set",
            "Inside set_pte_at_notify(): set the primary PTE and then call change_pte "
            "(2009 macro), or call change_pte first and then set the PTE (the order "
            "documented in include/linux/mmu_notifier.h by v4.15).",
            "828502d30073 (v2.6.32) introduced set_pte_at() then notify; 48af0d7cb3c8 (Xiao "
            "Guangrong, 'mm: mmu_notifier: fix inconsistent memory between secondary MMU and host', "
            "posted 2012-08-21; id per a mirror, in v3.7 [I]) reversed it",
        ),
        Switch(
            "mm.change_pte_fallback",
            ("invalidate_page", "none"),
            "none",
            "What __mmu_notifier_change_pte() does for a subscriber without ->change_pte: call "
            "its ->invalidate_page instead (under the PTL, after the PTE was set), or nothing.",
            "mm/mmu_notifier.c __mmu_notifier_change_pte (2.6.32-3.6: 'Some drivers don't have "
            "change_pte, so we must call invalidate_page in that case'); removed by 6bdb913f0a70 (v3.7)",
        ),
        Switch(
            "mm.nonblock_end_on_failure",
            (True, False),
            True,
            "When a subscriber fails a non-blockable invalidate_range_start() with -EAGAIN (OOM "
            "reaper), the core calls invalidate_range_end() on every subscriber before returning; "
            "false = it returns at once and the callers skip end() (93065ac753e4, v4.19).",
            "c2655835fd8c (v5.12) mm/mmu_notifiers: ensure range_end() is paired with range_start()",
        ),
        Switch(
            "mm.nonblock_itree_end",
            (True, False),
            False,
            "When an hlist subscriber fails a non-blockable invalidate_range_start() (OOM reaper) "
            "after the interval tree took the range, __mmu_notifier_invalidate_range_start() also "
            "ends the interval tree's range (mn_itree_inv_end()) before returning -EAGAIN.  false = "
            "every kernel since v5.5: it returns at once, the caller skips range_end(), and "
            "active_invalidate_ranges never returns to 0 (reports/oom-reaper-itree-leak.md); true = "
            "the proposed fix.",
            "mm/mmu_notifier.c __mmu_notifier_invalidate_range_start(), mn_itree_invalidate() "
            "(99cb252f5e68, v5.5); mm/oom_kill.c __oom_reap_task_mm(); no fix merged",
        ),
        Switch(
            "mm.rmap_unmap_notifier",
            ("invalidate_page", "range"),
            "range",
            "How try_to_unmap_one() (reclaim) tells secondary MMUs: ptep_clear_flush_notify() "
            "-> .invalidate_page() under the PTL, or invalidate_range_start/end around it.",
            "369ea8242c0f (v4.13) mm/rmap: update to new mmu_notifier semantic v2",
        ),
        Switch(
            "mm.aging_notifiers",
            ("clear_flush_young", "test_young", "clear_young"),
            "clear_young",
            "Which aging notifiers the mm calls: clear_flush_young() only (2.6.32), plus "
            "test_young() (v2.6.38), plus clear_young() for page idle tracking (v4.3).",
            "8ee53820edfd (v2.6.38) thp: mmu_notifier_test_young; 1d7715c676a1 (v4.3) "
            "mmu-notifier: add clear_young callback",
        ),
        Switch(
            "mm.wp_reuse",
            ("mapcount", "page_count"),
            "page_count",
            "When do_wp_page() reuses a read-only anonymous page in place instead of "
            "copying it: when it is mapped once (waiting for the page lock), or only when "
            "it is not a KSM page and page_count() == 1 (trylock, else copy).",
            "09854ba94c6a (v5.9) mm: do_wp_page() simplification, with 1a0cf26323c8 "
            "mm/ksm: Remove reuse_ksm_page(); before it reuse_swap_page() looked at the "
            "mapcount",
        ),
        Switch(
            "mm.interval_notifier",
            (True, False),
            True,
            "The mm has mmu_interval_notifier: an interval tree of subscriptions with a per-mm "
            "invalidate_seq, odd while an invalidation that hits one runs, and the "
            "read_begin/read_retry collision-retry scheme (what device mirrors subscribe with).  "
            "false = a kernel before it, where a scenario with a [device] does not run.",
            "99cb252f5e68 (v5.5 [I]) mm/mmu_notifier: add an interval tree notifier",
        ),
        Switch(
            "mm.interval_remove_wait",
            ("none", "lockless", "locked"),
            "locked",
            "How mmu_interval_notifier_remove() waits when it finds an invalidation running "
            "and puts the subscription on the deferred list: locked = "
            "mmu_interval_seq_released() reads invalidate_seq under subscriptions->lock, so it "
            "returns only after mn_itree_inv_end() has processed the deferred list; lockless = "
            "wait_event(READ_ONCE(invalidate_seq) != seq), which the increment at the start of "
            "that critical section satisfies; none = it does not wait at all (no kernel did "
            "that: a what-if).",
            "99cb252f5e68 (v5.5) lockless; 319561669a59 (v5.18-rc4 [I]) mm/mmu_notifier.c: fix race "
            "in mmu_interval_notifier_remove()",
        ),
        Switch(
            "hmm.device_update",
            ("under_lock", "after_unlock", "unlocked_retry"),
            "under_lock",
            "How the device driver's fault path programs the device page table after "
            "hmm_range_fault(): under_lock = mutex_lock(); mmu_interval_read_retry(); "
            "update; mutex_unlock() (lib/test_hmm.c dmirror_range_fault(), the documented "
            "pattern); after_unlock = the driver drops its lock between read_retry and the "
            "update (amdgpu userptr before 1ed3d2567c80); unlocked_retry = read_retry without "
            "the lock, then lock, update, unlock.  Driver code, not the core's: every era has "
            "under_lock.",
            "lib/test_hmm.c dmirror_range_fault(); Documentation/mm/hmm.rst; 1ed3d2567c80 "
            "drm/amdgpu: keep the MMU lock until the update ends v4",
        ),
        Switch(
            "kvm.pfncache_retry",
            ("none", "in_progress", "active_count"),
            "active_count",
            "What a gfn_to_pfn_cache refresh (hva_to_pfn_retry()) checks under gpc->lock before "
            "it installs the pfn it looked up: active_count = mmu_notifier_retry_cache(): "
            "mn_active_invalidate_count, raised before invalidate_range_start() invalidates the "
            "caches, then the sequence; in_progress = the fault path's rule, "
            "mmu_notifier_count (raised only after the caches were invalidated), then the "
            "sequence; none = no gfn_to_pfn_cache (before v5.17), where a scenario with a "
            "[pfncache] does not run.",
            "982ed0de4753 (v5.17 [I]) KVM: Reinstate gfn_to_pfn_cache with invalidation support; "
            "58cd407ca4c6 (v5.19 [I]) KVM: Fix multiple races in gfn=>pfn cache refresh",
        ),
        Switch(
            "kvm.guest_memfd",
            ("none", "private", "mmap"),
            "none",
            "guest_memfd, a file that backs a memslot's gfns without an hva and invalidates them "
            "itself (kvm_gmem_invalidate_begin/end around a hole punch or the file's release): none "
            "= before v6.8, where a scenario with [gmem] does not run; private = v6.8 on, the file is "
            "mapped by the guest only; mmap = v6.18, host userspace may mmap the file too "
            "(GUEST_MEMFD_FLAG_MMAP / INIT_SHARED), so truncation also unmaps host PTEs through the MMU "
            "notifier.",
            "a7800aa80ea4 (v6.8) KVM: Add KVM_CREATE_GUEST_MEMFD ioctl() for guest-specific backing "
            "memory; 00379ba3126e / a1accd3e93e5 (v6.18 [I]) INIT_SHARED and KVM_CAP_GUEST_MEMFD_FLAGS",
        ),
        Switch(
            "kvm.gmem_bind_lock",
            (True, False),
            True,
            "kvm_gmem_bind() and kvm_gmem_unbind() change gmem->bindings under "
            "filemap_invalidate_lock(), which a hole punch and a release hold from invalidate_begin to "
            "invalidate_end, so both see the same bindings (\"Bindings must be stable across "
            "invalidation to ensure the start+end are balanced\"); false = a what-if without it.",
            "virt/kvm/guest_memfd.c kvm_gmem_punch_hole(), kvm_gmem_bind(), kvm_gmem_unbind() (v6.8)",
        ),
        Switch(
            "kvm.gmem_invalidate_begin",
            ("if_bound", "always"),
            "if_bound",
            "When kvm_gmem_invalidate_begin() calls kvm_mmu_invalidate_begin(): if_bound = only when a "
            "binding overlaps the range, as kvm_gmem_invalidate_end() calls end only when xa_find() "
            "finds one (merged); always = unconditionally under mmu_lock, with the conditional end "
            "(the guest_memfd posting of September 2023, whose asymmetry review caught before the "
            "merge).",
            "virt/kvm/guest_memfd.c kvm_gmem_invalidate_begin() (v6.8); the v12 posting of the "
            "guest_memfd series (2023-09-14) and its review",
        ),
        Switch(
            "kvm.change_pte",
            ("bump_seq", "warn_count", "check_count", "update_in_place", "none"),
            "warn_count",
            "KVM's .change_pte(): bump_seq = mmu_notifier_seq++ then kvm_set_spte_gfn() "
            "(2009-v5.12); warn_count = WARN_ON_ONCE(!mmu_notifier_count) then "
            "kvm_set_spte_gfn() (v5.13-v5.14); check_count = "
            "WARN_ON_ONCE(!mn_active_invalidate_count), return if !mmu_notifier_count, then "
            "kvm_set_spte_gfn() (v5.15-v6.9); update_in_place = kvm_set_spte_gfn() alone, "
            "relying on the PTL ordering instead of the sequence count; none = no callback "
            "(v6.10 removed it).",
            "2009 KVM change_pte patch; c13fda237f08 (v5.13); 52ac8b358b0c (v5.15); f3b65bbaed7c (v6.10)",
        ),
        Switch(
            "kvm.start_zaps_change_pte_events",
            (True, False),
            True,
            "KVM's invalidate_range_start/end process ranges that carry a change_pte "
            "(KSM, COW). false = the 2019 proposal: both callbacks return early for "
            "MMU_NOTIFIER_USE_CHANGE_PTE ranges (no zap, no count, no seq).",
            "Glisse 2019, [PATCH v2 1/1] kvm/mmu_notifier: re-enable the change_pte() "
            "optimization (never merged)",
        ),
        Switch(
            "kvm.end_bumps_seq",
            (True, False),
            True,
            "invalidate_range_end() increments mmu_notifier_seq before decrementing "
            "mmu_notifier_count (every era does).",
            "virt/kvm/kvm_main.c kvm_mmu_notifier_invalidate_range_end / "
            "kvm_mmu_invalidate_end",
        ),
        Switch(
            "kvm.fault_retry_checks",
            ("seq_and_count", "seq_only", "count_only", "none"),
            "seq_and_count",
            "What the fault path tests under mmu_lock before installing an SPTE: "
            "mmu_notifier_retry() checks count then seq; none = no locked check at all (with "
            "kvm.lockless_precheck, the unsafe pre-check alone).",
            "include/linux/kvm_host.h mmu_notifier_retry / mmu_invalidate_retry",
        ),
        Switch(
            "kvm.gup_write_always",
            (True, False),
            False,
            "hva_to_pfn() always calls get_user_pages_fast() for write, so every fault "
            "breaks COW (2.6.32); false = the fault's read/write direction is passed down "
            "and read faults may map read-only pages.",
            "2.6.32 virt/kvm/kvm_main.c gfn_to_pfn(): get_user_pages_fast(addr, 1, 1, page); "
            "changed by 'KVM: propagate fault r/w information to gup(), allow read-only "
            "memory' (v2.6.38 [I])",
        ),
        Switch(
            "kvm.change_pte_skips_invalid_slot",
            (True, False),
            False,
            "change_pte goes through kvm_change_spte_gfn(), which skips a memslot flagged "
            "KVM_MEMSLOT_INVALID (being deleted) instead of mapping into it.",
            "2230f9e1171a (v6.4) KVM: Avoid illegal stage2 mapping on invalid memory slot",
        ),
        Switch(
            "kvm.retry_range",
            ("global", "hva", "gfn"),
            "global",
            "What the x86 fault compares with the in-progress invalidations under mmu_lock: "
            "global = any elevated count retries (mmu_notifier_retry); hva = only a count whose "
            "accumulated hva range holds the fault's hva (mmu_notifier_retry_hva); gfn = the same "
            "on gfns (mmu_invalidate_retry_gfn).  Other arches always use global.",
            "4a42d848db95 (v5.12) KVM: x86/mmu: Consider the hva in mmu_notifier retry; "
            "8569992d64b8 (v6.8) KVM: Use gfn instead of hva for mmu_notifier_retry",
            arches=('x86',),
        ),
        Switch(
            "kvm.lockless_precheck",
            (True, False),
            False,
            "kvm_faultin_pfn() first checks mmu_invalidate_retry_gfn_unsafe() without mmu_lock and "
            "retries early; it must be paired with the locked check.",
            "d02c357e5bfa (v6.8) KVM: x86/mmu: Retry fault before acquiring mmu_lock if mapping is "
            "changing",
            arches=('x86',),
        ),
        Switch(
            "kvm.invalidate_api",
            ("begin_with_range", "begin_add_end"),
            "begin_with_range",
            "How KVM counts an invalidation: begin_with_range = kvm_inc_notifier_count(start, end) "
            "(v5.12; kvm_mmu_invalidate_begin(kvm, start, end) in v6.0-v6.7) raises the count and "
            "records the range at once; begin_add_end = kvm_mmu_invalidate_begin() raises the count "
            "and marks the range INVALID_GPA, kvm_mmu_invalidate_range_add() adds each memslot's gfn "
            "range, kvm_mmu_invalidate_end() WARNs if no range was added (and the locked retry test "
            "retries and WARNs on an invalid range), in_progress < 0 is a KVM_BUG_ON, and "
            "kvm_destroy_vm() WARNs on an invalidation left in progress with balanced notifiers.",
            "8569992d64b8 (v6.8) KVM: Use gfn instead of hva for mmu_notifier_retry, with the series' "
            "c0db19232c1e (assert in_progress never negative) and d497a0fab8b8 (WARN on dangling "
            "invalidations at destruction) [ids V, mainline I]",
        ),
        Switch(
            "kvm.prefault",
            ("none", "retry_in_kernel", "eagain_on_invalid_slot"),
            "none",
            "KVM_PRE_FAULT_MEMORY (x86): none = no such ioctl, where a scenario whose vCPUs "
            "prefault does not run; retry_in_kernel = kvm_tdp_map_page() loops on RET_PF_RETRY "
            "inside the ioctl, which holds kvm->srcu throughout, so a fault on a memslot flagged "
            "KVM_MEMSLOT_INVALID retries while the memslot update waits for that srcu reader; "
            "eagain_on_invalid_slot = kvm_mmu_faultin_pfn() returns -EAGAIN to userspace for a "
            "prefault on an invalid memslot.",
            "bc1a5cd00211, 6e01b7601dfe (v6.11 [I]); 3ccbf6f47098 (v6.18 [I]) KVM: x86/mmu: Return "
            "-EAGAIN if userspace deletes/moves memslot during prefault",
        ),
        Switch(
            "kvm.zap_gfn_range_count",
            ("none", "gfn_range", "all"),
            "none",
            "How kvm_zap_gfn_range() (MTRR, APICv inhibit, memory attributes) makes racing faults "
            "retry: none = it does not touch the count or the sequence; gfn_range = count++ with "
            "its gfn range (compared with hvas until v6.8, kvm.retry_range=hva: the units do not "
            "match); all = count++ with 0..ALL_ONES, blocking every fault.",
            "edb298c663fc KVM: x86/mmu: bump mmu notifier count in kvm_zap_gfn_range; "
            "6d3085e4d89a (v6.1) Block all page faults during kvm_zap_gfn_range(); 8569992d64b8 (v6.8)",
        ),
        Switch(
            "kvm.count_only_if_memslot",
            (True, False),
            False,
            "invalidate_range_start/end() take mmu_lock and adjust the count and seq only when the "
            "hva range hits a memslot (on_lock hooks); false = always.",
            "071064f14d87 (v5.15) KVM: Don't take mmu_lock for range invalidation unless necessary",
        ),
        Switch(
            "kvm.memslot_update_waits",
            (True, False),
            False,
            "start() raises mn_active_invalidate_count and end() drops it; installing new memslots "
            "waits until it is 0, so start() and end() see the same memslots.",
            "52ac8b358b0c (v5.15) KVM: Block memslot updates across range_start() and range_end()",
        ),
        Switch(
            "kvm.mmu_seq_snapshot",
            ("unsigned_long", "int"),
            "unsigned_long",
            "The type the x86 fault keeps its mmu_notifier_seq snapshot in: int is truncated and "
            "sign-extended when compared with the unsigned long sequence.  The model scales the "
            "sequence to 8 bits and int to 4: from seq 8 on (2^31 in the kernel) every fault "
            "looks stale.",
            "a955cad84cda (v5.16) is_page_fault_stale(..., int mmu_seq); fixed in mainline by "
            "ba6e3fe25543 (v6.3), in 6.1.y by 'KVM: x86/mmu: Fix an sign-extension bug with mmu_seq "
            "that hangs vCPUs'",
            arches=('x86',),
        ),
        Switch(
            "kvm.tlbs_dirty",
            ("none", "truncated", "long"),
            "long",
            "How invalidate_range_start() accounts SPTEs the shadow-paging sync_page path dropped "
            "without a TLB flush: none = sync_page flushes at once; truncated = "
            "need_tlb_flush |= kvm->tlbs_dirty into an int (the model keeps 4 bits of it: 16 reads "
            "as 0, as 2^32 did); long = the whole count.",
            "a4ee1ca4a36e KVM: MMU: delay flush all tlbs on sync_page path; 88bf56d04bc3 (2020-12-17, "
            "v5.11 [I]) kvm: check tlbs_dirty directly",
        ),
        Switch(
            "kvm.fault_snapshot",
            ("after_unlock", "before_unlock"),
            "before_unlock",
            "Where arm64's user_mem_abort() reads mmu_invalidate_seq: after mmap_read_unlock(), "
            "so a VMA change after vma_lookup() goes unseen, or before it.",
            "13ec9308a857 (v6.3) KVM: arm64: Retry fault if vma_lookup() results become invalid",
            arches=('arm64',),
        ),
    )
}


class Config(Mapping[str, Value]):
    """An immutable, complete assignment of every switch."""

    def __init__(self, values: Mapping[str, Value]) -> None:
        missing = set(SWITCHES) - set(values)
        unknown = set(values) - set(SWITCHES)
        if missing or unknown:
            raise UsageError(f"incomplete configuration: missing {sorted(missing)}, unknown {sorted(unknown)}")
        self._values = dict(values)

    def __getitem__(self, key: str) -> Value:
        return self._values[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(SWITCHES)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Config({self._values!r})"

    def __hash__(self) -> int:
        return hash(tuple(sorted((k, str(v)) for k, v in self._values.items())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Config) and self._values == other._values

    def with_values(self, changes: Mapping[str, Value]) -> Config:
        merged = dict(self._values)
        merged.update(changes)
        return Config(merged)

    def as_dict(self) -> dict[str, Value]:
        return dict(self._values)

    def text(self, name: str) -> str:
        value = self._values[name]
        return str(value).lower() if isinstance(value, bool) else str(value)


def refuse_inert(overrides: Mapping[str, Value], arch: Value) -> None:
    """A switch set by hand on an arch whose code it does not select would do nothing and give a
    vacuous verdict: refuse it, naming the arches it applies to."""
    for name in overrides:
        switch = SWITCHES.get(name)
        if switch is not None and not switch.acts_on(arch):
            raise UsageError(f"--set {name}: acts only on {', '.join(switch.arches)} (it selects "
                             f"{switch.arches[0]} code that arch {arch} does not have); drop it or choose "
                             f"--arch {switch.arches[0]}")


def parse_assignments(texts: Iterable[str]) -> dict[str, Value]:
    """Parse ``NAME=VALUE`` strings; an unknown name or a bad value is a UsageError."""
    out: dict[str, Value] = {}
    for text in texts:
        name, sep, raw = text.partition("=")
        name = name.strip()
        if not sep:
            raise UsageError(f"--set {text!r}: expected NAME=VALUE")
        switch = SWITCHES.get(name)
        if switch is None:
            raise UsageError(f"--set {text!r}: unknown switch {name!r} (see 'mmuspec switches')")
        out[name] = switch.parse(raw.strip())
    return out
