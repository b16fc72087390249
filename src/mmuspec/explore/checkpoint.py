"""Saving a search so that a killed run loses at most a few seconds of work.

A checkpoint is the whole ``SearchState`` (fingerprint table or whole states, parents,
actions, the rest of the current level and the part of the next one found so far),
written to a temporary file and renamed over the old one, so that a checkpoint on
disk is always complete.

Checkpoints are copied between machines and attached to bug reports, so the format
holds data only and is checked before anything in it is used:

* a magic line, then an 8-byte length and a JSON header (figures, the key of the
  search, and the length of every binary section), then the raw sections (numpy
  arrays of fixed types, state bytes), then the SHA-256 of everything before it;
* loading verifies the magic, the checksum over the whole file, the key (the model
  with its scenario, era, switches, variant source, sizes, reductions, engine and
  ``--exact``), then the shapes and ranges of every section, and refuses anything
  else in one line.  Nothing is unpickled and nothing is executed.

A damaged checkpoint could otherwise resume into other state counts reported as a
complete search, or a safe verdict where the saved search had found a violation.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from mmuspec.errors import InputError, UsageError
from mmuspec.staging import remove_stale, temp_prefix

if TYPE_CHECKING:
    from mmuspec.explore.bfs import SearchState

MAGIC = b"mmuspec-checkpoint-2\n"
FORMAT = "mmuspec-checkpoint-2"
DIGEST = 32
MAX_HEADER = 1 << 24


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
        self.warned = False
        remove_stale(target.parent, target.name)  # temporary files of a run killed while saving

    def maybe_save(self, state: SearchState, seconds: float) -> None:
        """A periodic save; one that fails (a full disk) warns once and lets the search go on,
        with the previous checkpoint left as it was."""
        if time.monotonic() - self.last >= self.every:
            self.save_or_warn(state, seconds)

    def save_or_warn(self, state: SearchState, seconds: float) -> bool:
        try:
            self.save(state, seconds)
        except OSError as exc:
            self.last = time.monotonic()
            if not self.warned:
                self.warned = True
                kept = "the previous one is kept" if self.path.exists() else "there is none yet"
                print(f"mmuspec: warning: checkpoint {self.path} not written ({exc.strerror or exc}); "
                      f"the search goes on, {kept}", file=sys.stderr, flush=True)
            return False
        return True

    def save(self, state: SearchState, seconds: float) -> None:
        header, sections = _encode(state, seconds, self.model_key)
        tmp = self.path.parent / f"{temp_prefix(self.path.name)}{os.urandom(4).hex()}"
        try:
            with open(tmp, "xb") as handle:
                digest = hashlib.sha256()
                _put(handle, digest, MAGIC)
                head = json.dumps(header, sort_keys=True).encode()
                _put(handle, digest, len(head).to_bytes(8, "little"))
                _put(handle, digest, head)
                for data in sections:
                    _put(handle, digest, data)
                handle.write(digest.digest())
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self.last = time.monotonic()
        self.saves += 1


def _put(handle: BinaryIO, digest: Any, data: bytes | memoryview) -> None:
    digest.update(data)
    handle.write(data)


def _encode(state: SearchState, seconds: float, model_key: str) -> tuple[dict[str, Any], list[bytes | memoryview]]:
    from mmuspec.explore.store import ExactSet

    store_bytes: bytes | memoryview
    if isinstance(state.store, ExactSet):
        store_kind, store_bytes = "exact", b"".join(sorted(state.store.seen))
    else:
        store_kind, store_bytes = "fingerprints", np.ascontiguousarray(state.store.table, dtype="<u8").data.cast("B")
    parents = np.ascontiguousarray(state.parents.used(), dtype="<u4").data.cast("B")
    actions = np.ascontiguousarray(state.actions.used(), dtype="<u2").data.cast("B")
    sections: list[bytes | memoryview] = [store_bytes, parents, actions, *state.frontier, *state.next_blobs]
    header = {
        "format": FORMAT,
        "model_key": model_key,
        "seconds": seconds,
        "width": state.width,
        "store": store_kind,
        "states": state.states,
        "frontier_base": state.frontier_base,
        "level": state.level,
        "transitions": state.transitions,
        "seen": state.seen,
        "witness_at": [[bit, src, act] for bit, (src, act) in sorted(state.witness_at.items())],
        "frontier": [len(b) for b in state.frontier],
        "next": [len(b) for b in state.next_blobs],
        "sections": [len(s) if isinstance(s, bytes) else s.nbytes for s in sections[:3]],
    }
    return header, sections


def load_checkpoint(path: str, model_key: str) -> SearchState:
    """The search saved in ``path``; an ``InputError`` (exit 2) in one line when the file is
    not a checkpoint, is damaged, or belongs to another search."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"--resume {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"--resume {path}: cannot read it ({exc.strerror or exc})") from None
    if not data.startswith(MAGIC):
        raise InputError(path, None, "not an mmuspec checkpoint (or one from an older mmuspec: start the search again)")
    body = memoryview(data)[: len(data) - DIGEST]
    if len(data) < len(MAGIC) + 8 + DIGEST or hashlib.sha256(body).digest() != data[-DIGEST:]:
        raise InputError(path, None, "damaged checkpoint (its checksum does not match; "
                         "the file was cut or changed): start the search again")
    try:
        return _decode(body, model_key)
    except _Foreign:
        raise InputError(path, None, "this checkpoint was written for a different check (scenario, era, "
                         "switches, variant, sizes, reductions, engine, --exact or mmuspec's model differ)") from None
    except _Bad as exc:
        raise InputError(path, None, f"damaged checkpoint ({exc})") from None


