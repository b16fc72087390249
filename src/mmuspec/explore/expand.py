"""Expanding a chunk of states: the work that parallel and distributed searches share.

A chunk is a run of fixed-width states concatenated into one ``bytes`` blob, which
is cheap to send to another process or machine.  Its expansion lists every
transition as (source row, action, events) with the successor's representative
and fingerprint; the search decides afterwards which successors are new.

Within a chunk, sibling states often reach the same successor (two steps that
commute meet again one level down: about half of the transitions of a typical
chunk).  Only the first transition to each successor is sent back, with every
transition that carries an event; the rest could never be new states, so the
search needs only their number.  What the search then does, and numbers, is the
same as if they had been sent.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xxhash
from numpy.typing import NDArray

from mmuspec.explore.api import Model
from mmuspec.explore.por import PersistentSets

Representative = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Expansion:
    sources: NDArray[np.uint32]
    actions: NDArray[np.uint16]
    events: NDArray[np.int64]
    blob: bytes
    fps: NDArray[np.uint64]
    transitions: int

    def __len__(self) -> int:
        return len(self.sources)


def split(blob: bytes, width: int) -> list[bytes]:
    return [blob[i : i + width] for i in range(0, len(blob), width)]


def expand(
    model: Model, blob: bytes, width: int, representative: Representative | None, por: PersistentSets | None = None
) -> Expansion:
    """Expand every state of the chunk.  With a representative, states are
    representatives and so are their successors: a model may offer
    ``canonical_successors`` to compute them faster than representative(successor).
    With ``por``, a state where one thread's steps form a persistent set is expanded by
    those steps only.  A model that expands whole chunks itself (a compiled core) offers
    ``expand_chunk(blob, width, canonical, por)``, and its own ``fingerprint``."""
    chunked = getattr(model, "expand_chunk", None)
    if chunked is not None:
        return chunked(blob, width, representative is not None, por is not None)  # type: ignore[no-any-return]
    sources = array("I")
    actions = array("H")
    events = array("q")
    out: list[bytes] = []
    successors = model.successors
    fast = getattr(model, "canonical_successors", None) if representative is not None else None
    if fast is not None:
        successors, representative = fast, None
    for row, state in enumerate(split(blob, width)):
        reduced = por.reduced(state, successors) if por is not None else None  # type: ignore[arg-type]
        for action, nxt, ev in reduced if reduced is not None else successors(state):
            sources.append(row)
            actions.append(action)
            events.append(ev)
            out.append(representative(nxt) if representative is not None else nxt)
    digest = xxhash.xxh3_64_intdigest
    fps = np.fromiter((digest(s) for s in out), dtype=np.uint64, count=len(out))
    bits = np.frombuffer(events, dtype=np.int64) if events else np.zeros(0, np.int64)
    keep = first_arrivals(fps) | (bits != 0)
    picks = np.nonzero(keep)[0]
    return Expansion(
        np.frombuffer(sources, dtype=np.uint32)[picks] if sources else np.zeros(0, np.uint32),
        np.frombuffer(actions, dtype=np.uint16)[picks] if actions else np.zeros(0, np.uint16),
        bits[picks],
        b"".join([out[i] for i in picks.tolist()]),
        fps[picks],
        len(out),
    )


def first_arrivals(fps: NDArray[np.uint64]) -> NDArray[np.bool_]:
    """True at the first occurrence of each fingerprint."""
    first = np.zeros(len(fps), dtype=bool)
    if len(fps):
        first[np.unique(fps, return_index=True)[1]] = True
    return first


def rows(blob: bytes, width: int, picks: NDArray[np.intp]) -> bytes:
    """The rows ``picks`` of a blob of fixed-width states, concatenated."""
    if len(picks) == 0:
        return b""
    table = np.frombuffer(blob, dtype=np.uint8).reshape(-1, width)
    return table[picks].tobytes()
