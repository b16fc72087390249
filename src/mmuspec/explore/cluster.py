"""Cluster addresses and connections, checked before any work starts.

A mistyped ``--cluster`` should fail in a second with one line, not after a search
has built its first levels, and not as a Dask or Ray traceback: the address is
parsed first, then a plain TCP connection tells whether anything listens there
(Dask's own connect would retry for its whole timeout).  Connection failures inside
Dask and Ray become the same kind of one-line error, and so does a Ray address
where ray is not installed.  ``ray:local`` starts a Ray of this machine's processes for
one command, bounded (its CPUs, 200 MB of shared memory for objects in flight, no
dashboard), and ``ray_session`` stops it again, on errors and Ctrl-C too.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mmuspec.errors import UsageError
from mmuspec.suggest import did_you_mean

DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc", "dask")
HINT = "use tcp://HOST:PORT (Dask), ray://HOST:PORT, ray:auto or ray:local (Ray)"
RAY_NAMED = ("ray:auto", "ray:local")  # Ray's own address="auto" and address="local"
RAY_LOCAL_OBJECTS = 200 << 20  # bytes of shared memory a local Ray may use for objects in flight


def check_address(address: str, option: str = "--cluster") -> None:
    """Reject an address that no runner could use: unknown scheme, no host or no port."""
    if address in RAY_NAMED:
        return
    scheme, sep, rest = address.partition("://")
    if not sep:
        raise UsageError(f"{option} {address}: not an address; {HINT}")
    if scheme not in (*DASK_SCHEMES, "ray"):
        hint = did_you_mean(scheme, (*DASK_SCHEMES, "ray"))
        raise UsageError(f"{option} {address}: unknown scheme {scheme!r}{hint}; {HINT}")
    if scheme in ("inproc", "ucx"):
        return
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"{option} {address}: expected {scheme}://HOST:PORT")


def check_reachable(address: str, option: str = "--cluster", timeout: float = 5.0) -> None:
    """Open and close a TCP connection to the scheduler or head node; for Ray, see first
    that ray is installed."""
    check_address(address, option)
    if address.startswith("ray"):
        _import_ray(address, option)
    scheme, _, rest = address.partition("://")
    if address in RAY_NAMED or scheme in ("inproc", "ucx"):
        return
    host, _, port = rest.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {address}: cannot reach the cluster ({exc.strerror or exc})") from None


def dask_client(address: str) -> Any:
    """A ``dask.distributed.Client`` on an existing scheduler."""
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - depends on the installation
        raise UsageError("--cluster needs dask.distributed: pip install 'mmuspec[cluster]'") from None
    try:
        return Client(address.removeprefix("dask://"), set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise UsageError(f"--cluster {address}: cannot connect to the Dask scheduler ({exc})") from None


def default_workers() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _import_ray(address: str, option: str = "--cluster") -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"{option} {address} needs ray: pip install 'mmuspec[ray]'") from None
    return ray


def ray_init(address: str, cpus: int | None = None) -> Any:
    """Connect to a Ray cluster (or use the one this process already runs; ``ray:local``
    starts one of ``cpus`` CPUs, by default this machine's); returns the ``ray`` module."""
    ray = _import_ray(address)
    if ray.is_initialized():
        return ray
    if address == "ray:local":
        ray.init(address="local", num_cpus=cpus or default_workers(), include_dashboard=False,
                 object_store_memory=RAY_LOCAL_OBJECTS, log_to_driver=False, logging_level=logging.ERROR)
        return ray
    try:
        ray.init(address="auto" if address == "ray:auto" else address, ignore_reinit_error=True,
                 log_to_driver=False)
    except (ConnectionError, OSError, TimeoutError, ValueError) as exc:  # pragma: no cover - needs a Ray cluster
        # (ValueError: a ray:// address where ray was installed without its client)
        raise UsageError(f"--cluster {address}: cannot connect to the Ray cluster ({exc})") from None
    return ray


@contextmanager
def ray_session(address: str, cpus: int | None = None) -> Iterator[Any]:
    """``ray_init``, and ``ray.shutdown`` at the end if Ray was started or connected here
    (a local Ray's processes stop with it); a session this process already had is kept."""
    ray = _import_ray(address)
    mine = not ray.is_initialized()
    try:
        yield ray_init(address, cpus)
    finally:
        if mine:  # also when Ctrl-C came while Ray was starting: what it started stops
            ray.shutdown()
