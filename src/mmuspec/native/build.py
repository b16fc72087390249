"""Building the compiled core for a model, and packing one configuration into it.

``compile_model(kernel)`` translates every step and guard the kernel's tables use (and
everything they call) to C, appends the generic engine (``engine.c``), and builds a
shared library with the system C compiler, as SPIN builds ``pan.c``.  The library is
cached under ``$XDG_CACHE_HOME/mmuspec`` (or ``~/.cache/mmuspec``), keyed by a hash of
the generated C: the model's source decides it, not the scenario or era, so one build
serves every configuration of the same model.  Translating takes a tenth of a second,
longer than a small search, so a manifest keyed by the hash of the files translation
reads (the model's and the translator's source, the engine, the variant) remembers
which library that source gave; a run whose source is unchanged loads it without
translating.  ``pack(kernel)`` turns one configuration
(tables, quotients, partial-order reduction, the model's data) into the int32 array the
library reads.

When there is no C compiler, or the model uses something the translator does not know
(``TranslateError``), ``compile_model`` raises ``NativeUnavailable`` with the reason in
one line, and the caller runs the interpreted engine instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from mmuspec.explore.por import PersistentSets
from mmuspec.native.sealed import intact, seal
from mmuspec.native.shapes import ARRAY, RAGGED, SCALAR, STRING, TranslateError, shape_at

ENGINE_VERSION = "3"
PRELUDE = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>
#include <unistd.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#define EXPORT __attribute__((visibility("default")))
typedef struct { long v[2]; } T2;
typedef struct { long v[3]; } T3;
typedef struct { long v[4]; } T4;
/* Everything a step reads or writes besides the state lives in the caller's context: the
 * configuration (KD, W, shared and read-only) and this call's events and error.  No
 * globals, so one library serves many configurations and many threads at once. */
typedef struct Cx {
    const int32_t *kd;
    int w;
    int err;
    uint64_t ev;
    uint32_t round;              /* value renaming's generation (engine.c, canon) */
    uint32_t named[256];
    uint8_t names[256];
} Cx;
#define KD (cx->kd)
#define W (cx->w)
#define EV (cx->ev)
#define ERR (cx->err)
enum { ERR_MODEL = 1, ERR_RANGE = 2, ERR_TOO_MANY = 3, ERR_PYTHON = 4 };
/* A read or write Python would refuse (or read from the end, for a negative index) stops
 * the compiled core with ERR_PYTHON; the interpreter then runs the search and says what
 * Python says. */
#define RD(S, I) ({ long _ri = (long)(I); (unsigned long)_ri < (unsigned long)W ? (long)(S)[_ri] : (ERR = ERR_PYTHON, 0L); })
#define SET(S, I, V) do { long _sv = (long)(V); long _si = (long)(I); \
    if (_sv < 0 || _sv > 255) ERR = ERR_RANGE; \
    if ((unsigned long)_si < (unsigned long)W) (S)[_si] = (uint8_t)_sv; else ERR = ERR_PYTHON; } while (0)
#define AT(BASE, IDX, LEN) ({ long _ai = (long)(IDX); (unsigned long)_ai < (unsigned long)(LEN) ? \
    (long)KD[(BASE) + _ai] : (ERR = ERR_PYTHON, 0L); })
static inline long pyfloordiv(Cx *cx, long a, long b) {
    if (!b) { ERR = ERR_PYTHON; return 0; }
    long q = a / b; return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}
static inline long pymod(Cx *cx, long a, long b) {
    if (!b) { ERR = ERR_PYTHON; return 0; }
    long r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r;
}
static inline T2 pydivmod(Cx *cx, long a, long b) { T2 r = {{pyfloordiv(cx, a, b), pymod(cx, a, b)}}; return r; }
"""
ERRORS = {1: "the model raised ModelError", 2: "a step drove a field out of 0..255", 3: "too many successors",
          4: "a step did what Python refuses (an index out of range, a division by zero)",
          5: "a loop of the variant ran 100,000,000 times in one step", -1: "out of memory"}


