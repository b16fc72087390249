"""Which shared fields each step may touch: what the model declares for partial-order
reduction, and a recorder to check the declarations against what the steps do.

Shared fields come in groups: a gfn's PTE, its SPTE, the notifier counters, every page
frame's counters, the data values.  Each step declares the groups it and its guard may
read and write (``@step(reads=..., writes=...)``), in any configuration; a step whose
shared footprint is only the range notifiers' callbacks for a change_pte range declares
``shared_if="start_zaps_change_pte_events"``, since the 2019 proposal's callbacks return
early for those ranges and the step then touches nothing shared.

Two things are left out on purpose.  A thread's own block is private (no step reads
another thread's block; ``tests/model/test_footprints.py`` checks it).  And the check
made when every thread has finished (each gfn must hold the guest's last write) reads
every thread's pc: it depends only on the final state, and persistent sets keep every
final state, so it does not make steps dependent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, SupportsIndex

from mmuspec.model.layout import Layout
from mmuspec.model.registry import STEPS

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

GROUPS = ("seq", "count", "ptl", "spt_table", "pte", "spte", "page", "data", "slot", "attr", "mmap", "tlb",
          "itree", "dev", "gpc", "gmem")
BIT = {name: 1 << i for i, name in enumerate(GROUPS)}

Masks = tuple[int, int]
Declaration = tuple[list[int], list[int], list[list[Masks]], list[Masks]]


def group_fields(L: Layout) -> dict[str, tuple[int, ...]]:
    """The shared fields of each group, for one layout (each field's group is declared with
    it in ``schema.SHARED``)."""
    return {name: L.groups.get(name, ()) for name in GROUPS}


def mask(groups: frozenset[str]) -> int:
    out = 0
    for name in groups:
        out |= BIT[name]
    return out


def step_masks(k: Kernel, name: str) -> Masks:
    """What step ``name`` may read and write in this configuration."""
    info = STEPS[name]
    if info.shared_if is not None and not getattr(k, info.shared_if):
        return 0, 0
    return mask(info.reads), mask(info.writes)


def declaration(k: Kernel) -> Declaration | None:
    """(pc offsets, finished pcs, masks per thread and pc, masks per thread's program),
    the form ``explore.por`` reads; None with a per-vCPU TLB, whose flushes write every
    vCPU's own block (no reduction then)."""
    if k.L.track_tlb:
        return None
    now: list[list[Masks]] = []
    program: list[Masks] = []
    for _t, _base, table in k._tables:
        per_pc: list[Masks] = []
        for entries in table:
            reads = writes = 0
            for action, *_ in entries:
                r, w = step_masks(k, k.step_keys[action & 0xFF][0])
                reads |= r
                writes |= w
            per_pc.append((reads, writes))
        now.append(per_pc)
        all_reads = all_writes = 0
        for r, w in per_pc:
            all_reads |= r
            all_writes |= w
        program.append((all_reads, all_writes))
    return [t.base for t in k.threads], list(k.done_pc), now, program


class RecordingState(bytearray):
    """A state that notes every field read and written through it, to check declarations."""

    def __init__(self, state: bytes) -> None:
        super().__init__(state)
        self.reads: set[int] = set()
        self.writes: set[int] = set()

    def __getitem__(self, i: Any) -> Any:
        self.reads.update(_indices(i, len(self)))
        return bytearray.__getitem__(self, i)

    def __setitem__(self, i: Any, value: Any) -> None:
        self.writes.update(_indices(i, len(self)))
        bytearray.__setitem__(self, i, value)


def _indices(i: SupportsIndex | slice, size: int) -> range:
    if isinstance(i, slice):
        return range(*i.indices(size))
    j = i.__index__() % size
    return range(j, j + 1)


@dataclass(frozen=True)
class Recorded:
    """One step of a thread run on a ``RecordingState``: what its guard read, what its
    body read and wrote, and where it led (None when the guard says wait)."""

    action: int
    name: str
    guard_reads: frozenset[int]
    reads: frozenset[int]
    writes: frozenset[int]
    following: bytes | None
    events: int


def record_steps(k: Kernel, s: bytes, t: int) -> list[Recorded]:
    """Every step of thread ``t`` at its pc in ``s``, recorded."""
    _t, base, table = k._tables[t]
    out = []
    for action, fn, guard, arg in table[s[base]]:
        g = RecordingState(s)
        enabled = guard is None or guard(g, t, arg)
        m = RecordingState(s)
        k.ev = 0
        if enabled:
            fn(m, t, arg)
        out.append(Recorded(
            action, k.step_keys[action & 0xFF][0], frozenset(g.reads), frozenset(m.reads), frozenset(m.writes),
            bytes(m) if enabled else None, k.ev,
        ))
    return out


def unobserved_final_check(k: Kernel) -> None:
    """Make the all-done test and the final data check read a plain copy of the state, so
    that a recording sees only what the steps themselves read (see the module docstring)."""
    all_done, final_check = k.all_done, k.final_data_check
    k.all_done = lambda s: all_done(bytes(s))  # type: ignore[method-assign]
    k.final_data_check = lambda s: final_check(bytearray(s))  # type: ignore[method-assign]
