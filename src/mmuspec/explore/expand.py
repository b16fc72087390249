"""Expanding a chunk of states: the work that parallel and distributed searches share.

A chunk is a run of fixed-width states concatenated into one ``bytes`` blob, which
is cheap to send to another process or machine.  Its expansion lists every
transition as (source row, action, events) with the successor's representative
and fingerprint; the search decides afterwards which successors are new.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xxhash
from numpy.typing import NDArray

from mmuspec.explore.api import Model

Representative = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Expansion:
    sources: NDArray[np.uint32]
    actions: NDArray[np.uint16]
    events: NDArray[np.int64]
    blob: bytes
    fps: NDArray[np.uint64]

    def __len__(self) -> int:
        return len(self.sources)


def split(blob: bytes, width: int) -> list[bytes]:
    return [blob[i : i + width] for i in range(0, len(blob), width)]


def expand(model: Model, blob: bytes, width: int, representative: Representative | None) -> Expansion:
    """Expand every state of the chunk.  With a representative, states are
    representatives and so are their successors: a model may offer
    ``canonical_successors`` to compute them faster than representative(successor)."""
    sources = array("I")
    actions = array("H")
    events = array("q")
    out: list[bytes] = []
    successors = model.successors
    fast = getattr(model, "canonical_successors", None) if representative is not None else None
    if fast is not None:
        successors, representative = fast, None
    for row, state in enumerate(split(blob, width)):
        for action, nxt, ev in successors(state):
            sources.append(row)
            actions.append(action)
            events.append(ev)
            out.append(representative(nxt) if representative is not None else nxt)
    digest = xxhash.xxh3_64_intdigest
    fps = np.fromiter((digest(s) for s in out), dtype=np.uint64, count=len(out))
    return Expansion(
        np.frombuffer(sources, dtype=np.uint32) if sources else np.zeros(0, np.uint32),
        np.frombuffer(actions, dtype=np.uint16) if actions else np.zeros(0, np.uint16),
        np.frombuffer(events, dtype=np.int64) if events else np.zeros(0, np.int64),
        b"".join(out),
        fps,
    )


def rows(blob: bytes, width: int, picks: NDArray[np.intp]) -> bytes:
    """The rows ``picks`` of a blob of fixed-width states, concatenated."""
    if len(picks) == 0:
        return b""
    table = np.frombuffer(blob, dtype=np.uint8).reshape(-1, width)
    return table[picks].tobytes()