class NativeUnavailable(Exception):
    """The compiled core cannot run this model; the message says why, in one line."""


@dataclass
class Built:
    """A compiled model: the library, and what packing a configuration needs to know."""

    lib: Any
    path: Path
    steps: dict[str, int]
    guards: dict[str, int]
    slots: dict[tuple[str, ...], tuple[int, str, int]]
    strings: dict[str, int]
    header_slots: int
    total_slots: int
    compile_seconds: float
    cached: bool
    variant: str = ""

    def fits(self, kernel: Any) -> bool:
        """Whether this library serves ``kernel`` as it is (same variant, and the model's data
        has the shapes the library was generated for), without translating again."""
        if self.variant != (kernel.variant.digest if kernel.variant is not None else ""):
            return False
        try:
            return all(shape_at(kernel, path)[0] == kind and (kind not in (ARRAY,) or shape_at(kernel, path)[1] == arity)
                       for path, (_index, kind, arity) in self.slots.items())
        except (AttributeError, TranslateError):
            return False


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mmuspec" / "native"


def compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def generate(kernel: Any) -> tuple[str, Any, list[str], list[str]]:
    """The C source for ``kernel``'s model, the translator (its slots and strings), and the
    step and guard names in dispatch order."""
    from mmuspec.model.registry import FUNCTIONS, STEPS
    from mmuspec.native.translate import LOOP_BUDGET, Translator

    functions = dict(getattr(kernel, "functions", FUNCTIONS))
    tr = Translator(kernel, functions)
    # Every step of the model, not only this configuration's: one library serves them all.
    steps = sorted(STEPS)
    guards = sorted({g for g in (STEPS[name].guard for name in steps) if g})
    cnames = {name: tr.request(name, functions[name]) for name in steps + guards}
    all_done = tr.resolve_method("all_done")
    assert all_done is not None
    tr.request("all_done", all_done)
    protos = []
    for cname in tr.order:
        func = tr.funcs[cname]
        protos.append(func.c.split(" {", 1)[0] + ";")
    budget = ["static _Thread_local long VBUDGET;\nstatic long VLINE;"] if tr.budgeted else []
    reset = f"    VBUDGET = {LOOP_BUDGET};\n" if tr.budgeted else ""
    parts = [PRELUDE, *budget, "\n".join(protos), *(tr.funcs[c].c for c in tr.order)]
    parts.append("static long dispatch_guard(Cx *cx, int id, uint8_t *s, long t, long arg) {\n" + reset
                 + "    switch (id) {\n"
                 + "".join(f"    case {i}: return {cnames[g]}(cx, s, t, arg);\n" for i, g in enumerate(guards))
                 + "    }\n    return 0;\n}")
    parts.append("static void dispatch_step(Cx *cx, int id, uint8_t *s, long t, long arg) {\n" + reset
                 + "    switch (id) {\n"
                 + "".join(f"    case {i}: {cnames[n]}(cx, s, t, arg); break;\n" for i, n in enumerate(steps))
                 + "    }\n}")
    engine = (resources.files("mmuspec.native") / "engine.c").read_text(encoding="utf-8")
    parts.append(engine)
    if tr.budgeted:
        parts.append("EXPORT long ms_loop_line(void) { return VLINE; }")
    return "\n\n".join(parts) + "\n", tr, steps, guards


def source_key(kernel: Any) -> str:
    """A hash of everything ``generate`` reads apart from the shapes of the model's data
    (which ``Built.fits`` checks): the model's and the translator's source files, the
    engine, the variant's text and the Python version (whose ``ast`` the translator reads)."""
    digest = hashlib.sha256(f"{ENGINE_VERSION} {sys.version_info[:2]}".encode())
    package = resources.files("mmuspec")
    for folder in ("model", "native"):
        for entry in sorted((package / folder).iterdir(), key=lambda e: e.name):
            if entry.name.endswith((".py", ".c")):
                digest.update(entry.name.encode() + b"\0" + entry.read_bytes())
    if kernel.variant is not None:
        digest.update(b"variant\0" + kernel.variant.text.encode())
    return digest.hexdigest()[:20]


