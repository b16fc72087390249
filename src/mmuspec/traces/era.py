"""Which kernel era a trace was recorded under, from the text forms it contains.

A trace does not print the kernel version, but its events do date it: each
tracepoint format was printed by a range of releases (``Format.since``/``until``),
and some events exist only in some releases (kvm_set_spte_hva went in v6.10; the
notifier events reached x86 in v5.13; ksm's tracepoints came in v6.4 [I]).  The
intersection of those ranges is matched against the eras' own ranges (each era
runs from its version to the next era's), leaving one era, several, or none.
None means the lines cannot come from one kernel: a file that joins traces of
several hosts, which the guess says rather than pick an era.  Bounds are kept
conservative, so an inference can be vague but should not be wrong; the versions
marked [I] in the format modules are read from patch dates, not from release tags.

What a trace does not hold dates it too: from v5.13 to v6.9 every page KSM merges
under a VM's mapping printed kvm_set_spte_hva (replace_page()'s
set_pte_at_notify()), so successful merges, ksmd invalidating a VM's range, and
not one kvm_set_spte_hva mean change_pte is gone: v6.10 or later (assuming the
event was enabled where it existed, as ``-e kvm`` does).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mmuspec.model import DEFAULT_ERA, ERAS
from mmuspec.traces.formats import BY_KEY
from mmuspec.traces.tracepoint import Version, version

NOTIFIER_EVENTS = ("kvm_unmap_hva_range", "kvm_set_spte_hva", "kvm_age_hva", "kvm_test_age_hva")
# (event, or event/format key; arch or "" for any; since; until; why)
EVENT_BOUNDS: tuple[tuple[str, str, str | None, str | None, str], ...] = (
    ("kvm_exit", "arm64", "3.9", None, "KVM on ARM (v3.9; arm64 from v3.11)"),
    *((e, "x86", "5.13", None, f"{e} on x86 (moved to include/trace/events/kvm.h in v5.13)") for e in NOTIFIER_EVENTS),
    *((f"{e}/generic", "", "5.8", None, f"{e} printed with %#016lx (arm64 from v5.9 [I], x86 from v5.13)")
      for e in NOTIFIER_EVENTS),
    ("kvm_set_spte_hva", "", None, "6.10", "kvm_set_spte_hva (removed with change_pte in v6.10)"),
    ("kvm_age_page", "", None, "5.13", "kvm_age_page (x86, removed in v5.13)"),
    ("kvm_tdp_mmu_spte_changed", "", "5.9", None, "kvm_tdp_mmu_spte_changed (TDP MMU, v5.10 [I])"),
    *((e, "", "6.3", None, f"{e} (include/trace/events/ksm.h, v6.4 [I])") for e in (
        "ksm_start_scan", "ksm_stop_scan", "ksm_enter", "ksm_exit", "ksm_merge_one_page",
        "ksm_merge_with_ksm_page", "ksm_remove_ksm_page", "ksm_remove_rmap_item")),
    ("ksm_advisor", "", "6.7", None, "ksm_advisor (v6.8 [I])"),
)
# A fact the trace holds by what it lacks (see the module docstring), as stats derives it.
MERGES_WITHOUT_CHANGE_PTE = "merges-without-change-pte"


@dataclass(frozen=True)
class EraGuess:
    era: str  # the era the trace is taken to be from
    inferred: bool  # True when the evidence leaves exactly this era
    candidates: tuple[str, ...]  # every era the evidence allows
    evidence: tuple[str, ...]
    mixed: bool = False  # the lines cannot all come from one kernel

    def describe(self) -> str:
        why = "; ".join(self.evidence) if self.evidence else "no dated format or event in the trace"
        if self.mixed:
            return (f"{self.era} assumed: the trace mixes kernels ({why}); split it by host, or "
                    "--recorded-era chooses one")
        if self.inferred:
            return f"{self.era}, inferred from: {why}"
        if self.candidates:
            return (f"{self.era} assumed (the trace fits {', '.join(self.candidates)}: {why}); "
                    "--recorded-era chooses another")
        return f"{self.era} assumed (the default era: {why}); --recorded-era chooses another"

    def to_json(self) -> dict[str, object]:
        return {"era": self.era, "inferred": self.inferred, "candidates": list(self.candidates),
                "evidence": list(self.evidence), "mixed": self.mixed}


def era_spans() -> list[tuple[str, Version, Version | None]]:
    """The released eras, each from its version to the next one's (unreleased proposals have none)."""
    dated = sorted((version(name), name) for name in ERAS if all(p.isdigit() for p in name.split(".")))
    return [(name, v, dated[i + 1][0] if i + 1 < len(dated) else None) for i, (v, name) in enumerate(dated)]


def infer_era(formats: Iterable[str], events: Iterable[str], arch: str | None, *,
              merges_without_change_pte: int = 0, arches: Iterable[str] = ()) -> EraGuess:
    """The era of a trace whose lines matched ``formats`` (Format keys) and named ``events``.
    ``merges_without_change_pte``: KSM merges in a trace where ksmd invalidated a VM's range and no
    kvm_set_spte_hva appears; ``arches``: every arch the trace's vCPU lines belong to."""
    formats = set(formats)
    arches = sorted(set(arches))
    bounds: list[tuple[str | None, str | None, str]] = []
    for key in sorted(formats):
        f = BY_KEY.get(key)
        if f is not None and (f.since is not None or f.until is not None):
            bounds.append((f.since, f.until, f"{f.event} printed as {f.printk!r} ({f.header}, {f.versions})"))
    seen = set(events) | set(formats)
    bounds += [(since, until, why) for name, on_arch, since, until, why in EVENT_BOUNDS
               if name in seen and on_arch in ("", arch)]
    if merges_without_change_pte:
        bounds.append(("6.10", None, f"{merges_without_change_pte} KSM merge(s) of pages a VM maps and no "
                                     "kvm_set_spte_hva (printed for each such merge from v5.13 to v6.9; "
                                     "change_pte was removed in v6.10)"))
    lo, lo_why = max(((version(since), why) for since, _, why in bounds if since), default=((0,), ""))
    hi, hi_why = min(((version(until), why) for _, until, why in bounds if until), default=(None, ""))
    evidence = ((f"v{_text(lo)} or later: {lo_why}",) if lo_why else ()) + (
        (f"before v{_text(hi)}: {hi_why}",) if hi is not None else ())
    candidates = tuple(name for name, start, end in era_spans()
                       if (end is None or lo < end) and (hi is None or start < hi))
    if len(candidates) == 1:
        return EraGuess(candidates[0], True, candidates, evidence)
    if len(arches) > 1:
        return EraGuess(DEFAULT_ERA, False, candidates, (*evidence, f"vCPU lines of {' and '.join(arches)}"), True)
    if candidates:
        return EraGuess(DEFAULT_ERA if DEFAULT_ERA in candidates else candidates[-1], False, candidates, evidence)
    return EraGuess(DEFAULT_ERA, False, (), evidence, True)


def _text(v: Version) -> str:
    return ".".join(str(p) for p in v)
