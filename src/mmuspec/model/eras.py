"""Kernel eras: named presets of switches, each citing the commit that made it so.

An era fixes every switch except ``arch``; ``--set`` after ``--era`` overrides any
value.  Facts marked [I] are inferences (dates and versions that follow from merge
logs, or a reading of code) and [U] unverified, as in the reference notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mmuspec.errors import UsageError
from mmuspec.model.switches import SWITCHES, Config, Value


@dataclass(frozen=True)
class Era:
    name: str
    version: str
    commit: str
    title: str
    summary: str
    switches: dict[str, Value] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


ERAS: dict[str, Era] = {
    e.name: e
    for e in (
        Era(
            name="2.6.32",
            version="v2.6.32 (2009)",
            commit="828502d30073",
            title="ksm: add mmu_notifier set_pte_at_notify()",
            summary="change_pte is called bare, with no invalidate_range_start/end around it; "
            "KVM's change_pte bumps mmu_notifier_seq, the only way a racing fault learns of it.",
            switches={
                "mm.wrap_change_pte": False,
                "mm.change_pte_order": "set_then_notify",
                "mm.rmap_unmap_notifier": "invalidate_page",
                "mm.wp_reuse": "mapcount",
                "kvm.change_pte": "bump_seq",
                "kvm.start_zaps_change_pte_events": True,
                "kvm.end_bumps_seq": True,
                "kvm.fault_retry_checks": "seq_and_count",
                "kvm.gup_write_always": True,
            },
            notes=(
                "KVM/arm64 did not exist yet (v3.11); arm64/ppc/mips run their later "
                "handlers here as a what-if.",
                "hva_to_pfn() always asked get_user_pages_fast() for write access.",
            ),
        ),
        Era(
            name="3.7",
            version="v3.7 (2012)",
            commit="6bdb913f0a70",
            title="mm: wrap calls to set_pte_at_notify with invalidate_range_start and "
            "invalidate_range_end",
            summary="Every change_pte is now surrounded by start/end, so KVM has zapped the "
            "SPTE before change_pte looks for it; change_pte still bumps the sequence.",
            switches={
                "mm.wrap_change_pte": True,
                "mm.change_pte_order": "set_then_notify",
                "mm.rmap_unmap_notifier": "invalidate_page",
                "mm.wp_reuse": "mapcount",
                "kvm.change_pte": "bump_seq",
                "kvm.start_zaps_change_pte_events": True,
                "kvm.end_bumps_seq": True,
                "kvm.fault_retry_checks": "seq_and_count",
                "kvm.gup_write_always": False,
            },
            notes=(
                "The set_pte_at()/notify order of 2012 is taken from the 2009 macro; the "
                "commit that reversed it was not identified [U].",
            ),
        ),
        Era(
            name="5.13",
            version="v5.13 (2021)",
            commit="c13fda237f08",
            title="KVM: Assert that notifier count is elevated in .change_pte()",
            summary="The seed: change_pte no longer bumps the sequence and instead "
            "WARN_ON_ONCE(!mmu_notifier_count); the elevated count blocks racing faults.",
            switches={
                "mm.wrap_change_pte": True,
                "mm.change_pte_order": "notify_then_set",
                "mm.rmap_unmap_notifier": "range",
                "mm.wp_reuse": "page_count",
                "kvm.change_pte": "warn_count",
                "kvm.start_zaps_change_pte_events": True,
                "kvm.end_bumps_seq": True,
                "kvm.fault_retry_checks": "seq_and_count",
                "kvm.gup_write_always": False,
            },
        ),
        Era(
            name="6.10",
            version="v6.10 (2024)",
            commit="f3b65bbaed7c",
            title="KVM: delete .change_pte MMU notifier callback",
            summary="change_pte is gone (997308f9ae72 removed the notifier, f7842747d13d "
            "set_pte_at_notify); start/end alone keep the secondary MMU coherent.",
            switches={
                "mm.wrap_change_pte": True,
                "mm.change_pte_order": "notify_then_set",
                "mm.rmap_unmap_notifier": "range",
                "mm.wp_reuse": "page_count",
                "kvm.change_pte": "none",
                "kvm.start_zaps_change_pte_events": True,
                "kvm.end_bumps_seq": True,
                "kvm.fault_retry_checks": "seq_and_count",
                "kvm.gup_write_always": False,
            },
        ),
        Era(
            name="glisse-2019",
            version="unmerged proposal against v5.0 (2019)",
            commit="(none: never merged)",
            title="kvm/mmu_notifier: re-enable the change_pte() optimization",
            summary="KVM's start/end return early for ranges that carry a change_pte (KSM "
            "and COW), so the SPTE survives and change_pte updates it in place; the "
            "callback still bumps the sequence, as every pre-2021 kernel did.",
            switches={
                "mm.wrap_change_pte": True,
                "mm.change_pte_order": "notify_then_set",
                "mm.rmap_unmap_notifier": "range",
                "mm.wp_reuse": "mapcount",
                "kvm.change_pte": "bump_seq",
                "kvm.start_zaps_change_pte_events": False,
                "kvm.end_bumps_seq": True,
                "kvm.fault_retry_checks": "seq_and_count",
                "kvm.gup_write_always": False,
            },
            notes=(
                "Message-ID 20190221012227.13236-1-jglisse@redhat.com; the KVM callback of "
                "2019 still did mmu_notifier_seq++ (the seed removed that in 2021).",
                "kvm.change_pte=update_in_place drops that bump; see the README for what "
                "the checker finds then.",
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
    return Config(values)