def compile_model(kernel: Any, loaded: dict[str, Built] | None = None) -> Built:
    """Find in the cache (through the manifest, or by translating), or build, and load the
    compiled core for ``kernel``; ``loaded`` keeps libraries this process has loaded
    already, by digest."""
    started = time.perf_counter()
    remembered = _from_manifest(kernel, started)
    if remembered is not None:
        if loaded is not None:
            loaded.setdefault(remembered.path.stem, remembered)
        return remembered
    try:
        source, tr, steps, guards = generate(kernel)
    except TranslateError as exc:
        raise NativeUnavailable(f"the compiled engine cannot translate the model: {exc}") from None
    digest = hashlib.sha256((ENGINE_VERSION + source).encode()).hexdigest()[:20]
    if loaded is not None and f"mmuspec-{digest}" in loaded:
        return loaded[f"mmuspec-{digest}"]
    folder = cache_dir()
    lib_path = folder / f"mmuspec-{digest}.so"
    cached = intact(lib_path)
    if not cached:
        _build(source, lib_path)
    lib = ctypes.CDLL(str(lib_path))
    _declare(lib)
    slots = {path: (slot.index, slot.kind, slot.arity) for path, slot in tr.slots.items()}
    built = Built(lib, lib_path, {n: i for i, n in enumerate(steps)}, {g: i for i, g in enumerate(guards)},
                  slots, dict(tr.strings), tr.HEADER_SLOTS, tr.next_slot, time.perf_counter() - started, cached,
                  kernel.variant.digest if kernel.variant is not None else "")
    _write_manifest(kernel, built, steps, guards)
    if loaded is not None:
        loaded[lib_path.stem] = built
    return built


def _build(source: str, lib_path: Path) -> None:
    cc = compiler()
    if cc is None:
        raise NativeUnavailable("no C compiler (cc, gcc or clang) on PATH")
    folder = lib_path.parent
    try:
        _compile(cc, source, lib_path)
    except OSError as exc:
        raise NativeUnavailable(f"cannot write the compiled engine's cache {folder} ({exc.strerror or exc})") from None
    seal(lib_path)


def _compile(cc: str, source: str, lib_path: Path) -> None:
    folder = lib_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as work:
        c_path = Path(work) / "model.c"
        c_path.write_text(source, encoding="utf-8")
        tmp_lib = Path(work) / "model.so"
        cmd = [cc, "-O2", "-pthread", "-fPIC", "-shared", "-fvisibility=hidden", "-o", str(tmp_lib), str(c_path)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["?"])[0]
            raise NativeUnavailable(f"the C compiler failed on the translated model: {first}")
        os.replace(tmp_lib, lib_path)
        (folder / f"{lib_path.stem}.c").write_text(source, encoding="utf-8")


def _manifest_path(kernel: Any) -> Path:
    return cache_dir() / f"source-{source_key(kernel)}.json"


