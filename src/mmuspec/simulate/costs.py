"""What each event costs, with the source of every default.

Times are microseconds.  Each default is a ``Cost``: its value, what it charges for,
where the value comes from, and whether it is measured or assumed (an inference,
[I]), so that a report can print the table it simulated with instead of pointing at
comments.  A measured value is a mid-range figure of the publication its source
names.  Every one can be overridden per workload (``[costs]``) and per arch
(``[costs.arm64]`` ...).  Guest time lost is time a vCPU is not running guest code;
host CPU is time a host CPU spends on KSM, the notifiers and fault handling.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Cost:
    """One default: ``value`` in microseconds, what it charges for, its source, and
    ``assumed`` when no published measurement stands behind the value."""

    value: float
    what: str
    source: str
    assumed: bool = False
    # True when the engine reads the cost while it simulates (it changes what happens, not only what
    # it costs): a sweep over such a cost re-simulates; over any other it re-costs one run.
    shapes_run: bool = False


# Defaults for x86 (Intel, ~3 GHz).
COSTS: dict[str, Cost] = {
    "vm_exit_us": Cost(
        0.5, "VM-exit + VM-entry round trip",
        "~1,500 cycles at ~3 GHz (Christopherson 2021, Message-ID YKwd5OTXr97Fxfok@google.com)"),
    "fault_us": Cost(
        2.0, "EPT violation that installs one SPTE for a resident page",
        "1-3 us between trace-cmd timestamps (\"Re: Deadlock due to EPT_VIOLATION\", Vultr 2023, "
        "Message-ID bce4b387-638d-7f3c-ca9b-12ff6e020bad@vultr.com)"),
    "cow_us": Cost(
        5.0, "extra host work when the fault breaks COW (GUP slow path, allocation, 4 KiB copy)",
        "mid-range of a suggested +1-10 us; no published measurement of this step", assumed=True),
    "retry_us": Cost(
        1.0, "a fault that sees mmu_notifier_retry() and returns",
        "~1 us per spurious iteration (Vultr 2023 and clever-cloud 2024 traces on kvm@vger)"),
    "tlb_flush_us": Cost(
        3.0, "remote TLB flush: an IPI and a forced exit per running vCPU",
        "1-10 us, \"microseconds\" (Amit, USENIX ATC'17); order of magnitude only"),
    "invalidate_start_us": Cost(
        1.45, "KVM's invalidate_range_start()",
        "a published function_graph trace of kvm-hello-world on 5.18.4, Intel (inflated by tracing)"),
    "invalidate_end_us": Cost(
        0.39, "KVM's invalidate_range_end()",
        "a published function_graph trace of kvm-hello-world on 5.18.4, Intel (inflated by tracing)"),
    "change_pte_us": Cost(
        0.29, "KVM's change_pte()",
        "a published function_graph trace of kvm-hello-world on 5.18.4, Intel (inflated by tracing)"),
    "ksm_scan_us": Cost(
        0.5, "ksmd per scanned page: follow_page() and an xxhash of 4 KiB",
        "no published measurement", assumed=True),
    "ksm_merge_us": Cost(
        3.0, "ksmd per merge: tree search memcmp, write_protect_page(), replace_page()",
        "no published measurement", assumed=True),
    "aging_us": Cost(
        0.5, "kswapd ageing one page: rmap walk, clear_young and clear_flush_young notifiers",
        "no published measurement", assumed=True),
    "merge_window_us": Cost(
        3.0, "the window between replace_page()'s invalidate_range_start() and _end(), in "
        "which a fault races the merge (PTL section plus notifier calls)",
        "no published measurement", assumed=True, shapes_run=True),
}

# Per-arch defaults that differ from x86.
ARCH_COSTS: dict[str, dict[str, Cost]] = {
    "arm64": {"vm_exit_us": Cost(
        1.0, "hvc round trip",
        "0.4 us (Kunpeng 920) to 1.5 us (Phytium S2500), kvm-unit-tests arm/micro-bench "
        "(kvm@vger, Nov 2023)")},
    "ppc": {},
    "mips": {},
    "x86": {},
}

DEFAULTS: dict[str, float] = {key: cost.value for key, cost in COSTS.items()}
ARCH_DEFAULTS: dict[str, dict[str, float]] = {
    arch: {key: cost.value for key, cost in costs.items()} for arch, costs in ARCH_COSTS.items()}
COST_KEYS = tuple(COSTS)
RECOST_KEYS = tuple(key for key, cost in COSTS.items() if not cost.shapes_run)


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


def cost_source(arch: str, key: str) -> Cost:
    """The default of ``key`` on ``arch``, with its source: the arch's own if it has one."""
    return ARCH_COSTS.get(arch, {}).get(key, COSTS[key])


def cost_model(arch: str, overrides: dict[str, dict[str, float]] | None = None) -> CostModel:
    """Defaults, then the arch's defaults, then the workload's [costs], then [costs.<arch>]."""
    values = dict(DEFAULTS)
    values.update(ARCH_DEFAULTS.get(arch, {}))
    for key in ("", arch):
        values.update((overrides or {}).get(key, {}))
    return CostModel(**values)
