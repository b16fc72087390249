"""The sentences of the reevaluation report, written from its tables.

A simulated figure in a sentence is either a cell's text, quoted as printed, or a
difference, ratio or share computed from the printed values of the cells the
sentence names, so that a reader can redo it from the table.  The published
figures are kept here with the message that published them, and the verdicts are
chosen by comparing the two, not written in advance.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from mmuspec.report.reevaluation_table import ARM64_WORKLOAD, BOOT_ROW, NO_CHANGE_PTE, Table, number
from mmuspec.simulate.run import LOST_UNIT

GLISSE = "glisse-2019"
PREFETCH = "5.13+prefetch"
LOST = f"guest time lost ({LOST_UNIT})"
REFAULTS = "refaults after a merge's zap"
RETRIES = "exits after a retry"
INSTALLED = "change_pte calls that installed an SPTE"
REPOINTED = "change_pte calls that re-pointed an SPTE"
REMOVED = "change_pte calls that removed an SPTE"

# Published figures, each with the message (lore.kernel.org Message-ID) that published it.
GLISSE_KSM02 = {"sys_before_s": 215.93, "sys_after_s": 200.90}
GLISSE_KSM02_ID = "20190221012227.13236-1-jglisse@redhat.com"
GLISSE_BUILD = {"before": (1358.25, 6.7), "patch": (1357.83, 5.1)}  # real time (s): mean, sd
GLISSE_BUILD_ID = "20190218160411.GA3142@redhat.com"
GLISSE_BUILD_QUOTED_IN = "20190218174505.GD30645@redhat.com"
YAN_ZHAO = {"OVMF": 8000, "SeaBIOS": 17000, "L2 VM with 2 GiB": 44000}  # TDP faults saved per boot
YAN_ZHAO_ID = "20230808085056.14644-1-yan.y.zhao@intel.com"
REVIEW_ID = "20190219023701.GA3223@xz-x1"  # count the SPTEs change_pte rebuilds


def _pct(new: float, base: float) -> float:
    return 100.0 * (new - base) / base


def header() -> list[str]:
    return [
        "# Reevaluating `.change_pte()`: what an effective change_pte saves",
        "",
        "Commit c13fda237f08 (v5.13) says that the benefit of avoiding VM exits through `.change_pte()` "
        "\"needs to be reevaluated\". This report does that with `mmuspec simulate` on the ready workloads. "
        "Its columns are eras, one era with change_pte taken away, and one variant:",
        "",
        "* `5.13`: change_pte is dead, since invalidate_range_start() zaps the SPTE before change_pte looks "
        "for it. `6.10`: change_pte is gone.",
        "* `glisse-2019`: Glisse's 2019 proposal. Start/end leave KSM and COW ranges alone, and change_pte "
        "updates the SPTE in place.",
        "* `2.6.32`: 2009's change_pte, called with no start/end around it.",
        f"* `{NO_CHANGE_PTE}`: 2.6.32 with a KVM that has no change_pte (`kvm.change_pte=none`). Its mm "
        "then calls KVM's invalidate_page instead, as it did for any subscriber without one.",
        "* `5.13+prefetch`: the 2023 prefetch idea as a variant of 5.13 "
        "(`examples/variants/prefetch_in_change_pte.py`).",
        "",
        "What each era does to a page comes from the model that `mmuspec check` verifies; what each event "
        "costs is in the table of costs below.",
        "",
        "**The workload tables are x86.** On arm64, 5.13's change_pte already installs an SPTE: start() "
        "zaps it, and the model's arm64 kvm_set_spte_gfn() (kvm_pgtable_stage2_map() without a memory "
        "cache) maps the new page wherever the last-level table exists, which the guest's other pages keep. "
        f"The arm64 section shows it on `{ARM64_WORKLOAD}`.",
        "",
        "**What change_pte did to an SPTE.** The tables count change_pte calls by their effect. A call "
        "*installed* an SPTE where there was none, *re-pointed* a present one (write-protected it, or moved "
        "it to the merged page), or *removed* one (x86's handler zaps the SPTE when the new host pte is "
        "writable, as after a COW break). Only an installed or a re-pointed SPTE can save the guest an "
        "exit. A removed one saves nothing: the next access faults, as after a zap. Counting this was asked "
        f"for in the review of Glisse's 2019 series (Message-ID {REVIEW_ID}).",
        "",
        "**2.6.32's fault path is not change_pte.** 2.6.32 differs from 5.13 in more than change_pte. Its "
        "hva_to_pfn() asked get_user_pages_fast() for write access on every fault, so every fault broke "
        "COW, and no invalidate_range_start()/end() surrounded change_pte. The "
        f"`{NO_CHANGE_PTE}` column keeps both and takes change_pte away, so that the section on 2.6.32 "
        "below can tell what its fault path does from what change_pte does.",
        "",
        "Regenerate with `make reevaluation` (figures below are from one run; seeds are the workloads' own).",
        "",
        "![exits](reevaluation_exits.png)",
        "",
        "![host cpu](reevaluation_host_cpu.png)",
        "",
    ]


def fault_path_section(tables: Mapping[str, Table]) -> list[str]:
    """Split 2.6.32's difference from 5.13 into its fault path's part (the column
    without change_pte) and change_pte's part (2.6.32 against that column)."""
    lines = ["## 2.6.32: change_pte or its fault path?", ""]
    for name, t in tables.items():
        if NO_CHANGE_PTE not in t.columns:
            continue
        row, mem = "VM exits per second", "memory saved (MiB)"
        new, bare, base = (t.value(row, c) for c in ("2.6.32", NO_CHANGE_PTE, "5.13"))
        m_new, m_bare, m_base = (t.value(mem, c) for c in ("2.6.32", NO_CHANGE_PTE, "5.13"))
        lines.append(
            f"* `{name}`: 2.6.32 takes {t.text(row, '2.6.32')} VM exits per second, 5.13 "
            f"{t.text(row, '5.13')}, and 2.6.32 without change_pte {t.text(row, NO_CHANGE_PTE)}. Of the "
            f"difference, {bare - base:+,.1f} per second is there without change_pte (the fault path and "
            f"notifiers) and {new - bare:+,.1f} is change_pte's. Memory saved: {t.text(mem, '2.6.32')} MiB, "
            f"{t.text(mem, NO_CHANGE_PTE)} MiB without change_pte, {t.text(mem, '5.13')} MiB in 5.13; "
            f"{m_bare - m_base:+,.0f} MiB is there without change_pte and {m_new - m_bare:+,.0f} MiB is "
            "change_pte's.")
    lines += [
        "",
        "The write-always fault path works both ways [I: the model's reading of it]. A read fault makes a "
        "private copy of a page that 5.13 maps read-only (the zero page), which KSM can then merge, and a "
        "later write to it needs no COW and no retry. But without change_pte, the read fault after a merge "
        "also asks for write access and breaks the merged page again; change_pte's re-pointed SPTE spares "
        "the guest that fault.",
        "",
    ]
    return lines


