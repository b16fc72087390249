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
