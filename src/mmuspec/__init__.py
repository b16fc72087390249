"""mmuspec: an executable specification of the Linux MMU-notifier protocol.

``mmuspec.check(...)`` runs a check from Python and returns the ``CheckResult`` that
``mmuspec check`` prints (``mmuspec.api``).  It is imported on first use, so that
``import mmuspec`` stays cheap for the command line.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["CheckResult", "__version__", "check"]


def __getattr__(name: str) -> Any:
    if name in ("check", "CheckResult"):
        from mmuspec import api

        return getattr(api, name)
    raise AttributeError(f"module 'mmuspec' has no attribute {name!r}")
