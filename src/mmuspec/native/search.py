"""The compiled core at work: configurations loaded into the library, their successors,
and a breadth-first search that gives the same ``SearchResult`` as ``explore.bfs``.

A configuration is a handle (``NativeModel``) and a search is another: the library keeps
nothing of either in globals, so one process holds many configurations at once (a Dask
worker serving several checks) and any number of threads expand states in it at once.
``native_bfs(threads=N)`` runs the level-synchronous search on N threads, whose states,
counts and witnesses are the serial search's; ``table_bytes`` gives it a compact table of
that many bytes and ``spill_dir`` keeps its frontier and parent links on disk.
"""

from __future__ import annotations

import ctypes
import time
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from mmuspec.errors import InputError
from mmuspec.explore.bfs import Progress, collision_probability
from mmuspec.explore.interrupt import stop_on_interrupt
from mmuspec.explore.memory import MemoryBound, doubling
from mmuspec.explore.result import SearchResult, Witness
from mmuspec.native.build import Built, NativeUnavailable, compile_model, error_text, pack
from mmuspec.native.translate import ERR_LOOP, LOOP_BUDGET

MAX_OUT = 512
BUCKET, GROW_LOAD = 8, 0.8  # engine.c: 8-byte slots a bucket; a growable table doubles past 80% full
MAX_PATH = 1 << 16
_BUILT: dict[str, Built] = {}
P_U8 = ctypes.POINTER(ctypes.c_uint8)


def load(kernel: Any) -> NativeModel:
    """The compiled core for ``kernel``, built or found in the cache, with ``kernel``'s
    configuration loaded.  The library depends on the shape of the model's data as well as
    on its code (an empty list has no element type), so it is looked up by the hash of the
    generated C."""
    for built in _BUILT.values():
        if built.fits(kernel):
            return NativeModel(built, kernel)
    return NativeModel(compile_model(kernel, _BUILT), kernel)


def _bytes(data: bytes) -> Any:
    return (ctypes.c_uint8 * len(data)).from_buffer_copy(data)


class NativeModel:
    """One configuration in the compiled core: a handle the library's calls take, freed
    with this object."""

    def __init__(self, built: Built, kernel: Any) -> None:
        self.built = built
        self.kernel = kernel
        self.lib = built.lib
        self.kd = pack(built, kernel)
        self.width = int(self.kd[0])
        status = ctypes.c_int()
        handle = self.lib.ms_model_new(self.kd.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), len(self.kd),
                                       ctypes.byref(status))
        if not handle:
            raise NativeUnavailable(f"the compiled engine cannot hold this configuration (status {status.value})")
        self.handle = ctypes.c_void_p(handle)
        weakref.finalize(self, self.lib.ms_model_free, self.handle)

    def successors(self, state: bytes, *, canonical: bool, por: bool = False) -> list[tuple[int, bytes, int]]:
        states = np.zeros(MAX_OUT * self.width, dtype=np.uint8)
        actions = np.zeros(MAX_OUT, dtype=np.uint16)
        events = np.zeros(MAX_OUT, dtype=np.uint64)
        n = self.lib.ms_successors(self.handle, _bytes(state), int(canonical), int(por), states.ctypes.data_as(P_U8),
                                   actions.ctypes.data_as(ctypes.POINTER(ctypes.c_uint16)),
                                   events.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), MAX_OUT)
        if n < 0:
            raise model_error(-n - 1, self.lib, self.kernel)
        w = self.width
        raw = states[: n * w].tobytes()
        return [(int(actions[i]), raw[i * w:(i + 1) * w], int(events[i])) for i in range(n)]


class NativeError(Exception):
    """The model failed inside the compiled core (a ModelError or a field out of range)."""


def model_error(code: int, lib: Any, kernel: Any) -> Exception:
    """What the compiled core's error ``code`` means.  A variant's loop that spent its budget
    is bad input at the loop's line (the interpreter would run it just as long, or forever);
    anything else is a ``NativeError``, after which the interpreter runs the search."""
    variant = getattr(kernel, "variant", None)
    if code == ERR_LOOP and variant is not None:
        line = int(lib.ms_loop_line())
        name = variant.function_at(line) or "the variant"
        return InputError(variant.path, line, f"a loop of {name}() ran {LOOP_BUDGET:,} times in one step "
                          "(the compiled core's budget): a loop that never ends?")
    return NativeError(error_text(code))


STOP_REASONS = {1: "depth bound {max_depth} reached", 2: "state bound {max_states} reached",
                3: "stopped at the first violation",
                4: "the state table is full ({table_bytes:,} bytes): give it more memory"}


