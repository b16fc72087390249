"""What a call by name reaches, once a variant has replaced some of the model's functions.

Steps call each other two ways: ``k.kvm_set_spte_gfn(...)`` (through the model object,
which binds the registered functions) and ``ptl_free(k, s, t, arg)`` (a bare name, imported
from the module that defines it; ``accessor.py``'s ``fault_can_run`` does this).  A variant
is a proposed patch: the replacement must be what *every* call reaches, or the check runs a
kernel nobody proposed.  The first form follows the model object; for the second, the model's
functions are copied with module globals in which each replaced name is the replacement.
Copies, because the modules are shared: a model without the variant (the same process's
next check) keeps the upstream functions.  A variant's own alias of an upstream function
(``from mmuspec.model.arch import kvm_set_spte_gfn as _upstream``) still reaches the upstream
body, whose own calls reach the replacements.

The compiled core's translator reads the same copies (their ``__globals__``), so both
engines run one program.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FunctionType
from typing import Any

from mmuspec.model.registry import FUNCTIONS

Fn = Callable[..., Any]
VARIANT_MODULE = "mmuspec_variant"
_MODEL_PACKAGE = "mmuspec.model."


def bind(replacements: dict[str, Fn], rebinder: Rebinder | None = None) -> dict[str, Fn]:
    """Every registered function by name, the replacements instead of the originals, with
    every bare-name call inside the model and the variant reaching the replacement."""
    if not replacements:
        return dict(FUNCTIONS)
    rebinder = rebinder or Rebinder(replacements)
    return {name: rebinder.function(replacements.get(name, fn)) for name, fn in FUNCTIONS.items()}


class Rebinder:
    """Copies of the model's functions whose globals route replaced names to the variant."""

    def __init__(self, replacements: dict[str, Fn]) -> None:
        self.replacements = replacements
        self._functions: dict[int, Fn] = {}
        self._globals: dict[int, dict[str, Any]] = {}
        self._filled: set[int] = set()

    def function(self, fn: Fn) -> Fn:
        """``fn`` as the variant's model runs it (itself when it is not the model's code)."""
        if not isinstance(fn, FunctionType) or not _is_model_code(fn):
            return fn
        done = self._functions.get(id(fn))
        if done is not None:
            return done
        copy = FunctionType(fn.__code__, self._namespace(fn.__globals__), fn.__name__, fn.__defaults__,
                            fn.__closure__)
        copy.__kwdefaults__ = fn.__kwdefaults__
        copy.__qualname__ = fn.__qualname__
        copy.__module__ = fn.__module__
        copy.__doc__ = fn.__doc__
        copy.__annotations__ = dict(fn.__annotations__)
        copy.__dict__.update(fn.__dict__)
        copy.__dict__["__upstream__"] = fn
        self._functions[id(fn)] = copy  # before filling the globals: functions call each other
        self._fill(fn.__globals__)
        return copy

    def _namespace(self, namespace: dict[str, Any]) -> dict[str, Any]:
        return self._globals.setdefault(id(namespace), {})

    def _fill(self, namespace: dict[str, Any]) -> None:
        if id(namespace) in self._filled:
            return
        self._filled.add(id(namespace))
        copy = self._namespace(namespace)
        for name, value in namespace.items():
            replacement = self.replacements.get(name)
            if replacement is not None and value is FUNCTIONS.get(name):
                value = replacement
            copy[name] = self.function(value) if isinstance(value, FunctionType) else value


def _is_model_code(fn: FunctionType) -> bool:
    module = fn.__module__ or ""
    return module.startswith(_MODEL_PACKAGE) or module == VARIANT_MODULE


def upstream(fn: Fn) -> Fn:
    """The function a rebound copy was made from (``fn`` itself if it is no copy)."""
    return getattr(fn, "__upstream__", fn)
