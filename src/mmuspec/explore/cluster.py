"""Cluster addresses and connections, checked before any work starts.

A mistyped ``--cluster`` should fail in a second with one line, not after a search
has built its first levels, and not as a Dask or Ray traceback: the address is
parsed first, then a plain TCP connection tells whether anything listens there
(Dask's own connect would retry for its whole timeout).  Connection failures inside
Dask and Ray become the same kind of one-line error.
"""

from __future__ import annotations

import socket
from typing import Any

from mmuspec.errors import UsageError
from mmuspec.suggest import did_you_mean

DASK_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc", "dask")
HINT = "use tcp://HOST:PORT (Dask), ray://HOST:PORT or ray:auto (Ray)"


def check_address(address: str, option: str = "--cluster") -> None:
    """Reject an address that no runner could use: unknown scheme, no host or no port."""
    if address == "ray:auto":
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
    """Open and close a TCP connection to the scheduler or head node."""
    check_address(address, option)
    scheme, _, rest = address.partition("://")
    if address == "ray:auto" or scheme in ("inproc", "ucx"):
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


def ray_init(address: str) -> Any:
    """Connect to an existing Ray cluster; returns the ``ray`` module."""
    try:
        import ray
    except ImportError:  # pragma: no cover - depends on the installation
        raise UsageError("--cluster ray:... needs ray: pip install 'mmuspec[ray]'") from None
    try:
        ray.init(address="auto" if address == "ray:auto" else address, ignore_reinit_error=True,
                 log_to_driver=False)
    except (ConnectionError, OSError, TimeoutError) as exc:  # pragma: no cover - needs a Ray cluster
        raise UsageError(f"--cluster {address}: cannot connect to the Ray cluster ({exc})") from None
    return ray
