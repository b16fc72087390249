"""Exhaustive breadth-first search over every interleaving of a model's steps.

Breadth first, level by level, so the first transition found that carries an
event ends a shortest path to it: each violation, warning and observation gets its
own shortest witness.  A level is cut into chunks of fixed size; chunks are
expanded by a runner (this process, local workers, or a cluster) and absorbed in
order, so the states are numbered the same way however many workers there are.

Per state the search keeps a 64-bit fingerprint in a flat table, a parent index
(4 bytes) and an action (2 bytes); a witness path is rebuilt from the parents and
re-executed on the model to be shown (``trace.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import xxhash
from numpy.typing import NDArray

from mmuspec.errors import InputError
from mmuspec.explore.api import Model
from mmuspec.explore.checkpoint import Checkpointer, load_checkpoint
from mmuspec.explore.expand import Expansion, rows, split
from mmuspec.explore.interrupt import stop_on_interrupt
from mmuspec.explore.memory import UNBOUNDED_HINT, MemoryBound, doubling
from mmuspec.explore.result import SearchResult, Witness
from mmuspec.explore.runners import ModelFactory, Runner, SerialRunner, make_runner, worker_guard
from mmuspec.explore.store import MAX_LOAD, ExactSet, FingerprintSet


@dataclass(frozen=True)
class Progress:
    states: int
    transitions: int
    depth: int
    queue: int
    seconds: float


ProgressFn = Callable[[Progress], None]


@dataclass
class SearchOptions:
    stop_on_violation: bool = False
    exact: bool = False
    symmetry: bool = False
    por: bool = False
    max_states: int | None = None
    max_depth: int | None = None
    max_seconds: float | None = None  # a time budget (--smoke): stop between chunks once spent
    max_memory: int | None = None  # bytes this process may hold (--max-memory)
    workers: int = 1
    cluster: str | None = None
    chunk: int = 1024
    checkpoint: str | None = None
    checkpoint_every: float = 60.0
    resume: str | None = None
    progress: ProgressFn | None = None
    progress_every: float = 0.5
    model_key: str = ""


def fingerprint(state: bytes) -> int:
    """A stable 64-bit fingerprint of a state (xxh3, independent of PYTHONHASHSEED)."""
    return xxhash.xxh3_64_intdigest(state)


def collision_probability(states: int) -> float:
    """Chance that two of ``states`` distinct states share a 64-bit fingerprint (birthday
    bound, as SPIN's hash-compact and TLC report it): n(n-1)/2 / 2**64."""
    return states * (states - 1) / 2 / 2.0**64


class GrowArray:
    """A numpy array that grows by half again when full."""

    def __init__(self, dtype: type[np.generic], first: int) -> None:
        self.data = np.empty(64, dtype=dtype)
        self.data[0] = first
        self.size = 1

    def extend(self, values: NDArray[np.generic]) -> None:
        end = self.size + len(values)
        if end > len(self.data):
            grown = np.empty(max(end, len(self.data) * 3 // 2), dtype=self.data.dtype)
            grown[: self.size] = self.data[: self.size]
            self.data = grown
        self.data[self.size : end] = values
        self.size = end

    def __getitem__(self, i: int) -> int:
        return int(self.data[i])

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def used(self) -> NDArray[np.generic]:
        return self.data[: self.size]


@dataclass
class SearchState:
    """Everything a checkpoint holds: enough to continue a search exactly."""

    width: int
    store: FingerprintSet | ExactSet
    parents: GrowArray
    actions: GrowArray
    frontier: list[bytes]
    frontier_base: int
    next_blobs: list[bytes] = field(default_factory=list)
    level: int = 0
    transitions: int = 0
    seen: int = 0
    witness_at: dict[int, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def states(self) -> int:
        return self.parents.size

    def queue(self) -> int:
        return sum(len(b) for b in self.frontier) // self.width + sum(len(b) for b in self.next_blobs) // self.width


def bfs(model: Model, *, factory: ModelFactory | None = None, **options: object) -> SearchResult:
    """Explore every reachable state of ``model``; see ``SearchOptions`` for the knobs.

    ``factory`` rebuilds the model in a worker process (needed for ``workers > 1`` and
    ``cluster``).  With ``symmetry`` the model's ``representative()`` is applied to
    every state, and witness paths are over representatives (``trace.concretize``
    turns them back into a concrete execution).
    """
    opts = SearchOptions(**options)  # type: ignore[arg-type]
    start = time.perf_counter()
    events = list(model.events)
    property_bits = sum(1 << i for i, e in enumerate(events) if e.kind == "property")
    all_bits = (1 << len(events)) - 1
    rep = getattr(model, "representative", None) if opts.symmetry else None

    # The key of the search a checkpoint belongs to: the model's, and how states are kept.
    search_key = f"{opts.model_key}/{'exact' if opts.exact else 'fingerprints'}"
    if opts.resume:
        st = load_checkpoint(opts.resume, search_key)
        if len(model.initial()) != st.width:
            raise InputError(opts.resume, None, "this checkpoint was written for a model with another state width")
    else:
        init = model.initial()
        if rep is not None:
            init = rep(init)
        store: FingerprintSet | ExactSet = ExactSet() if opts.exact else FingerprintSet()
        if isinstance(store, ExactSet):
            store.add_states([init])
        else:
            store.add_batch(np.array([getattr(model, "fingerprint", fingerprint)(init)], dtype=np.uint64))
        st = SearchState(len(init), store, GrowArray(np.uint32, 0), GrowArray(np.uint16, 0xFFFF), [init], 0)
    if isinstance(st.store, FingerprintSet):
        st.store.inserter = getattr(model, "insert_fingerprints", None)
    width = st.width
    chunk_bytes = opts.chunk * width
    checkpointer = Checkpointer(opts.checkpoint, opts.checkpoint_every, search_key) if opts.checkpoint else None
    serial = SerialRunner(model, width, opts.symmetry, opts.por)
    # Worker processes pay off only on wide levels: start them when a level first needs them.
    pool: Runner | None = None
    if opts.cluster:
        pool = make_runner(model, factory, width, opts.symmetry, opts.workers, opts.cluster, opts.por, search_key)
    stop = ""
    next_report = start + opts.progress_every
    memory = None
    if opts.max_memory is not None:
        memory = MemoryBound(opts.max_memory, f"{opts.checkpoint} holds the search so far (--resume continues it, "
                             "with a larger --max-memory)" if opts.checkpoint else UNBOUNDED_HINT)

    def absorb(exp: Expansion, base: int) -> bool:
        """Take one chunk's expansion into the search; True to stop."""
        nonlocal stop
        st.transitions += exp.transitions
        if not len(exp):
            return False
        hits = np.nonzero(exp.events & (all_bits & ~st.seen))[0]
        for j in hits:
            new = int(exp.events[j]) & ~st.seen
            if not new:
                continue
            for i in range(len(events)):
                if new >> i & 1:
                    st.witness_at[1 << i] = (base + int(exp.sources[j]), int(exp.actions[j]))
            st.seen |= new
            if opts.stop_on_violation and new & property_bits:
                stop = "stopped at the first violation"
        if isinstance(st.store, ExactSet):
            fresh = st.store.add_states(split(exp.blob, width))
        else:
            fresh = st.store.add_batch(exp.fps)
        picks = np.nonzero(fresh)[0]
        st.parents.extend(exp.sources[picks].astype(np.uint32) + np.uint32(base))
        st.actions.extend(exp.actions[picks])
        if len(picks):
            st.next_blobs.append(rows(exp.blob, width, picks))
        return bool(stop)

    def promote() -> None:
        """The next level becomes the frontier, cut into chunks.  Each piece of it is let go
        once copied, so that the level is not held twice (nor three times) on the way."""
        pieces, st.next_blobs = st.next_blobs, []
        pieces.reverse()
        frontier: list[bytes] = []
        part = bytearray()
        while pieces:
            piece = memoryview(pieces.pop())
            while piece:
                take = chunk_bytes - len(part)
                part += piece[:take]
                piece = piece[take:]
                if len(part) == chunk_bytes:
                    frontier.append(bytes(part))
                    part = bytearray()
        if part:
            frontier.append(bytes(part))
        st.frontier = frontier
        if frontier:
            st.level += 1

    interrupted = False
    with stop_on_interrupt() as pressed:
        try:
            if not st.frontier:
                promote()  # resumed at the end of a level
            while st.frontier and not stop:
                if opts.max_depth is not None and st.level >= opts.max_depth:
                    stop = f"depth bound {opts.max_depth} reached"
                    break
                base = st.frontier_base
                pending = list(st.frontier)
                if pool is None and opts.workers > 1 and factory is not None and len(pending) >= 2 * opts.workers:
                    pool = make_runner(model, factory, width, opts.symmetry, opts.workers, None, opts.por)
                runner = pool if pool is not None and (opts.cluster or len(pending) >= 2) else serial
                for blob, exp in zip(pending, worker_guard(runner.map(pending), checkpointer, st, start),
                                     strict=False):
                    halt = absorb(exp, base)
                    base += len(blob) // width
                    st.frontier.pop(0)
                    st.frontier_base = base
                    if not halt and opts.max_states is not None and st.states >= opts.max_states:
                        stop = f"state bound {opts.max_states} reached"
                    if not stop and opts.max_seconds is not None and time.perf_counter() - start >= opts.max_seconds:
                        stop = f"time budget of {opts.max_seconds:g} s spent"
                    if not stop and memory is not None:
                        stop = memory.reached(_growth(st, opts.chunk * 16))
                    if not stop and pressed():
                        stop, interrupted = "interrupted (Ctrl-C)", True
                    now = time.perf_counter()
                    if opts.progress is not None and now >= next_report:
                        next_report = now + opts.progress_every
                        opts.progress(Progress(st.states, st.transitions, st.level, st.queue(),
                                               st.seconds + now - start))
                    if checkpointer is not None:
                        checkpointer.maybe_save(st, st.seconds + now - start)
                    if stop:
                        break
                if stop:
                    break
                promote()
        finally:
            if pool is not None:
                pool.close()

    elapsed = st.seconds + time.perf_counter() - start
    if checkpointer is not None and stop:
        checkpointer.save_or_warn(st, elapsed)
    result = SearchResult(event_kinds={e.id: e.kind for e in events})
    for i, event in enumerate(events):
        if (1 << i) in st.witness_at:
            src, act = st.witness_at[1 << i]
            result.witnesses[event.id] = Witness(event.id, event.kind, (*path_to(st, src), act))
    result.states = st.states
    result.transitions = st.transitions
    result.depth = st.level
    result.seconds = elapsed
    result.complete = not stop
    result.stop_reason = stop
    result.bytes_per_state = (st.store.nbytes + st.parents.nbytes + st.actions.nbytes) / max(1, st.states)
    if not opts.exact:
        result.collision_probability = collision_probability(st.states)
    result.mode = "bfs"
    result.interrupted = interrupted
    if opts.progress is not None:
        opts.progress(Progress(st.states, st.transitions, st.level, 0, elapsed))
    return result


def _growth(st: SearchState, incoming: int) -> int:
    """What absorbing ``incoming`` more states may add at once: a fingerprint table that
    grows, parent links and actions copied into arrays half as big again."""
    extra = sum(a.nbytes * 3 // 2 for a in (st.parents, st.actions) if a.size + incoming > len(a.data))
    if isinstance(st.store, FingerprintSet):
        extra += doubling(st.store.count, len(st.store.table), incoming, MAX_LOAD, st.store.growth_bytes())
    return extra


def path_to(st: SearchState, index: int) -> list[int]:
    out: list[int] = []
    while index > 0:
        out.append(st.actions[index])
        index = st.parents[index]
    out.reverse()
    return out
