"""Saving a search so that a killed run loses at most a few seconds of work.

A checkpoint is the whole ``SearchState`` (fingerprint table, parents, actions,
the rest of the current level and the part of the next one found so far), pickled
to a temporary file and renamed over the old one, so that a checkpoint on disk is
always complete.  It records a key of the model it belongs to; resuming with a
different model is refused.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmuspec.errors import InputError, UsageError

if TYPE_CHECKING:
    from mmuspec.explore.bfs import SearchState

FORMAT = "mmuspec-checkpoint-1"


class Checkpointer:
    def __init__(self, path: str, every: float, model_key: str) -> None:
        target = Path(path)
        if not target.parent.exists():
            raise UsageError(f"--checkpoint {path}: directory {target.parent} does not exist")
        self.path = target
        self.every = every
        self.model_key = model_key
        self.last = time.monotonic()
        self.saves = 0

    def maybe_save(self, state: SearchState, seconds: float) -> None:
        if time.monotonic() - self.last >= self.every:
            self.save(state, seconds)

    def save(self, state: SearchState, seconds: float) -> None:
        payload: dict[str, Any] = {"format": FORMAT, "model_key": self.model_key, "seconds": seconds, "state": state}
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(payload, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.last = time.monotonic()
        self.saves += 1


def load_checkpoint(path: str, model_key: str) -> SearchState:
    try:
        with open(path, "rb") as handle:
            payload = pickle.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--resume {path}: no such file") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise InputError(path, None, f"not an mmuspec checkpoint ({exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(path, None, "not an mmuspec checkpoint")
    if payload.get("model_key") != model_key:
        raise InputError(path, None, "this checkpoint was written for a different check "
                         "(scenario, era, switches, variant, size, reductions, engine or mmuspec's model differ)")
    state: SearchState = payload["state"]
    state.seconds = float(payload["seconds"])
    return state
