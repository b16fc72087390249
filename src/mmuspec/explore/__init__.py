"""Exhaustive exploration of a transition system; knows nothing of KVM.

The model contract is in ``api.py``; ``bfs.py`` is the search; ``trace.py``
re-executes a witness path.
"""

from mmuspec.explore.api import EventLike, Model
from mmuspec.explore.bfs import Progress, SearchOptions, bfs, collision_probability, fingerprint
from mmuspec.explore.result import SearchResult, Witness
from mmuspec.explore.trace import ReplayError, Step, concretize, replay

__all__ = [
    "EventLike",
    "Model",
    "Progress",
    "ReplayError",
    "SearchOptions",
    "SearchResult",
    "Step",
    "Witness",
    "bfs",
    "collision_probability",
    "concretize",
    "fingerprint",
    "replay",
]
