"""Where chunks are expanded: in this process, in local worker processes, or on a
Dask or Ray cluster.  Every runner returns expansions in the order the chunks were
given, so the search, and its state numbering, is the same whatever runs it.

Workers rebuild the model from a picklable factory once, then expand chunks.  A Dask
or Ray worker outlives a check and serves the next one, so what it keeps is keyed by
everything that defines the model (the search's key: scenario, era, switches, variant
source, sizes, reductions, engine and model source, with the state width and the
quotients), and it keeps one model at a time: building the next one also loads its
configuration into the compiled core, which must not answer for the previous one.

Local worker processes die with the search that started them (``PR_SET_PDEATHSIG``),
and a worker that dies during a search ends it as the environment's failure
(``EnvironmentFailure``, exit status 5), after a last checkpoint when there is one.
"""

from __future__ import annotations

import multiprocessing
import pickle
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from hashlib import sha256
from typing import Any, Protocol

from mmuspec.errors import EnvironmentFailure, UsageError
from mmuspec.explore.api import Model
from mmuspec.explore.cluster import dask_client, ray_init
from mmuspec.explore.expand import Expansion, expand
from mmuspec.explore.interrupt import ignore_interrupts
from mmuspec.explore.por import PersistentSets, persistent_sets

ModelFactory = Callable[[], Model]


class Runner(Protocol):
    workers: int

    def map(self, chunks: Iterable[bytes]) -> Iterator[Expansion]: ...

    def close(self) -> None: ...


def _representative(model: Model, symmetric: bool) -> Callable[[bytes], bytes] | None:
    return getattr(model, "representative", None) if symmetric else None


def _reduction(model: Model, por: bool) -> PersistentSets | None:
    return persistent_sets(model) if por else None


class SerialRunner:
    workers = 1

    def __init__(self, model: Model, width: int, symmetric: bool, por: bool = False) -> None:
        self.model, self.width = model, width
        self.rep = _representative(model, symmetric)
        self.por = _reduction(model, por)

    def map(self, chunks: Iterable[bytes]) -> Iterator[Expansion]:
        for blob in chunks:
            yield expand(self.model, blob, self.width, self.rep, self.por)

    def close(self) -> None:
        pass


_WORKER: dict[str, Any] = {}


def _init_worker(factory: ModelFactory, width: int, symmetric: bool, por: bool) -> None:
    ignore_interrupts()
    model = factory()
    _WORKER.update(model=model, width=width, rep=_representative(model, symmetric), por=_reduction(model, por))


def _expand_here(blob: bytes) -> Expansion:
    return expand(_WORKER["model"], blob, _WORKER["width"], _WORKER["rep"], _WORKER["por"])


class ProcessRunner:
    """Local worker processes (the embedded default for --workers N)."""

    def __init__(self, factory: ModelFactory, width: int, symmetric: bool, workers: int, por: bool = False) -> None:
        self.workers = workers
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context(method),
            initializer=_init_worker,
            initargs=(factory, width, symmetric, por),
        )

    def map(self, chunks: Iterable[bytes]) -> Iterator[Expansion]:
        ahead: deque[Future[Expansion]] = deque()
        for blob in chunks:
            ahead.append(self.pool.submit(_expand_here, blob))
            if len(ahead) > 2 * self.workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


Cached = tuple[Model, Callable[[bytes], bytes] | None, PersistentSets | None]
_CACHED: OrderedDict[str, Cached] = OrderedDict()
_BUILDING = threading.Lock()
KEEP = 4  # models a reused worker keeps, the least recently used dropped first


def cache_key(model_key: str, payload: bytes, width: int, symmetric: bool, por: bool) -> str:
    """What a reused worker keys its model by: the search's own key when it has one (it names
    everything that defines the model), and the factory's bytes in every case."""
    text = f"{model_key}\0{sha256(payload).hexdigest()}\0{width}:{symmetric}:{por}"
    return sha256(text.encode()).hexdigest()