def native_bfs(
    native: NativeModel,
    *,
    symmetry: bool,
    por: bool,
    exact: bool = False,
    max_states: int | None = None,
    max_depth: int | None = None,
    stop_on_violation: bool = False,
    progress: Callable[[Progress], None] | None = None,
    progress_every: float = 0.5,
    chunk: int = 1024,
    threads: int = 1,
    table_bytes: int = 0,
    spill_dir: str = "",
    segment: int = 0,
    max_memory: int | None = None,
) -> SearchResult:
    """Breadth-first search in the compiled core: the same states, transitions, depth and
    first witnesses as ``explore.bfs`` with the same options (no checkpoints), on
    ``threads`` threads.  ``table_bytes`` > 0 fixes the visited set at that size, with
    compact entries; ``spill_dir`` keeps the frontier and parent links in files there.
    ``segment`` > 0 cuts the threaded search's levels into segments of about that many
    states instead of the core's default (262,144), so that tests see levels of many."""
    kernel, lib = native.kernel, native.lib
    start = time.perf_counter()
    events = list(kernel.events)
    property_bits = sum(1 << i for i, e in enumerate(events) if e.kind == "property")
    all_bits = (1 << len(events)) - 1
    init = kernel.initial()
    if symmetry:
        init = kernel.representative(init)
    status = ctypes.c_int()
    handle = lib.ms_search_new(native.handle, _bytes(init), int(symmetry), int(por), int(exact),
                               -1 if max_depth is None else max_depth, -1 if max_states is None else max_states,
                               int(stop_on_violation), property_bits, all_bits, chunk, max(1, threads), table_bytes,
                               spill_dir.encode(), ctypes.byref(status))
    if not handle:
        raise NativeError({-2: f"cannot make scratch files in {spill_dir}",
                           -3: "--exact keeps whole states: one thread, no compact table"}.get(status.value,
                                                                                              "out of memory"))
    search = ctypes.c_void_p(handle)
    if segment:
        lib.ms_search_set_segment(search, segment)
    try:
        bound = None if max_memory is None else MemoryBound(max_memory)
        return _run(native, search, start, events, symmetry=symmetry, exact=exact, max_states=max_states,
                    max_depth=max_depth, progress=progress, progress_every=progress_every, table_bytes=table_bytes,
                    bound=bound)
    finally:
        lib.ms_search_free(search)


def _run(native: NativeModel, search: Any, start: float, events: list[Any], *, symmetry: bool, exact: bool,
         max_states: int | None, max_depth: int | None, progress: Callable[[Progress], None] | None,
         progress_every: float, table_bytes: int, bound: MemoryBound | None) -> SearchResult:
    lib = native.lib
    figures = (ctypes.c_longlong * 10)()
    interrupted = False
    memory_stop = ""
    # A memory bound is looked at more often than progress is shown: between two looks the
    # search must not have grown past it.
    slices = min(progress_every, 0.1) if bound is not None else progress_every
    shown, before = 0.0, 0
    with stop_on_interrupt() as pressed:
        while True:
            status = lib.ms_search_run(search, slices)
            lib.ms_search_figures(search, figures)
            now = time.perf_counter()
            if progress is not None and (status != 0 or now - shown >= progress_every):
                shown = now
                progress(Progress(figures[0], figures[1], figures[2], figures[3], now - start))
            if status != 0:
                break
            if pressed():
                interrupted = True
                break
            if bound is not None:
                memory_stop = bound.reached(_growth(figures, 2 * (figures[0] - before), exact, native.width, table_bytes))
                before = figures[0]
                if memory_stop:
                    break
    if status == 3:
        raise model_error(lib.ms_search_error(search), lib, native.kernel)
    n = int(figures[0])
    witness_src = (ctypes.c_longlong * 64)()
    witness_action = (ctypes.c_int * 64)()
    lib.ms_search_witnesses(search, witness_src, witness_action)
    result = SearchResult(event_kinds={e.id: e.kind for e in events})
    path = np.zeros(MAX_PATH, dtype=np.uint16)
    for i, event in enumerate(events):
        if witness_src[i] >= 0:
            length = lib.ms_search_path(search, witness_src[i], path.ctypes.data_as(ctypes.POINTER(ctypes.c_uint16)),
                                        MAX_PATH)
            if length < 0:
                raise NativeError("the parent links of a witness could not be read back")
            steps = (*(int(a) for a in path[:length]), int(witness_action[i]))
            result.witnesses[event.id] = Witness(event.id, event.kind, steps)
    result.states = n
    result.transitions = int(figures[1])
    result.depth = int(figures[2])
    result.seconds = time.perf_counter() - start
    reason = STOP_REASONS.get(int(figures[4]), "").format(max_depth=max_depth, max_states=max_states,
                                                           table_bytes=table_bytes)
    if interrupted:
        reason = "interrupted (Ctrl-C)"
        result.interrupted = True
    elif memory_stop:
        reason = memory_stop
    result.complete = status == 1 and not interrupted and not memory_stop
    result.stop_reason = reason if not result.complete else ""
    result.bytes_per_state = int(figures[7]) / max(1, n)
    if not exact:
        buckets = int(figures[8])
        # A compact table tells two states apart by 56 bits of a second hash and their home
        # bucket; a growable one by the whole 64-bit fingerprint.
        result.collision_probability = (n * (n - 1) / 2 / (buckets * 2.0**56) if table_bytes > 0
                                        else collision_probability(n))
        if table_bytes > 0:
            result.store = "a fixed table of 8-byte entries, 56 hash bits and a home bucket"
    result.mode = "bfs"
    return result


