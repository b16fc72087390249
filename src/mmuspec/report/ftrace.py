"""Counterexamples as the lines the kernel's own tracepoints would have printed.

Each model step becomes the ftrace lines of the tracepoints it would fire
(``kvm_exit``, ``kvm_page_fault``, ``kvm_entry``, ``kvm_unmap_hva_range``,
``kvm_set_spte_hva``, ``kvm_tdp_mmu_spte_changed``, ``kvm_mmu_spte_requested``,
``ksm_merge_with_ksm_page``, ``kvm_age_hva``, ``kvm_test_age_hva``), as the
checked era's kernel printed them: an event that kernel did not have (x86's
notifier events before v5.13, the TDP MMU's before v5.10, ksm's before v6.4) is a
comment line, and kvm_exit, kvm_entry and kvm_page_fault take that era's format,
so ``trace stats`` dates the text to the era it was checked in.  Steps with no
tracepoint are printed as comment lines marked ``# mmuspec:``, which trace
readers skip; every step also leaves a
``# mmuspec step:`` line naming the model action, so the text can be read back
and replayed (``read_back``).

Addresses are synthetic: gfn g is guest physical address g << 12 and host virtual
address 0x7f0000000000 + (g << 12); frame f is pfn 0x100000 + f.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from mmuspec.model import Kernel
from mmuspec.model.events import BIT
from mmuspec.traces.reader import parse_line

HVA_BASE = 0x7F0000000000
PFN_BASE = 0x100000
RIP = 0xFFFFFFFF81000000
STEP = re.compile(r"^# mmuspec step (\d+): (.+)$")


def _task(kernel: Kernel, t: int) -> tuple[str, int, int]:
    thread = kernel.threads[t]
    if thread.kind == "vcpu":
        return f"CPU {t}/KVM", 4000 + t, t
    names = {"ksmd": ("ksmd", 50), "madvise": ("qemu-system-x86", 3999), "kswapd": ("kswapd0", 60),
             "dmirror": ("hmm-tests", 5000 + t), "gpc": ("CPU 0/KVM", 4000)}
    comm, pid = names.get(thread.kind, (thread.name, 6000 + t))
    return comm, pid, len(kernel.threads)


def era_version(era: str | None) -> tuple[int, ...]:
    """The kernel version an era's text forms follow (a proposal: the release it was made against)."""
    if era is None:
        return (99,)
    from mmuspec.model import ERAS

    found = re.search(r"v(\d+(?:\.\d+)+)", ERAS[era].version)
    return tuple(int(p) for p in found.group(1).split(".")) if found else (99,)


def _spte(pfn: int, writable: int) -> int:
    return 0 if not pfn else ((PFN_BASE + pfn) << 12) | (0x7 if writable else 0x5)


