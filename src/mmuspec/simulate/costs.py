"""What each event costs, with the source of every default.

Times are microseconds.  The defaults are mid-range values from
``../shared/reference/costs-and-traces.md``; every one can be overridden per
workload (``[costs]``) and per arch (``[costs.arm64]`` ...).  Guest time lost is
time a vCPU is not running guest code; host CPU is time a host CPU spends on KSM,
the notifiers and fault handling.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

# Defaults for x86 (Intel, ~3 GHz).
DEFAULTS: dict[str, float] = {
    # VM-exit + VM-entry round trip: ~1,500 cycles (Christopherson 2021, YKwd5OTXr97Fxfok@google.com).
    "vm_exit_us": 0.5,
    # EPT violation that installs one SPTE for a resident page: 1-3 us (trace-cmd timestamps,
    # "Re: Deadlock due to EPT_VIOLATION", Vultr 2023).
    "fault_us": 2.0,
    # Extra host work when the fault must break COW (GUP slow path, alloc, 4 KiB copy): +1-10 us.
    "cow_us": 5.0,
    # A fault that sees mmu_notifier_retry() and returns: ~1 us per spurious iteration
    # (Vultr and clever-cloud traces).
    "retry_us": 1.0,
    # Remote TLB flush: an IPI and a forced exit per running vCPU, 1-10 us (Amit ATC'17).
    "tlb_flush_us": 3.0,
    # mmu_notifier calls as function_graph timed them on 5.18.4 (inflated by tracing):
    # invalidate_range_start 1.45 us, change_pte 0.29 us, invalidate_range_end 0.39 us.
    "invalidate_start_us": 1.45,
    "invalidate_end_us": 0.39,
    "change_pte_us": 0.29,
    # ksmd per scanned page: follow_page() and an xxhash of 4 KiB (assumed, [I]).
    "ksm_scan_us": 0.5,
    # ksmd per merge: tree search memcmp, write_protect_page(), replace_page() (assumed, [I]).
    "ksm_merge_us": 3.0,
    # kswapd ageing one page: rmap walk, clear_young and clear_flush_young notifiers (assumed, [I]).
    "aging_us": 0.5,
    # The window between replace_page()'s invalidate_range_start() and _end(), in which a
    # fault races the merge (PTL section plus notifier calls, assumed, [I]).
    "merge_window_us": 3.0,
}

# Per-arch defaults that differ from x86.
ARCH_DEFAULTS: dict[str, dict[str, float]] = {
    # arm64 hvc round trip 0.4 us (Kunpeng 920) to 1.5 us (Phytium S2500), kvm-unit-tests micro-bench.
    "arm64": {"vm_exit_us": 1.0},
    "ppc": {},
    "mips": {},
    "x86": {},
}

COST_KEYS = tuple(DEFAULTS)


@dataclass(frozen=True)
class CostModel:
    vm_exit_us: float
    fault_us: float
    cow_us: float
    retry_us: float
    tlb_flush_us: float
    invalidate_start_us: float
    invalidate_end_us: float
    change_pte_us: float
    ksm_scan_us: float
    ksm_merge_us: float
    aging_us: float
    merge_window_us: float

    def as_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def cost_model(arch: str, overrides: dict[str, dict[str, float]] | None = None) -> CostModel:
    """Defaults, then the arch's defaults, then the workload's [costs], then [costs.<arch>]."""
    values = dict(DEFAULTS)
    values.update(ARCH_DEFAULTS.get(arch, {}))
    for key in ("", arch):
        values.update((overrides or {}).get(key, {}))
    return CostModel(**values)