def _growth(figures: Any, incoming: int, exact: bool, width: int, table_bytes: int) -> int:
    """What the search may add at once before the next look: a growable table that doubles
    (with the whole states of --exact), and the parent links and levels, which grow by
    doubling too."""
    buckets, states, held = int(figures[8]), int(figures[0]), int(figures[7])
    table = buckets * BUCKET * (8 + (width if exact else 0))
    grows = 0 if table_bytes else doubling(states, buckets * BUCKET, incoming, GROW_LOAD, 2 * table)
    return grows + max(0, held - table)


def _chunk_arrays(n_out: int, width: int) -> tuple[np.ndarray, ...]:
    return (np.zeros(n_out, np.uint32), np.zeros(n_out, np.uint16), np.zeros(n_out, np.uint64),
            np.zeros(n_out * width, np.uint8), np.zeros(n_out, np.uint64))


class NativeKernel:
    """A model whose chunks the compiled core expands: what worker processes (local, Dask
    or Ray) search with when the compiled engine runs in parallel.  Everything else is the
    model's own (``__getattr__``); its fingerprints are the core's, so that every state of
    one search is fingerprinted the same way."""

    def __init__(self, kernel: Any, native: NativeModel) -> None:
        self._kernel = kernel
        self._native = native

    def __getattr__(self, name: str) -> Any:
        return getattr(self._kernel, name)

    def fingerprint(self, state: bytes) -> int:
        buf = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
        return int(self._native.lib.ms_fingerprint(self._native.handle, buf))

    def insert_fingerprints(self, table: np.ndarray, fps: np.ndarray) -> tuple[np.ndarray, int]:
        """``FingerprintSet``'s batch insertion, in C: the parent of a chunked search
        absorbs every successor the workers send, and numpy's sort-and-probe rounds made
        it the bottleneck."""
        fps = np.ascontiguousarray(fps, dtype=np.uint64)
        fresh = np.zeros(len(fps), dtype=np.uint8)
        p_u64 = ctypes.POINTER(ctypes.c_uint64)
        added = self._native.lib.ms_insert_fingerprints(table.ctypes.data_as(p_u64), len(table),
                                                        fps.ctypes.data_as(p_u64), len(fps),
                                                        fresh.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        return fresh.view(np.bool_), int(added)

    def expand_chunk(self, blob: bytes, width: int, canonical: bool, por: bool) -> Any:
        from mmuspec.explore.expand import Expansion

        lib = self._native.lib
        n = len(blob) // width
        cap = max(64, n * 8)
        src = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
        total = ctypes.c_longlong()
        while True:
            sources, actions, events, states, fps = _chunk_arrays(cap, width)
            got = lib.ms_expand_chunk(self._native.handle, src, n, int(canonical), int(por),
                                      sources.ctypes.data_as(ctypes.POINTER(ctypes.c_uint32)),
                                      actions.ctypes.data_as(ctypes.POINTER(ctypes.c_uint16)),
                                      events.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)),
                                      states.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)),
                                      fps.ctypes.data_as(ctypes.POINTER(ctypes.c_uint64)), cap, ctypes.byref(total))
            if got <= -1000:
                raise model_error(int(-got - 1000), lib, self._native.kernel)
            if got >= 0:
                break
            cap = int(-got)
        return Expansion(sources[:got].copy(), actions[:got].copy(), events[:got].astype(np.int64),
                         states[: got * width].tobytes(), fps[:got].copy(), int(total.value))


def build_native_kernel(factory: Callable[[], Any], library: bytes | None = None) -> NativeKernel:
    """Picklable: the model ``factory`` builds, with the compiled core loaded in this process.
    ``library`` is the built shared library, for a machine that has no C compiler or no
    cached build (a cluster's workers)."""
    from mmuspec.native.build import install_library

    kernel = factory()
    if library is not None:
        install_library(kernel, library)
    return NativeKernel(kernel, load(kernel))
