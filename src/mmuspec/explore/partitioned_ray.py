"""The partitions of ``partitioned`` as Ray actors.

Each partition is an actor with two threads (``max_concurrency=2``): one runs the
driver's calls, the other takes the batches other partitions send it, so that two
partitions sending to each other at once never wait on each other (``receive`` only
appends to the inbox).  A batch's arrays travel through Ray's object store: on one node
the owner reads them in place, from shared memory, with no pickle of their bytes, and
copies them out once.  Each actor asks for one CPU, spread over the nodes; a cluster with
fewer CPUs than partitions is refused rather than left waiting.
On ``ray:local`` (and with no address) a Ray of one CPU per partition is started for the
search and stopped after it; on a cluster the actors are killed at the end, on errors and
on Ctrl-C too.  A partition whose process dies ends the search as the environment's
failure (exit status 5), as a local worker's death does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mmuspec.errors import EnvironmentFailure, UsageError
from mmuspec.explore.cluster import ray_session
from mmuspec.explore.partitioned import DIED, Batch, Partition


class RayPartition(Partition):
    def receive(self, batch: Batch) -> None:
        """On the actor's second thread (one append is atomic).  The arrays are read in
        place from the object store and copied out at once: the store then holds only the
        batches in flight, never a whole level's (which would spill to disk)."""
        self.inbox.append(Batch(batch.origin, batch.sequence, batch.fps.copy(), batch.states.copy(),
                                batch.parents.copy(), batch.actions.copy()))

    def post(self, peer: int, batch: Batch) -> Any:
        return self.peers[peer].receive.remote(batch)

    def settle(self, pending: list[Any]) -> None:
        import ray

        ray.get(pending)


class RayActors:
    def __init__(self, ray: Any, handles: list[Any]) -> None:
        self.ray, self.handles = ray, handles

    def each(self, method: str, *args: Any) -> list[Any]:
        return list(self._get([getattr(a, method).remote(*args) for a in self.handles]))

    def one(self, index: int, method: str, *args: Any) -> Any:
        return self._get(getattr(self.handles[index], method).remote(*args))

    def _get(self, refs: Any) -> Any:
        """The results; a partition whose process died (here, or in a peer's send to it)
        ends the search as the environment's failure."""
        try:
            return self.ray.get(refs)
        except self.ray.exceptions.RayActorError:
            raise EnvironmentFailure(DIED) from None


@contextmanager
def ray_partitions(address: str | None, count: int, args: tuple[Any, ...]) -> Iterator[RayActors]:
    """``count`` partitions on the Ray cluster at ``address`` (``ray://HOST:PORT``,
    ``ray:auto``), or on a local Ray started here (``ray:local``, or no address)."""
    address = address or "ray:local"
    with ray_session(address, cpus=count) as ray:
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < count:
            raise UsageError(f"--partitions {count}: the Ray cluster {address} has {cpus:g} CPUs, "
                             "and each partition takes one")
        actor = ray.remote(num_cpus=1, max_concurrency=2)(RayPartition)
        handles = [actor.options(scheduling_strategy="SPREAD").remote(i, count, *args) for i in range(count)]
        try:
            actors = RayActors(ray, handles)
            actors.each("connect", handles)
            yield actors
        finally:
            for handle in handles:
                ray.kill(handle)