def _cached_model(token: str, payload: bytes, symmetric: bool, por: bool) -> Cached:
    """The model of the search ``token`` names, built once per worker process.  The threads of
    one Dask worker build under a lock: two checks sent at once would otherwise build two
    models at once, and CPython 3.11's ``ast`` module (which building a model uses) is not
    safe for that (python/cpython#106905: "AST constructor recursion depth mismatch").  A
    worker keeps a few models, so that two checks sharing it do not rebuild on every chunk;
    each compiled model holds its own configuration, so several can live in one process."""
    with _BUILDING:
        if token in _CACHED:
            _CACHED.move_to_end(token)
            return _CACHED[token]
        model = pickle.loads(payload)()
        _CACHED[token] = cached = (model, _representative(model, symmetric), _reduction(model, por))
        while len(_CACHED) > KEEP:
            _CACHED.popitem(last=False)
        return cached


def _expand_remote(blob: bytes, token: str, payload: bytes, width: int, symmetric: bool, por: bool) -> Expansion:
    model, rep, reduction = _cached_model(token, payload, symmetric, por)
    return expand(model, blob, width, rep, reduction)


class DaskRunner:
    """Chunks as Dask tasks on an existing ``dask.distributed`` scheduler."""

    def __init__(self, address: str, factory: ModelFactory, width: int, symmetric: bool, por: bool = False,
                 model_key: str = "") -> None:
        self.client = dask_client(address)
        payload = pickle.dumps(factory)
        self.args = (cache_key(model_key, payload, width, symmetric, por), self.client.scatter(payload, broadcast=True),
                     width, symmetric, por)
        self.workers = max(1, sum(self.client.nthreads().values()))

    def map(self, chunks: Iterable[bytes]) -> Iterator[Expansion]:
        ahead: deque[Any] = deque()
        for blob in chunks:
            ahead.append(self.client.submit(_expand_remote, blob, *self.args, pure=False))
            if len(ahead) > 2 * self.workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()

    def close(self) -> None:
        self.client.close()


class RayRunner:
    """Chunks as Ray tasks on an existing Ray cluster (``ray://host:port`` or ``ray:auto``)."""

    def __init__(self, address: str, factory: ModelFactory, width: int, symmetric: bool, por: bool = False,
                 model_key: str = "") -> None:
        self.ray = ray = ray_init(address)
        payload = pickle.dumps(factory)
        self.task = ray.remote(_expand_remote)
        self.args = (cache_key(model_key, payload, width, symmetric, por), ray.put(payload), width, symmetric, por)
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))

    def map(self, chunks: Iterable[bytes]) -> Iterator[Expansion]:
        ahead: deque[Any] = deque()
        for blob in chunks:
            ahead.append(self.task.remote(blob, *self.args))
            if len(ahead) > 2 * self.workers:
                yield self.ray.get(ahead.popleft())
        while ahead:
            yield self.ray.get(ahead.popleft())

    def close(self) -> None:
        self.ray.shutdown()


def make_runner(
    model: Model,
    factory: ModelFactory | None,
    width: int,
    symmetric: bool,
    workers: int,
    cluster: str | None,
    por: bool = False,
    model_key: str = "",
) -> Runner:
    if cluster:
        if factory is None:
            raise UsageError("--cluster needs a model that can be rebuilt in another process")
        if cluster.startswith("ray"):
            return RayRunner(cluster, factory, width, symmetric, por, model_key)
        return DaskRunner(cluster, factory, width, symmetric, por, model_key)
    if workers > 1 and factory is not None:
        return ProcessRunner(factory, width, symmetric, workers, por)
    return SerialRunner(model, width, symmetric, por)


class _Saver(Protocol):
    def save_or_warn(self, state: Any, seconds: float) -> bool: ...


def worker_guard(expansions: Iterator[Expansion], checkpointer: _Saver | None, state: Any,
                 started: float) -> Iterator[Expansion]:
    """``expansions``, except that a worker process that died (killed, out of memory) ends the
    search as the environment's failure, after saving what was absorbed so far."""
    try:
        yield from expansions
    except BrokenProcessPool:
        kept = ""
        if checkpointer is not None:
            import time

            saved = checkpointer.save_or_warn(state, state.seconds + time.perf_counter() - started)
            kept = f"; the search so far is in {checkpointer.path} (--resume continues it)" if saved else ""  # type: ignore[attr-defined]
        raise EnvironmentFailure(f"a worker process died during the search (killed, or out of memory){kept}") from None
