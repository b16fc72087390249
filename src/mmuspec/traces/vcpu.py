"""The vCPU threads of a trace and the stage-2 fault each one has open.

A vCPU is identified by its thread (``<comm>-<pid>``), not by the ``vcpu N`` some
events print: every VM has a ``CPU 0/KVM``, and arm64's events print no vCPU id
at all.  The VM is the thread's process (its tgid), when the trace prints it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mmuspec.traces.exits import Exit
from mmuspec.traces.reader import Record


@dataclass(slots=True)
class Fault:
    record: Record  # the event that opened it
    isa: str
    kind: str | None
    gfn: int | None
    counted: bool = False


@dataclass
class VcpuThread:
    comm: str
    pid: int
    tgid: int | None = None
    vcpu_id: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    exit: Exit | None = None  # the last exit (None: no kvm_exit seen on this thread)
    fault: Fault | None = None  # the last exit's fault, until the thread's next exit or entry

    @property
    def label(self) -> str:
        return f"{self.comm}-{self.pid}"

    @property
    def vm(self) -> str:
        return str(self.tgid) if self.tgid is not None else "-"

    def to_json(self) -> dict[str, Any]:
        return {"thread": self.label, "comm": self.comm, "pid": self.pid, "vm": self.vm, "vcpu_id": self.vcpu_id,
                "counts": dict(sorted(self.counts.items()))}
