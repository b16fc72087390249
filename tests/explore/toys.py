"""Tiny models with state spaces small enough to count by hand."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Ev:
    id: str
    kind: str


class LostUpdate:
    """Two threads each read x into a register and write it back plus one.

    State bytes: pc0, r0, pc1, r1, x (pc: 0 read, 1 write, 2 done; a finished
    thread's register is reset to 0).  Reachable: 12 states, 14 transitions; the
    lost update (both done, x == 1) is 4 steps deep.
    """

    events = (Ev("lost_update", "property"), Ev("wrote", "observation"))

    def initial(self) -> bytes:
        return bytes(5)

    def successors(self, s: bytes) -> list[tuple[int, bytes, int]]:
        out = []
        for t in (0, 1):
            pc, reg = 2 * t, 2 * t + 1
            m = bytearray(s)
            if s[pc] == 0:
                m[reg] = s[4]
                m[pc] = 1
                out.append((t * 2, bytes(m), 0))
            elif s[pc] == 1:
                m[4] = s[reg] + 1
                m[reg] = 0
                m[pc] = 2
                ev = 2
                if m[0] == 2 and m[2] == 2 and m[4] != 2:
                    ev |= 1
                out.append((t * 2 + 1, bytes(m), ev))
        return out


class Ring:
    """n states in a cycle; used for bounds and cycles."""

    events = (Ev("wrapped", "observation"),)

    def __init__(self, n: int) -> None:
        self.n = n

    def initial(self) -> bytes:
        return b"\x00"

    def successors(self, s: bytes) -> list[tuple[int, bytes, int]]:
        nxt = (s[0] + 1) % self.n
        return [(0, bytes([nxt]), 1 if nxt == 0 else 0)]


class Counters:
    """Threads that each count to ``steps`` privately, then, in ``Counters(shared=True)``,
    add one to a shared total as a last step; the thread that makes the total equal
    the number of threads raises ``all_counted``.

    State bytes: one pc per thread, then the total.  Footprints: counting touches nothing
    shared (group bit 0 is the total); the last step reads and writes the total.
    Unreduced, ``n`` threads of ``k`` steps reach (k + 2) ** n states.
    """

    events = (Ev("all_counted", "observation"),)

    def __init__(self, threads: int, steps: int, shared: bool = True, declare: bool = True) -> None:
        self.n, self.k, self.shared, self.declare = threads, steps, shared, declare

    def initial(self) -> bytes:
        return bytes(self.n + 1)

    def successors(self, s: bytes, thread: int | None = None) -> list[tuple[int, bytes, int]]:
        out = []
        for t in range(self.n):
            if thread is not None and t != thread:
                continue
            pc = s[t]
            if pc < self.k or (pc == self.k and self.shared):
                m = bytearray(s)
                m[t] = pc + 1
                ev = 0
                if pc == self.k:
                    m[self.n] += 1
                    ev = 1 if m[self.n] == self.n else 0
                out.append((t, bytes(m), ev))
        return out

    def footprints(self) -> tuple[list[int], list[int], list[list[tuple[int, int]]], list[tuple[int, int]]] | None:
        if not self.declare:
            return None
        done = self.k + 1 if self.shared else self.k
        per_pc = [(0, 0)] * self.k + [(1, 1) if self.shared else (0, 0), (0, 0)]
        return list(range(self.n)), [done] * self.n, [per_pc] * self.n, [(1, 1) if self.shared else (0, 0)] * self.n


class Spinner:
    """Thread 0 spins forever between two pcs and touches nothing shared; thread 1 takes
    one step, which raises ``moved``.  A persistent-set search that always picks the
    spinner (it is alone: nothing conflicts with it) would never take thread 1's step:
    the cycle proviso must stop that.  States: 4."""

    events = (Ev("moved", "observation"),)

    def initial(self) -> bytes:
        return bytes(2)

    def successors(self, s: bytes, thread: int | None = None) -> list[tuple[int, bytes, int]]:
        out = []
        if thread in (None, 0):
            out.append((0, bytes([1 - s[0], s[1]]), 0))
        if thread in (None, 1) and s[1] == 0:
            out.append((1, bytes([s[0], 1]), 1))
        return out

    def footprints(self) -> tuple[list[int], list[int], list[list[tuple[int, int]]], list[tuple[int, int]]]:
        return [0, 1], [2, 1], [[(0, 0), (0, 0), (0, 0)], [(1, 1), (0, 0)]], [(0, 0), (1, 1)]


class GiveUp:
    """A waiter spins until a setter sets a flag; the setter may instead give up.

    State bytes: waiter pc (0 spin, 1 done), setter pc (0 choose, 1 done), flag.  The
    waiter's spin is a self-loop while the flag is clear.  If the setter gives up, the
    waiter can never finish: states {(0, 1, 0)} are doomed, reached in 1 step, and their
    bottom cycle is the spin.  Reachable: 4 states.
    """

    events = (Ev("stuck", "property"),)

    def initial(self) -> bytes:
        return bytes(3)

    def successors(self, s: bytes) -> list[tuple[int, bytes, int]]:
        out = []
        if s[0] == 0:
            out.append((0, bytes([1, s[1], s[2]]) if s[2] else s, 0))
        if s[1] == 0:
            out.append((1, bytes([s[0], 1, 1]), 0))  # set the flag
            out.append((2, bytes([s[0], 1, 0]), 0))  # give up
        return out

    @staticmethod
    def done(s: bytes) -> bool:
        return s[0] == 1 and s[1] == 1


class Patient(GiveUp):
    """The same without the choice to give up: the waiter always finishes eventually,
    though it may spin any number of times first."""

    def successors(self, s: bytes) -> list[tuple[int, bytes, int]]:
        return [x for x in super().successors(s) if x[0] != 2]