def arm64_section(arm: Table, x86: Table | None) -> list[str]:
    row = "VM exits per second"
    exits = arm.text(row, "5.13")
    glisse = arm.text(row, GLISSE)
    same = "as many as" if exits == glisse else "against"
    lines = [f"## arm64 (`{ARM64_WORKLOAD}`)", "",
             "The same workload and seed as its x86 table, on arm64 and with arm64's costs.", ""]
    lines += arm.markdown()
    refaults = f" (x86: {x86.text(REFAULTS, '5.13')})" if x86 is not None else ""
    lines += ["",
              f"5.13's change_pte installed {arm.text(INSTALLED, '5.13')} SPTEs here, and 5.13 takes "
              f"{arm.text(REFAULTS, '5.13')} refaults after a merge's zap{refaults}: {exits} VM exits per "
              f"second, {same} glisse-2019's {glisse}. 6.10, without change_pte, takes "
              f"{arm.text(row, '6.10')}.", ""]
    return lines


def published_table() -> list[str]:
    b, p = GLISSE_BUILD["before"], GLISSE_BUILD["patch"]
    return [
        "| who | what | figure | Message-ID |",
        "|---|---|---|---|",
        f"| Glisse 2019 | LTP ksm02 in guests, host KSM at sleep 0: host sys time before / after | "
        f"{GLISSE_KSM02['sys_before_s']:.2f} s / {GLISSE_KSM02['sys_after_s']:.2f} s | {GLISSE_KSM02_ID} |",
        f"| Glisse 2019 | two identical VMs building a kernel: real time before / with the patch | "
        f"{b[0]:.2f} ± {b[1]:g} s / {p[0]:.2f} ± {p[1]:g} s | {GLISSE_BUILD_ID} (quoted in "
        f"{GLISSE_BUILD_QUOTED_IN}) |",
        "| Yan Zhao 2023 | TDP page faults saved per VM boot by prefetching in change_pte (THP zero page, "
        "KSM off): " + " / ".join(YAN_ZHAO) + " | " + " / ".join(f"{v:,}+" for v in YAN_ZHAO.values())
        + f" | {YAN_ZHAO_ID} |",
    ]


