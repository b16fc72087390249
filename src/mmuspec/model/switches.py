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
            "828502d30073 (v2.6.32) introduced set_pte_at() then notify; the commit that "
            "reversed the order was not identified [U]",
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
            "kvm.change_pte",
            ("bump_seq", "warn_count", "update_in_place", "none"),
            "warn_count",
            "KVM's .change_pte(): bump_seq = mmu_notifier_seq++ then kvm_set_spte_gfn() "
            "(2009-v5.12); warn_count = WARN_ON_ONCE(!mmu_notifier_count) then "
            "kvm_set_spte_gfn() (v5.13-v6.9); update_in_place = kvm_set_spte_gfn() alone, "
            "relying on the PTL ordering instead of the sequence count; none = no callback "
            "(v6.10 removed it).",
            "2009 KVM change_pte patch; c13fda237f08 (v5.13); f3b65bbaed7c (v6.10)",
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
            ("seq_and_count", "seq_only", "count_only"),
            "seq_and_count",
            "What the fault path tests under mmu_lock before installing an SPTE: "
            "mmu_notifier_retry() checks count then seq.",
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
