"""What the explorer needs from a model, and nothing more.

A model is a transition system over states that are ``bytes`` (one byte per
field, so they hash, pickle and fingerprint cheaply).  Each transition carries an
action number (for traces) and a bit set of events; the model's event catalogue
says which bit means what and whether it is a property violation, a warning, or
an observation.  The explorer knows no more about the model than this.

Two things are optional.  A model with interchangeable parts offers
``representative(state)`` (``SymmetricModel``).  A model that declares what its threads'
steps touch offers ``footprints()`` and ``successors(state, thread)``, and gets
partial-order reduction (``por.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

EventKind = Literal["property", "warning", "observation"]


class EventLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def kind(self) -> EventKind: ...


class Model(Protocol):
    @property
    def events(self) -> Sequence[EventLike]: ...

    def initial(self) -> bytes: ...

    def successors(self, state: bytes) -> list[tuple[int, bytes, int]]:
        """(action, next state, event bits) for every enabled transition."""
        ...


class SymmetricModel(Model, Protocol):
    def representative(self, state: bytes) -> bytes:
        """A canonical member of the state's symmetry class."""
        ...
