"""A breadth-first search whose visited set and frontier are split across processes.

Each partition is an actor (of Dask or of Ray) that owns the states whose fingerprint is
its index modulo the number of partitions: their fingerprints, their parent links and the
part of the frontier they form.  A level is one round.  Every partition expands its own
frontier (in chunks, with the model's compiled core), groups the successors by owner and
sends each owner its batch directly, actor to actor; then every partition absorbs what it
received, in the order of the senders, keeps what it had not seen, and that is its share
of the next level.  No process holds all the states, or all the frontier; the driver holds
the counts, the events seen and one witness link per event.  This is the way SPIN's
multi-core mode, TLC's fingerprint servers and PReach partition a state space by hash.

The work of a partition and of the driver is declared here once; a backend
(``partitioned_dask``, ``partitioned_ray``) only starts the actors, calls them and moves
the batches.  The levels are the serial search's, so the states, transitions and depth
are the same as a serial run's, and every witness has the same (shortest) length; only
which of several equally short witnesses is kept may differ.  ``--first`` stops after the
level where a violation first appears, not within it.  Without an address a local Dask
cluster of one process per partition is started and closed again; nothing needs a server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from mmuspec.explore.bfs import Progress, collision_probability
from mmuspec.explore.memory import statm
from mmuspec.explore.result import SearchResult, Witness
from mmuspec.explore.store import FingerprintSet

CHUNK = 8192
DIED = "a partition's process died during the search (killed, or out of memory)"  # EnvironmentFailure, exit 5
SEND_BYTES = 8 << 20  # a batch leaves for its owner once it holds this much
NO_PARENT = -1


@dataclass
class Batch:
    """Successors on their way to their owner: fingerprints, states, parents (global
    numbers: local index x partitions + partition) and actions."""

    origin: int
    sequence: int  # batches of one origin are absorbed in the order they were made
    fps: np.ndarray
    states: np.ndarray  # one row of the model's width per successor (numpy: zero-copy in Ray's object store)
    parents: np.ndarray
    actions: np.ndarray


class Partition:
    """The states of one hash partition.  A backend's actor class adds ``receive`` (a batch
    from a peer), ``post`` (start sending a batch to a peer) and ``settle`` (wait until
    the batches posted have arrived)."""

    def __init__(self, index: int, count: int, factory: Callable[[], Any], width: int, symmetric: bool,
                 por: bool) -> None:
        self.index, self.count, self.width = index, count, width
        self.symmetric, self.por = symmetric, por
        self.model = factory()
        self.seen = FingerprintSet()
        self.seen.inserter = self.model.insert_fingerprints
        self.frontier = b""
        self.frontier_base = 0  # local number of the frontier's first state
        self.parents: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.held = 0
        self.inbox: list[Batch] = []
        self.peers: list[Any] = []
        self.sent_bytes = 0

    def connect(self, peers: list[Any]) -> int:
        self.peers = peers
        return os.getpid()

    def seed(self, state: bytes, fp: int) -> None:
        self.inbox.append(Batch(NO_PARENT, 0, np.array([fp], np.uint64), np.frombuffer(state, np.uint8).reshape(1, -1),
                                np.array([NO_PARENT], np.int64), np.array([0xFFFF], np.uint16)))
        self.absorb()

    def post(self, peer: int, batch: Batch) -> Any:
        raise NotImplementedError

    def settle(self, pending: list[Any]) -> None:
        raise NotImplementedError

    def expand(self, seen_bits: int, all_bits: int) -> tuple[int, dict[int, tuple[int, int, int]]]:
        """Expand this partition's frontier and send every successor to its owner; returns
        the transitions and, per event not seen before, its first occurrence here
        (order within the level, source, action)."""
        transitions = 0
        firsts: dict[int, tuple[int, int, int]] = {}
        outgoing: list[list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(self.count)]
        waiting = [0] * self.count
        sends: list[Any] = []
        made = 0

        def send(q: int) -> None:
            nonlocal made
            parts = outgoing[q]
            batch = Batch(self.index, made, *(np.concatenate([p[k] for p in parts]) for k in range(4)))
            made += 1
            outgoing[q], waiting[q] = [], 0
            if q == self.index:
                self.inbox.append(batch)
            else:
                self.sent_bytes += batch.fps.nbytes + batch.states.nbytes + batch.parents.nbytes + batch.actions.nbytes
                sends.append(self.post(q, batch))

        n = len(self.frontier) // self.width
        for start in range(0, n, CHUNK):
            blob = self.frontier[start * self.width:min(n, start + CHUNK) * self.width]
            e = self.model.expand_chunk(blob, self.width, self.symmetric, self.por)
            transitions += e.transitions
            local = self.frontier_base + start + e.sources.astype(np.int64)
            sources = local * self.count + self.index
            events = e.events.view(np.uint64) & np.uint64(all_bits & ~seen_bits)
            union = int(np.bitwise_or.reduce(events)) if len(events) else 0
            while union:  # the first successor with each event, found by numpy, not one by one
                bit = (union & -union).bit_length() - 1
                union &= union - 1
                if bit not in firsts:
                    j = int(np.argmax(events & np.uint64(1 << bit) != 0))
                    firsts[bit] = ((start << 32) + j, int(sources[j]), int(e.actions[j]))
            owners = (e.fps % np.uint64(self.count)).astype(np.int64)
            states = np.frombuffer(e.blob, np.uint8).reshape(-1, self.width)
            for q in range(self.count):
                mask = owners == q
                if mask.any():
                    outgoing[q].append((e.fps[mask], states[mask], sources[mask], e.actions[mask]))
                    waiting[q] += int(mask.sum()) * (self.width + 18)
                    if waiting[q] >= SEND_BYTES:
                        send(q)
        for q in range(self.count):
            if outgoing[q]:
                send(q)
        self.settle(sends)
        return transitions, firsts

    def absorb(self) -> int:
        """Keep the received successors not seen before, in the senders' order: this
        partition's share of the next level."""
        batches = sorted(self.inbox, key=lambda b: (b.origin, b.sequence))
        self.inbox = []
        self.frontier_base += len(self.frontier) // self.width
        if not batches:
            self.frontier = b""
            return 0
        fps = np.concatenate([b.fps for b in batches])
        fresh = self.seen.add_batch(fps)
        self.frontier = np.concatenate([b.states for b in batches])[fresh].tobytes()
        self.parents.append(np.concatenate([b.parents for b in batches])[fresh])
        self.actions.append(np.concatenate([b.actions for b in batches])[fresh])
        return int(fresh.sum())

    def parent(self, local: int) -> tuple[int, int]:
        """The global number of a state's parent and the action from it."""
        for parents, actions in zip(self.parents, self.actions, strict=True):
            if local < len(parents):
                return int(parents[local]), int(actions[local])
            local -= len(parents)
        raise IndexError(local)

    def figures(self) -> dict[str, int]:
        """What this partition holds: states, bytes of its visited set, parent links and
        frontier, its process's resident memory (all, and its own), and the bytes it sent."""
        links = sum(p.nbytes + a.nbytes for p, a in zip(self.parents, self.actions, strict=True))
        rss, private = _resident_bytes()
        return {"partition": self.index, "pid": os.getpid(), "states": len(self.seen), "rss": rss,
                "private": private, "table_bytes": self.seen.nbytes, "link_bytes": links,
                "frontier_bytes": len(self.frontier), "sent_bytes": self.sent_bytes}