def ftrace_lines(kernel: Kernel, actions: Sequence[int], era: str | None = None) -> list[str]:
    """The lines of ``actions``; ``era`` chooses the tracepoints and formats (default: a recent kernel)."""
    L = kernel.L
    v = era_version(era)
    x86 = kernel.config["arch"] == "x86"
    missing = {"kvm_unmap_hva_range": x86 and v < (5, 13), "kvm_set_spte_hva": x86 and v < (5, 13),
               "kvm_age_hva": x86 and v < (5, 13), "kvm_test_age_hva": x86 and v < (5, 13),
               "kvm_tdp_mmu_spte_changed": v < (5, 10), "kvm_mmu_spte_requested": v < (5, 10),
               "ksm_merge_with_ksm_page": v < (6, 4)}
    out: list[str] = []
    state = kernel.initial()
    ts = 100.0
    for n, action in enumerate(actions, start=1):
        nxt, events, notes, names = kernel.explain_replaced(state, action)
        variant = kernel.variant
        replaced = "".join(f" [variant: {name}() {variant.says(name)}]" for name in names) if variant is not None else ""
        t = kernel.thread_of(action)
        thread, step, arg = kernel.action_parts(action)
        out.append(f"# mmuspec step {n}: {kernel.action_text(action)}{replaced}")
        if t == 254:
            out.append("# mmuspec: no thread can take a step (deadlock)")
            continue
        comm, pid, cpu = _task(kernel, t)

        def line(event: str, fields: str, *, comm: str = comm, pid: int = pid, cpu: int = cpu) -> None:
            nonlocal ts
            if missing.get(event):
                out.append(f"# mmuspec: {event}: {fields} (no such tracepoint in this era's kernel)")
                return
            ts += 0.000001
            out.append(f"{comm:>16}-{pid:<7} [{cpu:03d}] .... {ts:.6f}: {event}: {fields}")

        said = [text for bit, text in notes if not bit]
        faulted = any("fault on gfn" in text for text in said)
        gfns = [g for g in range(L.gfns) if (state[L.SPTE_PFN[g]], state[L.SPTE_W[g]]) != (nxt[L.SPTE_PFN[g]], nxt[L.SPTE_W[g]])]
        if step in ("guest_access", "guest_retry"):
            from mmuspec.model.layout import V_GFN, V_WRITE

            match = re.search(r"gfn (\d+)", arg)
            gfn = int(match.group(1)) if match else state[kernel.base[t] + V_GFN]
            write = "write" in arg if arg else bool(state[kernel.base[t] + V_WRITE])
            if faulted:
                qual = 0x182 if write else 0x181
                line("kvm_exit", _exit_fields(v, t, qual))
                if v >= (5, 19):
                    line("kvm_page_fault", f"vcpu {t} rip {RIP:#x} address {gfn << 12:#018x} error_code {qual:#x}")
                else:
                    line("kvm_page_fault", f"address {gfn << 12:x} error_code {qual:x}")
            else:
                out.append(f"# mmuspec: {thread} {'writes' if write else 'reads'} gfn {gfn} through the SPTE")
        elif step == "direct_page_fault":
            if events & BIT["fault_retried"]:
                out.append(f"# mmuspec: {thread} mmu_notifier_retry(): RET_PF_RETRY")
            for g in gfns:
                pfn = nxt[L.SPTE_PFN[g]]
                line("kvm_mmu_spte_requested", f"gfn {g:x} pfn {PFN_BASE + pfn:x} level 1")
                line("kvm_tdp_mmu_spte_changed", f"as id 0 gfn {g:x} level 1 old_spte {_spte(state[L.SPTE_PFN[g]], state[L.SPTE_W[g]]):x} "
                     f"new_spte {_spte(pfn, nxt[L.SPTE_W[g]]):x}")
        elif step == "kvm_release_pfn_clean":
            out.append(f"# mmuspec: {thread} kvm_release_pfn_clean()")
            line("kvm_entry", f"vcpu {t}, rip {RIP:#x}" if v >= (5, 10) else f"vcpu {t}")
        elif step.endswith("_start") and kernel.kvm_subscribed:
            # kvm_mmu_notifier_invalidate_range_start() traces first, so with pfn caches in the
            # step that invalidates them, before mmu_lock.
            if step == "gfn_to_pfn_cache_invalidate_start" or not kernel.L.track_pfncache:
                gfn = _target_gfn(kernel, state, t)
                hva = HVA_BASE + (gfn << 12)
                line("kvm_unmap_hva_range", f"mmu notifier unmap range: {hva:#016x} -- {hva + 4096:#016x}")
            if step == "gfn_to_pfn_cache_invalidate_start" or kernel.L.track_pfncache:
                out.append(f"# mmuspec: {thread} {step}: {kernel.diff_text(state, nxt) or 'no change'}")
            for g in gfns:
                line("kvm_tdp_mmu_spte_changed", f"as id 0 gfn {g:x} level 1 old_spte {_spte(state[L.SPTE_PFN[g]], state[L.SPTE_W[g]]):x} "
                     f"new_spte {_spte(nxt[L.SPTE_PFN[g]], nxt[L.SPTE_W[g]]):x}")
        elif step.endswith("_notify") or (events & BIT["change_pte_called"]):
            if events & BIT["change_pte_called"]:
                gfn = _target_gfn(kernel, state, t)
                line("kvm_set_spte_hva", f"mmu notifier set pte hva: {HVA_BASE + (gfn << 12):#016x}")
            for g in gfns:
                line("kvm_tdp_mmu_spte_changed", f"as id 0 gfn {g:x} level 1 old_spte {_spte(state[L.SPTE_PFN[g]], state[L.SPTE_W[g]]):x} "
                     f"new_spte {_spte(nxt[L.SPTE_PFN[g]], nxt[L.SPTE_W[g]]):x}")
            out.append(f"# mmuspec: {thread} {step}: {kernel.diff_text(state, nxt)}")
        elif step in ("page_idle_clear_pte_refs", "page_referenced", "mmu_notifier_test_young_probe"):
            gfn = _target_gfn(kernel, state, t)
            hva = HVA_BASE + (gfn << 12)
            if step == "mmu_notifier_test_young_probe":
                line("kvm_test_age_hva", f"mmu notifier test age hva: {hva:#016x}")
            else:
                line("kvm_age_hva", f"mmu notifier age hva: {hva:#016x} -- {hva + 4096:#016x}")
            out.append(f"# mmuspec: {thread} {step}: {kernel.diff_text(state, nxt) or 'no change'}")
        else:
            out.append(f"# mmuspec: {thread} {step}: {kernel.diff_text(state, nxt) or 'no change'}")
        if events & BIT["ksm_merged"]:
            page = next((p for p in range(L.frames) if state[L.REF[p]] and not nxt[L.MAP[p]] and state[L.MAP[p]]), 0)
            line("ksm_merge_with_ksm_page", f"ksm pfn {PFN_BASE + page} rmap_item 00000000deadbeef mm 00000000cafef00d error 0")
        for bit, text in notes:
            if bit and bit & (BIT["data_integrity"] | BIT["no_use_after_free"] | BIT["no_deadlock"]
                              | BIT["change_pte_without_invalidation"] | BIT["mmu_notifier_count_negative"]
                              | BIT["page_refcount_underflow"]):
                out.append(f"# mmuspec: !!! {text}")
        state = nxt
    return out


