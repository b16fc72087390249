"""The partitions of ``partitioned`` as Dask actors.

A Dask actor runs its methods one at a time on the worker's actor thread, except
coroutines, which run on the worker's event loop: ``receive`` is one, so that two
partitions sending to each other at once never wait on each other.  Without an address a
``LocalCluster`` of one process per partition is started and closed again.  A partition
whose worker dies ends the search as the environment's failure (exit status 5).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mmuspec.errors import EnvironmentFailure, UsageError
from mmuspec.explore.partitioned import DIED, Batch, Partition


class DaskPartition(Partition):
    async def receive(self, batch: Batch) -> None:
        self.inbox.append(batch)

    def post(self, peer: int, batch: Batch) -> Any:
        return self.peers[peer].receive(batch)

    def settle(self, pending: list[Any]) -> None:
        for future in pending:
            future.result()


class DaskActors:
    def __init__(self, handles: list[Any]) -> None:
        self.handles = handles

    def each(self, method: str, *args: Any) -> list[Any]:
        return [_result(f) for f in [getattr(a, method)(*args) for a in self.handles]]

    def one(self, index: int, method: str, *args: Any) -> Any:
        return _result(getattr(self.handles[index], method)(*args))


def _result(future: Any) -> Any:
    """An actor call's result; an actor whose worker is gone ("Unable to contact Actor's
    worker") ends the search as the environment's failure."""
    try:
        return future.result()
    except OSError:
        raise EnvironmentFailure(DIED) from None


@contextmanager
def dask_partitions(address: str | None, count: int, args: tuple[Any, ...]) -> Iterator[DaskActors]:
    """``count`` partitions on the Dask scheduler at ``address``, or on a local cluster."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the installation
        raise UsageError("--partitions needs dask.distributed: pip install 'mmuspec[cluster]'") from None
    cluster = None
    if address is None:
        cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None,
                               memory_limit=0)
        address = cluster.scheduler_address
    client = Client(address.removeprefix("dask://"), set_as_default=False)
    try:
        with client.as_current():  # the actors' handles find their client here
            workers = sorted(client.scheduler_info()["workers"])
            handles = [client.submit(DaskPartition, i, count, *args, actor=True,
                                     workers=[workers[i % len(workers)]]).result() for i in range(count)]
            actors = DaskActors(handles)
            actors.each("connect", handles)
            yield actors
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