def _resident_bytes() -> tuple[int, int]:
    """This process's resident memory, and the part of it no other process shares (the
    pages of libraries and of Ray's object store excluded); Linux, (0, 0) elsewhere."""
    now = statm()
    return (0, 0) if now is None else (now[0], now[0] - now[1])


class Actors(Protocol):
    """The partitions as a backend started them: a method called on each at once (results
    in the partitions' order), or on one."""

    def each(self, method: str, *args: Any) -> list[Any]: ...

    def one(self, index: int, method: str, *args: Any) -> Any: ...


Start = Callable[[str | None, int, tuple[Any, ...]], AbstractContextManager[Actors]]


def is_ray(address: str | None) -> bool:
    return bool(address) and str(address).startswith("ray")


def partitioned_bfs(
    model: Any,
    factory: Callable[[], Any],
    *,
    partitions: int,
    address: str | None = None,
    symmetry: bool,
    por: bool,
    max_depth: int | None = None,
    stop_on_violation: bool = False,
    progress: Callable[[Progress], None] | None = None,
) -> tuple[SearchResult, list[dict[str, int]]]:
    """Search ``model`` (whose ``factory`` each partition calls to build its own copy, a
    model with ``expand_chunk``, ``insert_fingerprints`` and ``fingerprint``) on
    ``partitions`` actors: Ray's where ``address`` is ``ray://HOST:PORT``, ``ray:auto`` or
    ``ray:local`` (a local Ray started for this search), else Dask's, on the scheduler at
    ``address`` or on a local cluster of that many processes.  The actors, and whatever
    was started for them, are gone when this returns or raises.  Returns the result and
    each partition's figures."""
    start: Start
    if is_ray(address):
        from mmuspec.explore.partitioned_ray import ray_partitions as start
    else:
        from mmuspec.explore.partitioned_dask import dask_partitions as start
    with start(address, partitions, (factory, model.L.size, symmetry, por)) as actors:
        return _search(actors, model, partitions, symmetry, max_depth, stop_on_violation, progress)