def _exit_fields(v: tuple[int, ...], t: int, qual: int) -> str:
    """kvm_exit of an EPT violation in the format of kernel version ``v`` (arch/x86/kvm/trace.h)."""
    if v >= (5, 10):
        return (f"vcpu {t} reason EPT_VIOLATION rip {RIP:#x} info1 {qual:#018x} "
                "info2 0x0000000000000000 intr_info 0x00000000 error_code 0x00000000")
    if v >= (3, 7):
        return f"reason EPT_VIOLATION rip {RIP:#x} info {qual:x} 0"
    return f"reason EPT_VIOLATION rip {RIP:#x}"


def _target_gfn(kernel: Kernel, s: bytes, t: int) -> int:
    """The gfn a thread's current notifier call or aging step works on."""
    from mmuspec.model.notifier import notifier_target

    return notifier_target(kernel, s, t)


def read_back(text: str) -> tuple[list[tuple[str, dict[str, Any]]], list[str]]:
    """The tracepoint events (name, fields) and the model actions in an ftrace counterexample."""
    events: list[tuple[str, dict[str, Any]]] = []
    actions: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        step = STEP.match(raw)
        if step:
            actions.append(step.group(2))
            continue
        item = parse_line(number, raw)
        if item is None:
            continue
        if not hasattr(item, "event") or item.fields is None:  # type: ignore[union-attr]
            raise ValueError(f"line {number}: {raw!r} does not read back")
        events.append((item.event, item.fields))  # type: ignore[union-attr]
    return events, actions
