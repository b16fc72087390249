"""Every text form a tracepoint mmuspec reads has printed, and the parser for each.

A :class:`~mmuspec.traces.tracepoint.Format` is one TP_printk of one event (or one
rendering of it by libtraceevent's kvm plugin, which ``trace-cmd report`` and
``perf script`` use instead of the kernel's format when the plugin is installed).
Each records the header it comes from, the kernel versions that printed it and
the format string, so ``tests/traces/data/formats.txt`` holds one line per format
and the tests fail when one is missing.

The formats live in one module per header: ``x86_trace`` (arch/x86/kvm/trace.h),
``arm_trace`` (arch/arm64/kvm/trace_arm.h and its predecessors), ``events_kvm``
(include/trace/events/kvm.h), ``mmutrace`` (arch/x86/kvm/mmu/mmutrace.h),
``events_ksm`` (include/trace/events/ksm.h) and ``plugin_kvm`` (libtraceevent
plugins/plugin_kvm.c).  arch/arm64/kvm/trace_handle_exit.h has no fault or
notifier event (WFx, HVC, sysreg and debug traps), so its events are counted as
other events.
"""

from __future__ import annotations

from mmuspec.traces import arm_trace, events_ksm, events_kvm, mmutrace, plugin_kvm, x86_trace
from mmuspec.traces.tracepoint import Fields, Format


def _registry() -> dict[str, tuple[Format, ...]]:
    merged: dict[str, list[Format]] = {}
    # The kernel's own formats first, the plugin's renderings of the same events last.
    for module in (x86_trace, events_kvm, arm_trace, mmutrace, events_ksm, plugin_kvm):
        for event, fs in module.FORMATS.items():
            merged.setdefault(event, []).extend(fs)
    return {event: tuple(fs) for event, fs in merged.items()}


FORMATS: dict[str, tuple[Format, ...]] = _registry()
BY_KEY: dict[str, Format] = {f.key: f for fs in FORMATS.values() for f in fs}
SYSTEM: dict[str, str] = {event: "ksm" if event in events_ksm.FORMATS else "kvmmmu" if event in mmutrace.FORMATS
                          else "kvm" for event in FORMATS}


def parse_fields(event: str, text: str) -> tuple[Fields, Format] | None:
    """The fields of one event's text and the format they matched, or None."""
    text = text.strip()
    for f in FORMATS.get(event, ()):
        fields = f.parse(text)
        if fields is not None:
            return fields, f
    return None