def _write_manifest(kernel: Any, built: Built, steps: list[str], guards: list[str]) -> None:
    """Remember which library this source gave, and what packing needs to know about it."""
    record = {"library": built.path.name, "steps": steps, "guards": guards,
              "slots": [[list(path), *slot] for path, slot in built.slots.items()],
              "strings": built.strings, "header_slots": built.header_slots, "total_slots": built.total_slots}
    path = _manifest_path(kernel)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _from_manifest(kernel: Any, started: float) -> Built | None:
    """The library the manifest names for this source, if it is there and fits ``kernel``'s
    shapes; None sends the caller to translate."""
    try:
        record = json.loads(_manifest_path(kernel).read_text(encoding="utf-8"))
        lib_path = cache_dir() / record["library"]
        if not intact(lib_path):
            return None
        slots = {tuple(path): (index, kind, arity) for path, index, kind, arity in record["slots"]}
        built = Built(None, lib_path, {n: i for i, n in enumerate(record["steps"])},
                      {g: i for i, g in enumerate(record["guards"])}, slots, dict(record["strings"]),
                      record["header_slots"], record["total_slots"], 0.0, True,
                      kernel.variant.digest if kernel.variant is not None else "")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not built.fits(kernel):
        return None
    built.lib = ctypes.CDLL(str(lib_path))
    _declare(built.lib)
    built.compile_seconds = time.perf_counter() - started
    return built


def library_path(kernel: Any) -> Path:
    """Where the library for ``kernel``'s model is (or would be) cached."""
    source, *_ = generate(kernel)
    digest = hashlib.sha256((ENGINE_VERSION + source).encode()).hexdigest()[:20]
    return cache_dir() / f"mmuspec-{digest}.so"


def install_library(kernel: Any, library: bytes) -> None:
    """Put a library built elsewhere into this machine's cache, if it has none yet."""
    path = library_path(kernel)
    if not intact(path):
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(library)
            os.replace(tmp, path)
        except OSError:  # an unwritable cache: this machine builds its own, or interprets
            tmp.unlink(missing_ok=True)
            return
        seal(path)


def _declare(lib: Any) -> None:
    p_u8, p_u16 = ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_uint16)
    p_u32, p_i32 = ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_int32)
    p_i64, p_u64 = ctypes.POINTER(ctypes.c_longlong), ctypes.POINTER(ctypes.c_uint64)
    p_int, handle = ctypes.POINTER(ctypes.c_int), ctypes.c_void_p
    lib.ms_model_new.argtypes = [p_i32, ctypes.c_int, p_int]
    lib.ms_model_new.restype = handle
    lib.ms_model_free.argtypes = [handle]
    lib.ms_model_free.restype = None
    lib.ms_width.argtypes = [handle]
    lib.ms_successors.argtypes = [handle, p_u8, ctypes.c_int, ctypes.c_int, p_u8, p_u16, p_u64, ctypes.c_int]
    lib.ms_search_new.argtypes = [handle, p_u8, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                                  ctypes.c_longlong, ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int,
                                  ctypes.c_int, ctypes.c_longlong, ctypes.c_char_p, p_int]
    lib.ms_search_new.restype = handle
    lib.ms_search_set_segment.argtypes = [handle, ctypes.c_longlong]
    lib.ms_search_set_segment.restype = None
    lib.ms_search_run.argtypes = [handle, ctypes.c_double]
    lib.ms_search_figures.argtypes = [handle, p_i64]
    lib.ms_search_figures.restype = None
    lib.ms_search_error.argtypes = [handle]
    lib.ms_search_witnesses.argtypes = [handle, p_i64, p_int]
    lib.ms_search_witnesses.restype = None
    lib.ms_search_path.argtypes = [handle, ctypes.c_longlong, p_u16, ctypes.c_int]
    lib.ms_search_free.argtypes = [handle]
    lib.ms_search_free.restype = None
    lib.ms_fingerprint.argtypes = [handle, p_u8]
    lib.ms_fingerprint.restype = ctypes.c_uint64
    lib.ms_expand_chunk.argtypes = [handle, p_u8, ctypes.c_int, ctypes.c_int, ctypes.c_int, p_u32, p_u16, p_u64,
                                    p_u8, p_u64, ctypes.c_longlong, p_i64]
    lib.ms_expand_chunk.restype = ctypes.c_longlong
    lib.ms_insert_fingerprints.argtypes = [p_u64, ctypes.c_ulonglong, p_u64, ctypes.c_longlong, p_u8]
    lib.ms_insert_fingerprints.restype = ctypes.c_longlong