def _glisse_ksm02(t: Table) -> str:
    pub = _pct(GLISSE_KSM02["sys_after_s"], GLISSE_KSM02["sys_before_s"])
    cell = t.text("host CPU (s) | vs 5.13", GLISSE)
    sim = number(cell)
    if sim <= pub / 2:
        verdict = "**Agrees in direction and roughly in size**"
    elif sim < 0:
        verdict = "**Agrees in direction, smaller in size**"
    else:
        verdict = "**Does not agree**"
    avoided = t.value(REFAULTS, "5.13") - t.value(REFAULTS, GLISSE)
    text = (f"* **Glisse 2019, LTP ksm02 with host KSM at sleep 0: host sys time {pub:+.1f}%, \"roughly 7%-8% "
            f"less time spent in the kernel\" (Message-ID {GLISSE_KSM02_ID}).** {verdict}: host CPU {cell} "
            f"with glisse-2019 against 5.13 in `{t.workload.name}`. The proposal avoids {avoided:,.0f} "
            f"refaults after a merge's zap there ({t.text(REFAULTS, '5.13')} in 5.13, "
            f"{t.text(REFAULTS, GLISSE)} with it). Each saves the host one fault, `fault_us` = "
            f"{t.cost('fault_us'):g} µs, while ksmd's scanning and merging and the COW breaks cost the same "
            "in every era.")
    if avoided > 0:
        needed = abs(pub) / 100 * t.value("host CPU (s)", "5.13") * 1e6 / avoided
        text += (f" A {pub:+.1f}% change in host CPU would need each avoided refault to have cost "
                 f"{needed:,.1f} µs. [I] Glisse's sys time also holds what the model does not count: rmap "
                 "walks, and contention on mmu_lock with several notifier calls per merge.")
    return text


def _glisse_build(tables: Mapping[str, Table]) -> str:
    names = [n for n in ("mixed", "vdi") if n in tables]
    cells = {n: tables[n].text(f"{LOST} | vs 5.13", GLISSE) for n in names}
    deltas = {n: tables[n].value(LOST, GLISSE) - tables[n].value(LOST, "5.13") for n in names}
    shares = deltas  # already in % of vCPU time
    ups = [n for n in names if number(cells[n]) > 0]
    downs = [n for n in names if number(cells[n]) < 0]
    if ups and not downs:
        direction = "it rises"
    elif downs and not ups:
        direction = "it falls"
    else:
        direction = ("it rises in " + " and ".join(f"`{n}`" for n in ups) + " and falls in "
                     + " and ".join(f"`{n}`" for n in downs)) if ups or downs else "it does not change"
    sub = f"{LOST} | of which TLB flushes"
    # The rise is the flushes' when, without them, glisse-2019 would lose no more than 5.13.
    flushes = bool(ups) and not downs and all(
        tables[n].value(LOST, GLISSE) - tables[n].value(sub, GLISSE)
        <= tables[n].value(LOST, "5.13") - tables[n].value(sub, "5.13") for n in names)
    spread = min(sd / mean for mean, sd in GLISSE_BUILD.values()) * 100
    agrees = all(abs(s) < spread for s in shares.values())
    verdict = ("**agrees**: no wall-clock benchmark resolves a difference that small" if agrees
               else "**does not agree**: a wall-clock benchmark would resolve it")
    before, patch = GLISSE_BUILD["before"], GLISSE_BUILD["patch"]
    return (
        f"* **Glisse 2019, two identical VMs building a kernel: real time {before[0]:.2f} ± {before[1]:g} s "
        f"before, {patch[0]:.2f} ± {patch[1]:g} s with the patch, no measurable difference (Message-ID "
        f"{GLISSE_BUILD_ID}).** Against 5.13, glisse-2019 changes guest time lost by "
        + " and ".join(f"{cells[n]} in `{n}`" for n in names) + f": {direction}"
        + (", because of the TLB flushes below" if flushes else "") + ". In absolute terms that is "
        + " and ".join(f"{shares[n]:+.5f}% of all vCPU time in `{n}`" for n in names)
        + f", against a spread of {spread:.2f}% between Glisse's runs; {verdict}.")


