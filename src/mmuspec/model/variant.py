"""Variants: a user's Python file that replaces named steps or helpers of the model.

A variant is how a kernel developer expresses a proposed patch.  The file defines
functions named like the model's steps and helpers (``mmuspec steps`` lists
them); each receives the model instance ``k`` first, exactly as the original
does.  Functions whose names start with ``_`` are the file's own helpers.  The
module docstring, if any, describes the variant in reports.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from hashlib import sha256
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

from mmuspec.errors import InputError, UsageError
from mmuspec.inputs import read_text
from mmuspec.model.binding import VARIANT_MODULE, Rebinder, bind
from mmuspec.model.registry import FUNCTIONS


@dataclass(frozen=True, eq=False)
class Variant:
    path: str
    text: str
    description: str
    functions: dict[str, Any] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return sha256_text(self.text)[:12]

    def __hash__(self) -> int:
        return hash((self.path, self.text))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Variant) and (self.path, self.text) == (other.path, other.text)

    def __reduce__(self) -> tuple[Any, ...]:
        # Functions defined by exec() do not pickle; rebuild from the source instead.
        return (parse_variant, (self.text, self.path))

    def function_at(self, line: int) -> str | None:
        """The name of the innermost function of the file whose body holds ``line``."""
        found: ast.FunctionDef | None = None
        for node in ast.walk(ast.parse(self.text, self.path)):
            if not isinstance(node, ast.FunctionDef):
                continue
            inside = node.lineno <= line <= (node.end_lineno or node.lineno)
            if inside and (found is None or node.lineno > found.lineno):
                found = node
        return found.name if found is not None else None

    def bound(self) -> dict[str, Any]:
        """The model's functions by name with this variant's in place, every call by a bare
        name included (``binding.py``)."""
        return _binding(self)[0]

    def rebound(self, fn: Any) -> Any:
        """``fn`` (a function of the model) as it runs under this variant."""
        return _binding(self)[1].function(fn)

    def where(self, name: str) -> str:
        """``FILE:LINE`` of the replacement of ``name``, the file as the user named it."""
        return f"{self.path}:{self.functions[name].__code__.co_firstlineno}"

    def says(self, name: str) -> str:
        """What a trace prints instead of the upstream code of ``name``: the first line of the
        replacement's docstring, else where it is."""
        doc = (self.functions[name].__doc__ or "").strip().splitlines()
        return f"{doc[0]} ({self.where(name)})" if doc else f"replaced by {self.where(name)}"

    def calls(self, run: Callable[..., Any], *args: Any) -> tuple[Any, tuple[str, ...]]:
        """``run(*args)``'s result and the replaced functions it called, first call first.  Only
        for describing a trace (a profile hook on this thread): the search never pays for it."""
        codes = {fn.__code__: name for name, fn in self.functions.items()}
        seen: dict[str, None] = {}

        def hook(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                name = codes.get(frame.f_code)
                if name is not None:
                    seen.setdefault(name)

        previous = sys.getprofile()
        sys.setprofile(hook)
        try:
            result = run(*args)
        finally:
            sys.setprofile(previous)
        return result, tuple(seen)


@lru_cache(maxsize=8)
def _binding(variant: Variant) -> tuple[dict[str, Any], Rebinder]:
    rebinder = Rebinder(variant.functions)
    return bind(variant.functions, rebinder), rebinder


def sha256_text(text: str) -> str:
    """The hash a trace file records of a variant's source (``mmuspec replay --variant``
    checks the user's file against it)."""
    return sha256(text.encode()).hexdigest()


def load_variant(path: str) -> Variant:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"--variant {path}: no such file")
    data = p.read_bytes()
    if data.startswith(b"\x7fELF"):
        raise InputError(path, None, "an ELF binary, not a Python file: a variant is the Python source of the "
                         "functions it replaces")
    if b"\0" in data:
        raise InputError(path, data[:data.index(b"\0")].count(b"\n") + 1,
                         "a NUL byte: a binary file, not a Python file")
    return parse_variant(read_text(p, "variant file"), path)


def _check_signature(path: str, name: str, fn: Any) -> None:
    """The model calls ``name`` with the upstream function's positional parameters (all of
    them, or without those that have defaults); the replacement must accept every such call."""
    upstream = inspect.signature(FUNCTIONS[name])
    params = list(upstream.parameters.values())
    required = sum(1 for p in params if p.default is inspect.Parameter.empty)
    mine = inspect.signature(fn)
    for n in range(required, len(params) + 1):
        try:
            mine.bind(*range(n))
        except TypeError:
            wanted = ", ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                               for p in params)
            raise InputError(path, fn.__code__.co_firstlineno,
                             f"def {name}{_plain(mine)}: the model calls {name}() with {n} arguments; "
                             f"the upstream function is {name}({wanted})") from None


def _plain(sig: inspect.Signature) -> str:
    return "(" + ", ".join(str(p).split(":")[0] for p in sig.parameters.values()) + ")"


def parse_variant(text: str, path: str) -> Variant:
    # The source of the file's functions, for tracebacks and for the compiled core's
    # translator (inspect.getsource), as if it had been imported.
    linecache.cache[path] = (len(text), None, text.splitlines(True), path)
    try:
        code = compile(text, path, "exec")
    except SyntaxError as exc:
        raise InputError(path, exc.lineno, f"syntax error: {exc.msg}") from None
    module = ModuleType(VARIANT_MODULE)
    module.__file__ = path
    try:
        exec(code, module.__dict__)
    except KeyboardInterrupt as exc:  # a module body that never ends: say where Ctrl-C found it
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        if not frames:
            raise
        raise KeyboardInterrupt(f"{path}:{frames[-1].lineno}: the variant's module body was running") from None
    except Exception as exc:  # the user's module body failed; report where
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        line = frames[-1].lineno if frames else None
        raise InputError(path, line, f"{type(exc).__name__} while loading: {exc}") from None
    functions: dict[str, Any] = {}
    for name, value in vars(module).items():
        if not isinstance(value, FunctionType) or value.__module__ != module.__name__:
            continue
        if name.startswith("_"):
            continue
        if name not in FUNCTIONS:
            raise InputError(
                path,
                value.__code__.co_firstlineno,
                f"def {name}: the model has no step or helper named {name!r} "
                "(see 'mmuspec steps'; prefix your own helpers with _)",
            )
        _check_signature(path, name, value)
        functions[name] = value
    if not functions:
        raise InputError(path, None, "the file replaces no step or helper of the model")
    doc = (module.__doc__ or "").strip().splitlines()
    return Variant(path=path, text=text, description=doc[0] if doc else "", functions=functions)
