"""How the model object's data is packed for the compiled core: the kinds of slot, and the
shape of a piece of data read from a model instance.  Kept apart from the translator so
that loading a cached library does not import it."""

from __future__ import annotations

from typing import Any

SCALAR, STRING, ARRAY, RAGGED, SPACE = "scalar", "string", "array", "ragged", "space"


class TranslateError(Exception):
    """The model uses something the translator does not know; the interpreter runs it."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem



def is_int(value: Any) -> bool:
    """An int, or the offset of a field the scenario leaves out (``layout.Absent``, packed
    as an offset no state has)."""
    return isinstance(value, bool | int) or getattr(value, "absent_field", False)


def shape(value: Any, where: str, name: str) -> tuple[str, int]:
    """How a piece of the model object's data is packed: (kind, arity)."""
    if is_int(value):
        return SCALAR, 1
    if isinstance(value, str):
        return STRING, 1
    if isinstance(value, tuple | list):
        items = list(value)
        if all(is_int(x) for x in items):
            return ARRAY, 1
        if all(isinstance(x, tuple) and all(isinstance(y, bool | int) for y in x) for x in items):
            lengths = {len(x) for x in items}
            if len(lengths) == 1 and 0 not in lengths:
                return ARRAY, lengths.pop()
            return RAGGED, 1
        if all(isinstance(x, tuple | list) and all(isinstance(y, bool | int) for y in x) for x in items):
            return RAGGED, 1
    if hasattr(value, "__dict__") and not callable(value):
        return SPACE, 1
    raise TranslateError(where, f"k.{name} is a {type(value).__name__}, which the C engine cannot hold")


def shape_at(model: Any, path: tuple[str, ...], where: str = "?") -> tuple[str, int]:
    """The shape of ``model.<path>``; an empty list takes its element type from the owner
    class's annotation."""
    owner = model
    for part in path[:-1]:
        owner = getattr(owner, part)
    value = getattr(owner, path[-1])
    kind, arity = shape(value, where, ".".join(path))
    if kind == ARRAY and not value:
        hint = str(getattr(type(owner), "__annotations__", {}).get(path[-1], ""))
        kind, arity = shape_of_hint(hint)
    return kind, arity


def shape_of_hint(hint: str) -> tuple[str, int]:
    """(kind, arity) of an empty sequence from its annotation: ``list[tuple[int, bool]]`` is
    an array of pairs, ``list[tuple[int, ...]]`` a ragged list, anything else ints."""
    inner = hint.replace(" ", "")
    for outer in ("list[", "tuple["):
        if inner.startswith(outer) and inner.endswith("]"):
            inner = inner[len(outer):-1].removesuffix(",...")
            break
    if inner.startswith("tuple[") and inner.endswith("]"):
        parts = inner[len("tuple["):-1].split(",")
        if parts[-1] == "...":
            return RAGGED, 1
        return ARRAY, len(parts)
    return ARRAY, 1
