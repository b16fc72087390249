"""Equivalent states: a canonical representative for each class of bisimilar states.

Three quotients, each exact (a state and its representative have the same enabled
steps, the same events, and representatives of the same successors):

* **vCPUs** run identical programs and no field names a vCPU (who holds the PTL or
  a page lock follows from the holders' program counters), so the vCPU blocks can
  be permuted.  The representative sorts them.
* **mmu_notifier_seq** only increases (an ``unsigned long`` does not wrap in
  practice) and is only compared for equality with a fault's snapshot, so what
  matters is which live snapshots still equal it.  The representative sets seq to 0,
  a live snapshot equal to it to 0, and a stale one to 255, which seq never reaches
  from a representative (it restarts at 0 and a step adds at most 2).
* **Data values** written by the guest are only compared for equality, copied, or
  made fresh (``last_written + 1``); 0 is the zero-fill value.  The representative
  renames the non-zero values in order of first appearance and sets
  ``last_written`` to the largest name, which keeps the next write fresh.

Page frames are interchangeable too, but numbering them canonically costs more per
transition than the states it saves here, so frames keep their numbers.

A variant may compare seq or values with something else, so those two quotients are
off for variants; a variant must treat all vCPUs alike for the vCPU symmetry to hold.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mmuspec.model import guest
from mmuspec.model.layout import V_SNAP

if TYPE_CHECKING:
    from mmuspec.model.kernel import Kernel

STALE = 255
# Program counters at which a vCPU's snapshot of mmu_notifier_seq is still to be compared
# (declared with each pc in ``guest.PCS``).
LIVE_SNAPSHOT = guest.LIVE_SNAPSHOT


class Symmetry:
    """Computes representatives for one model: ``rep(s)`` for any state, and
    ``settle(m, t, s)`` for a state one step of thread ``t`` away from a representative."""

    def __init__(self, kernel: Kernel, *, vcpus: bool = True, seq: bool = True, values: bool = True) -> None:
        L = kernel.L
        self.seq_index = L.SEQ
        self.bases = tuple(t.base for t in kernel.threads if t.kind == "vcpu")
        self.width = len(L.vcpu_fields)
        self.index_of = {t.index: i for i, t in enumerate(kernel.threads) if t.kind == "vcpu"}
        self.first = self.bases[0] if self.bases else 0
        self.end = self.bases[-1] + self.width if self.bases else 0
        self.vcpus = vcpus and len(self.bases) > 1
        self.seq = seq
        self.values = values
        self.value_fields = L.value_fields  # the fields schema.SHARED gives the role "value"
        self.last_written = L.LAST_WRITTEN
        self.values_start, self.values_end = L.VALUES_START, L.VALUES_END
        self.settlers = [self._make_settler(t.index) for t in kernel.threads]

    @property
    def active(self) -> bool:
        return self.vcpus or self.seq or self.values

    def __call__(self, s: bytes) -> bytes:
        m = bytearray(s)
        if self.seq:
            self.canon_seq(m)
        if self.vcpus:
            self.sort_vcpus(m)
        if self.values:
            self.rename_values(m)
        return bytes(m)

    def settle(self, m: bytearray, t: int, s: bytes) -> None:
        """Make ``m`` canonical; ``s`` is the representative it was stepped from by thread
        ``t``, so only that thread's block and the globals can have changed."""
        self.settlers[t](m, s)

    def _make_settler(self, t: int) -> Callable[[bytearray, bytes], None]:
        """``settle`` specialised for one thread, with its constants bound (a hot path)."""
        i = self.index_of.get(t, -1)
        seq_on, vcpus_on, values_on = self.seq, self.vcpus, self.values
        seq_index, live, bases, w = self.seq_index, LIVE_SNAPSHOT, self.bases, self.width
        vs, ve = self.values_start, self.values_end
        canon_seq, sort_vcpus, rename_values = self.canon_seq, self.sort_vcpus, self.rename_values
        own = bases[i] if i >= 0 else -1
        last = len(bases) - 1

        def settle(m: bytearray, s: bytes) -> None:
            seq_moved = seq_on and m[seq_index] != 0
            if seq_moved:
                canon_seq(m)
                if vcpus_on:
                    sort_vcpus(m)
            elif own >= 0:
                if seq_on and m[own] not in live:
                    m[own + V_SNAP] = 0
                if vcpus_on:
                    block = m[own : own + w]
                    j = i
                    while j > 0 and m[bases[j - 1] : bases[j - 1] + w] > block:
                        m[bases[j] : bases[j] + w] = m[bases[j - 1] : bases[j - 1] + w]
                        j -= 1
                    while j < last and m[bases[j + 1] : bases[j + 1] + w] < block:
                        m[bases[j] : bases[j] + w] = m[bases[j + 1] : bases[j + 1] + w]
                        j += 1
                    if j != i:
                        m[bases[j] : bases[j] + w] = block
            if values_on and m[vs:ve] != s[vs:ve]:
                rename_values(m)

        return settle

    def canon_seq(self, m: bytearray) -> None:
        seq = m[self.seq_index]
        m[self.seq_index] = 0
        for b in self.bases:
            snap = b + V_SNAP
            if m[b] in LIVE_SNAPSHOT:
                m[snap] = 0 if m[snap] == seq else STALE
            else:
                m[snap] = 0

    def sort_vcpus(self, m: bytearray) -> None:
        w = self.width
        blocks = [m[b : b + w] for b in self.bases]
        blocks.sort()
        m[self.first : self.end] = b"".join(blocks)

    def rename_values(self, m: bytearray) -> None:
        names: dict[int, int] = {0: 0}
        for i in self.value_fields:
            v = m[i]
            n = names.get(v)
            if n is None:
                n = names[v] = len(names)
            m[i] = n
        m[self.last_written] = max(1, len(names) - 1)