class _Bad(Exception):
    pass


class _Foreign(Exception):
    pass


def _decode(body: memoryview, model_key: str) -> SearchState:
    from mmuspec.explore.bfs import SearchState
    from mmuspec.explore.store import ExactSet, FingerprintSet

    at = len(MAGIC)
    size = int.from_bytes(body[at : at + 8], "little")
    at += 8
    if not 0 < size <= min(MAX_HEADER, len(body) - at):
        raise _Bad("bad header length")
    try:
        header = json.loads(bytes(body[at : at + size]))
    except (ValueError, UnicodeDecodeError):
        raise _Bad("header is not JSON") from None
    at += size
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _Bad("unknown format")
    if header.get("model_key") != model_key:
        raise _Foreign
    width = _int(header, "width", 1, 1 << 20)
    states = _int(header, "states", 1, 1 << 40)
    frontier = _lengths(header, "frontier", width)
    nexts = _lengths(header, "next", width)
    store_len, parents_len, actions_len = _lengths(header, "sections", 1)[:3] if len(header["sections"]) == 3 \
        else _fail("sections")
    if at + store_len + parents_len + actions_len + sum(frontier) + sum(nexts) != len(body):
        raise _Bad("section lengths do not add up to the file's size")
    if parents_len != 4 * states or actions_len != 2 * states:
        raise _Bad("parents and actions do not match the state count")

    def take(n: int) -> bytes:
        nonlocal at
        out = bytes(body[at : at + n])
        at += n
        return out

    raw_store = take(store_len)
    parents = np.frombuffer(take(parents_len), dtype="<u4").astype(np.uint32)
    actions = np.frombuffer(take(actions_len), dtype="<u2").astype(np.uint16)
    if states > 1 and bool(np.any(parents[1:] >= np.arange(1, states, dtype=np.uint64))):
        raise _Bad("a parent comes after its child")
    store: FingerprintSet | ExactSet
    if header.get("store") == "fingerprints":
        if store_len % 8 or store_len < 8 * 64 or (store_len // 8) & (store_len // 8 - 1):
            raise _Bad("fingerprint table size is not a power of two")
        store = FingerprintSet.restore({"table": np.frombuffer(raw_store, dtype=np.uint64)})
        if store.count > 0.9 * len(store.table) or store.count != states:
            raise _Bad("fingerprint table does not hold the saved states")
    elif header.get("store") == "exact":
        if store_len % width:
            raise _Bad("whole states do not match the state width")
        store = ExactSet()
        store.seen = {raw_store[i : i + width] for i in range(0, store_len, width)}
        if len(store.seen) != states:
            raise _Bad("whole states do not match the state count")
    else:
        raise _Bad("unknown store")
    st = SearchState(width, store, _grown(np.uint32, parents), _grown(np.uint16, actions),
                     [take(n) for n in frontier], _int(header, "frontier_base", 0, states))
    st.next_blobs = [take(n) for n in nexts]
    if st.frontier_base + sum(frontier) // width > states:
        raise _Bad("the frontier runs past the saved states")
    st.level = _int(header, "level", 0, 1 << 40)
    st.transitions = _int(header, "transitions", 0, 1 << 62)
    st.seen = _int(header, "seen", 0, (1 << 64) - 1)
    witness = header.get("witness_at")
    if not isinstance(witness, list):
        raise _Bad("witness_at")
    for item in witness:
        if not (isinstance(item, list) and len(item) == 3 and all(type(x) is int for x in item)
                and 0 <= item[1] < states and 0 <= item[2] < 1 << 16 and item[0] > 0):
            raise _Bad("witness_at")
        st.witness_at[item[0]] = (item[1], item[2])
    seconds = header.get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        raise _Bad("seconds")
    st.seconds = float(seconds)
    return st


def _grown(dtype: Any, values: np.ndarray) -> Any:
    from mmuspec.explore.bfs import GrowArray

    array = GrowArray(dtype, 0)
    array.size = 0
    array.extend(values)
    return array


def _fail(what: str) -> Any:
    raise _Bad(what)


def _int(header: dict[str, Any], key: str, low: int, high: int) -> int:
    value = header.get(key)
    if type(value) is not int or not low <= value <= high:
        raise _Bad(f"{key} out of range")
    return value


def _lengths(header: dict[str, Any], key: str, multiple: int) -> list[int]:
    value = header.get(key)
    if not isinstance(value, list) or not all(type(n) is int and n >= 0 and n % multiple == 0 for n in value):
        raise _Bad(f"{key} lengths")
    return value