def _search(actors: Actors, model: Any, count: int, symmetry: bool, max_depth: int | None,
            stop_on_violation: bool,
            progress: Callable[[Progress], None] | None) -> tuple[SearchResult, list[dict[str, int]]]:
    start = time.perf_counter()
    events = list(model.events)
    property_bits = sum(1 << i for i, e in enumerate(events) if e.kind == "property")
    all_bits = (1 << len(events)) - 1
    init = model.initial()
    if symmetry:
        init = model.representative(init)
    fp = model.fingerprint(init)
    actors.one(fp % count, "seed", init, fp)
    states, transitions, level, seen = 1, 0, 0, 0
    firsts: dict[int, tuple[int, int]] = {}
    complete, reason = False, ""
    while True:
        if max_depth is not None and level >= max_depth:
            reason = f"depth bound {max_depth} reached"
            break
        expanded = actors.each("expand", seen, all_bits)
        fresh_bits: dict[int, tuple[int, int, int, int]] = {}  # the first by partition, then order
        for part, (moves, found) in enumerate(expanded):
            transitions += moves
            for bit, (order, source, action) in found.items():
                if bit not in fresh_bits or (part, order) < fresh_bits[bit][:2]:
                    fresh_bits[bit] = (part, order, source, action)
        for bit, (_part, _order, source, action) in fresh_bits.items():
            firsts[bit] = (source, action)
            seen |= 1 << bit
        new = sum(actors.each("absorb"))
        if progress is not None:
            progress(Progress(states + new, transitions, level, new, time.perf_counter() - start))
        if stop_on_violation and any(property_bits >> bit & 1 for bit in fresh_bits):
            reason = "stopped at the first violation (after its level)"
            states += new
            break
        if new == 0:
            complete = True
            break
        states += new
        level += 1
    result = SearchResult(event_kinds={e.id: e.kind for e in events})
    for bit, (source, action) in firsts.items():
        path = _path(actors, count, source)
        result.witnesses[events[bit].id] = Witness(events[bit].id, events[bit].kind, (*path, action))
    per_partition = actors.each("figures")
    held = sum(p["table_bytes"] + p["link_bytes"] + p["frontier_bytes"] for p in per_partition)
    result.states, result.transitions, result.depth = states, transitions, level
    result.complete, result.stop_reason = complete, "" if complete else reason
    result.seconds = time.perf_counter() - start
    result.bytes_per_state = held / max(1, states)
    result.collision_probability = collision_probability(states)
    result.mode = "bfs"
    return result, per_partition


def _path(actors: Actors, count: int, state: int) -> list[int]:
    """The actions from the initial state to the state numbered ``state``, following the
    parent links partition by partition."""
    out: list[int] = []
    while True:
        parent, action = actors.one(state % count, "parent", state // count)
        if parent == NO_PARENT:
            break
        out.append(action)
        state = parent
    out.reverse()
    return out
