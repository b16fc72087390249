"""Reading the VMM's output: one record per line, ``KIND key=value ...`` (see ``vmm.c``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmuspec.errors import InputError


@dataclass
class VmmRun:
    """Everything one VMM run printed."""

    header: dict[str, str] = field(default_factory=dict)
    clocks: dict[str, tuple[int, int]] = field(default_factory=dict)  # at -> (tsc, mono_ns)
    vcpu_tids: dict[int, int] = field(default_factory=dict)
    pfns: dict[str, dict[int, int]] = field(default_factory=dict)  # at -> gfn -> pfn
    stats: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # at -> scope -> name -> value
    acts: list[dict[str, str]] = field(default_factory=list)
    mismatches: list[dict[str, int]] = field(default_factory=list)
    slow: list[dict[str, int]] = field(default_factory=list)
    guest: dict[int, dict[str, int]] = field(default_factory=dict)
    exits: dict[int, dict[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    status: str = ""
    reason: str = ""

    @property
    def tsc_hz(self) -> float:
        (t0, n0), (t1, n1) = self.clocks["start"], self.clocks["end"]
        return (t1 - t0) / ((n1 - n0) / 1e9)

    @property
    def gfn_base(self) -> int:
        return int(self.header["data_gpa"], 0) // 4096

    @property
    def pages(self) -> int:
        return int(self.header["pages"])

    @property
    def hva(self) -> int:
        return int(self.header["hva"], 0)

    def stat_delta(self, name: str, scope: str = "vcpu") -> int:
        """after - before of ``name``, summed over the scopes that start with ``scope``."""
        total = 0
        for at, sign in (("after", 1), ("before", -1)):
            for sc, values in self.stats.get(at, {}).items():
                if sc.startswith(scope) and name in values:
                    total += sign * values[name]
        return total

    def guest_total(self, key: str) -> int:
        return sum(g.get(key, 0) for g in self.guest.values())

    def to_json(self) -> dict[str, Any]:
        return {"header": self.header, "status": self.status, "reason": self.reason, "errors": self.errors,
                "guest": {str(k): v for k, v in self.guest.items()},
                "exits": {str(k): v for k, v in self.exits.items()},
                "mismatches": self.mismatches, "host_actions": len(self.acts), "slow_accesses": len(self.slow)}


def _kv(parts: list[str]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in parts if "=" in p)


def parse_vmm_output(text: str, source: str = "vmm output") -> VmmRun:
    """Parse the lines; a line of an unknown kind or without its keys is an ``InputError``."""
    run = VmmRun()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        kind, *rest = line.split()
        kv = _kv(rest)
        try:
            if kind == "vmm":
                run.header = kv
            elif kind == "clock":
                run.clocks[kv["at"]] = (int(kv["tsc"]), int(kv["mono_ns"]))
            elif kind == "vcpu":
                run.vcpu_tids[int(kv["id"])] = int(kv["tid"])
            elif kind == "pfn":
                run.pfns.setdefault(kv["at"], {})[int(kv["gfn"])] = int(kv["pfn"])
            elif kind == "stat":
                run.stats.setdefault(kv["at"], {}).setdefault(kv["scope"], {})[kv["name"]] = int(kv["value"])
            elif kind == "act":
                run.acts.append(kv)
            elif kind == "mismatch":
                run.mismatches.append({k: int(v) for k, v in kv.items()})
            elif kind == "slow":
                run.slow.append({k: int(v) for k, v in kv.items()})
            elif kind == "guest":
                run.guest[int(kv["vcpu"])] = {k: int(v) for k, v in kv.items() if k != "vcpu"}
            elif kind == "exits":
                run.exits[int(kv["vcpu"])] = {k: int(v) for k, v in kv.items() if k != "vcpu"}
            elif kind == "error":
                run.errors.append(" ".join(rest))
            elif kind == "done":
                run.status, run.reason = kv.get("status", ""), kv.get("reason", "")
            else:
                raise InputError(source, number, f"unknown record {kind!r}")
        except (KeyError, ValueError) as exc:
            raise InputError(source, number, f"{kind} record without a valid {exc}") from None
    return run