def _break_even(t: Table) -> str:
    """The most a TLB flush may cost for glisse-2019 to lose no more guest time than 5.13,
    from the guest-time rows: each side's time without flushes, plus its flushes' share
    scaled from the simulated cost."""
    sub = f"{LOST} | of which TLB flushes"
    lost_new, lost_base = t.value(LOST, GLISSE), t.value(LOST, "5.13")
    fl_new, fl_base = t.value(sub, GLISSE), t.value(sub, "5.13")
    rest = (lost_base - fl_base) - (lost_new - fl_new)
    if fl_new > fl_base and rest > 0:
        return f"{t.cost('tlb_flush_us') * rest / (fl_new - fl_base):.2f} µs"
    if fl_new > fl_base or rest < 0:
        return "nothing (it loses more even with free flushes)"
    return "anything"


def _flushes(tables: Mapping[str, Table]) -> str:
    t = tables["ltp-ksm02"]
    lost = {n: tb.text(f"{LOST} | vs 5.13", GLISSE) for n, tb in tables.items()}
    up = [n for n, c in lost.items() if number(c) > 0]
    return (
        "* **Not in any published figure: TLB flushes.** Each SPTE that change_pte re-points or removes is "
        f"flushed from the secondary TLB, as each zapped one is. In `{t.workload.name}` glisse-2019's "
        f"change_pte re-points {t.text(REPOINTED, GLISSE)} SPTEs and removes {t.text(REMOVED, GLISSE)}, "
        f"and TLB flushes change by {t.text('TLB flushes | vs 5.13', GLISSE)} against 5.13. At "
        f"`tlb_flush_us` = {t.cost('tlb_flush_us'):g} µs, guest time lost with glisse-2019 goes up in "
        f"{len(up)} of {len(lost)} workloads ("
        + ", ".join(f"{c} in `{n}`" for n, c in lost.items()) + "). It would lose no more guest time "
        "than 5.13 if a flush cost at most "
        + ", ".join(f"{_break_even(tb)} in `{n}`" for n, tb in tables.items())
        + "; `mmuspec sweep WORKLOAD --grid 'costs.tlb_flush_us=0.5,1,3'` shows where.")


def _yan_zhao(t: Table) -> str:
    b5, bp = t.value(BOOT_ROW, "5.13"), t.value(BOOT_ROW, PREFETCH)
    saved = b5 - bp
    low, high = min(YAN_ZHAO.values()), max(YAN_ZHAO.values())
    if low <= saved <= high:
        verdict = "**agrees**: within the published range"
    elif saved > 0 and math.floor(math.log10(saved)) in {math.floor(math.log10(v)) for v in (low, high)}:
        verdict = "**agrees in order of magnitude**"
    else:
        verdict = "**does not agree**"
    gone = "is gone" if t.value(RETRIES, PREFETCH) == 0 else "is rarer"
    return (
        "* **Yan Zhao 2023: TDP page faults saved per VM boot by prefetching in change_pte: "
        + ", ".join(f"{v:,}+ ({k})" for k, v in YAN_ZHAO.items()) + f" (Message-ID {YAN_ZHAO_ID}).** "
        f"In `{t.workload.name}`'s boot phase the prefetch variant takes {t.text(BOOT_ROW, PREFETCH)} "
        f"VM exits per VM against 5.13's {t.text(BOOT_ROW, '5.13')}: {saved:,.0f} saved per VM; {verdict}. "
        f"Over the whole run its change_pte installs {t.text(INSTALLED, PREFETCH)} SPTEs, and it takes "
        f"{t.text(RETRIES, PREFETCH)} exits after a retry (5.13: {t.text(RETRIES, '5.13')}) and "
        f"{t.text(REFAULTS, PREFETCH)} refaults after a merge's zap (5.13: {t.text(REFAULTS, '5.13')}). "
        f"The second exit of a write to a page first mapped read-only, the mechanism she described, {gone}. "
        "Her faults came from COW of the zero page, not from KSM; the boot phase's touch rate is an "
        "assumption of the workload, and the count scales with it.")


def verdicts(tables: Mapping[str, Table]) -> list[str]:
    out = ["## Against the published figures", ""]
    out += published_table()
    out.append("")
    if "ltp-ksm02" in tables:
        out.append(_glisse_ksm02(tables["ltp-ksm02"]))
    if "mixed" in tables or "vdi" in tables:
        out.append(_glisse_build(tables))
    if "ltp-ksm02" in tables:
        out.append(_flushes(tables))
    vdi = tables.get("vdi")
    if vdi is not None and BOOT_ROW in vdi.rows and PREFETCH in vdi.columns:
        out.append(_yan_zhao(vdi))
    return out