# -- packing one configuration ---------------------------------------------------------

def pack(built: Built, kernel: Any) -> np.ndarray:
    """The int32 array the compiled core reads for ``kernel``'s configuration."""
    kd: list[int] = [0] * built.total_slots
    strings = dict(built.strings)

    def string_id(text: str) -> int:
        if text not in strings:
            strings[text] = len(strings) + 1000
        return strings[text]

    def put(values: list[int]) -> int:
        offset = len(kd)
        kd.extend(values)
        return offset

    for path, (index, kind, arity) in built.slots.items():
        value: Any = kernel
        for part in path:
            value = getattr(value, part)
        if kind == SCALAR:
            kd[index] = int(value)
        elif kind == STRING:
            kd[index] = string_id(value)
        elif kind == ARRAY:
            flat = [int(x) for item in value for x in (item if arity > 1 else (item,))]
            kd[index], kd[index + 1] = put(flat), len(value)
        elif kind == RAGGED:
            rows = [put([int(x) for x in row]) for row in value]
            table = put([v for row, off in zip(value, rows, strict=True) for v in (off, len(row))])
            kd[index], kd[index + 1] = table, len(value)
    _pack_engine(built, kernel, kd, put)
    return np.array(kd, dtype=np.int32)


def _pack_engine(built: Built, kernel: Any, kd: list[int], put: Any) -> None:
    from mmuspec.model.events import DEADLOCK
    from mmuspec.model.kernel import DEADLOCK_ACTION
    from mmuspec.model.layout import V_SNAP
    from mmuspec.model.symmetry import LIVE_SNAPSHOT

    threads = []
    for (t, base, table), done in zip(kernel._tables, kernel.done_pc, strict=True):
        per_pc = []
        for entries in table:
            flat = []
            for action, _fn, guard, arg in entries:
                name = kernel.step_keys[action & 0xFF][0]
                gname = guard.__name__ if guard is not None else None
                flat += [action, built.steps[name], built.guards[gname] if gname else -1, arg]
            per_pc += [put(flat) if flat else 0, len(entries)]
        threads += [base, done, len(table), put(per_pc)]
        del t
    kd[0], kd[1], kd[2] = kernel.L.size, len(kernel.threads), put(threads)
    kd[3] = DEADLOCK_ACTION
    kd[4], kd[5] = _lo(DEADLOCK), _hi(DEADLOCK)
    sym = kernel.symmetry
    live = sum(1 << pc for pc in LIVE_SNAPSHOT)
    kd[6], kd[7], kd[8] = int(sym.seq), sym.seq_index, int(sym.vcpus)
    kd[9], kd[10], kd[11], kd[12] = len(sym.bases), put(list(sym.bases)), sym.width, V_SNAP
    kd[13], kd[14] = _lo(live), _hi(live)
    kd[15], kd[16], kd[17], kd[18] = int(sym.values), len(sym.value_fields), put(list(sym.value_fields)), \
        sym.last_written
    declaration = kernel.footprints()
    sets = PersistentSets(declaration) if declaration is not None else None
    if sets is not None and sets.useful:
        kd[19], kd[20] = 1, len(sets.pc_at)
        kd[21], kd[22] = put(list(sets.pc_at)), put(list(sets.done))
        blockers_of: list[int] = []
        for thread_blockers in sets.blockers:
            pcs: list[int] = []
            for others in thread_blockers:
                pcs += [put(list(others)) if others else 0, len(others)]
            blockers_of += [put(pcs), len(thread_blockers)]
        kd[23] = put(blockers_of)


def _lo(value: int) -> int:
    low = value & 0xFFFFFFFF
    return low - (1 << 32) if low >= 1 << 31 else low


def _hi(value: int) -> int:
    return _lo(value >> 32)


def error_text(code: int) -> str:
    return ERRORS.get(code, f"error {code}")
