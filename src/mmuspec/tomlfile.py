"""Reading a TOML input file the way every mmuspec input is read.

Parse errors and semantic errors alike come out as one ``InputError`` naming the
file, the line of the offending key and the allowed values or range.  Keys are
addressed by path: ``("ksm", "pages_to_scan")``, or ``("phases", 2, "duration")``
for the third ``[[phases]]`` table.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from typing import Any

from mmuspec.errors import InputError

Path = tuple[str | int, ...]
_HEADER = re.compile(r"\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?$")


class TomlFile:
    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self.lines = text.splitlines()
        try:
            self.data: dict[str, Any] = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = re.search(r"at line (\d+)", str(exc))
            message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
            raise InputError(source, int(match.group(1)) if match else None, f"TOML syntax: {message}") from None

    # -- locating --------------------------------------------------------------------

    def line_of(self, path: Path) -> int | None:
        """The line of the key at ``path`` (or of its table's header)."""
        table, index, key = _split(path)
        current, seen = "", -1
        header_line = None
        for number, line in enumerate(self.lines, start=1):
            header = _HEADER.match(line)
            if header:
                current = header.group(2)
                if current == table:
                    seen += 1
                    if (index is None or seen == index) and header_line is None:
                        header_line = number
                continue
            if current == table and (index is None or seen == index) and key is not None \
                    and re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number
        if table == "" and key is not None:
            for number, line in enumerate(self.lines, start=1):
                if _HEADER.match(line):
                    break
                if re.match(rf"\s*{re.escape(key)}\s*=", line):
                    return number
        if header_line is None and table:  # an inline table or array: the line of its key
            for number, line in enumerate(self.lines, start=1):
                if re.match(rf"\s*{re.escape(table)}\s*=", line):
                    return number
        return header_line

    def fail(self, path: Path, problem: str) -> InputError:
        return InputError(self.source, self.line_of(path), problem)

    # -- structure ---------------------------------------------------------------------

    def check_keys(self, schema: Mapping[str, Sequence[str]], arrays: Sequence[str] = ()) -> None:
        """Every table and key must be known; ``arrays`` names arrays of tables."""
        for key, value in self.data.items():
            if key in arrays:
                if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
                    raise self.fail(("", key), f"{key} must be an array of tables ([[{key}]])")
                if not value:
                    raise self.fail(("", key), f"{key} is empty: give at least one [[{key}]] table, or none at all")
                for i, item in enumerate(value):
                    self._known(key, item, schema.get(key, ()), i)
            elif isinstance(value, dict):
                if key not in schema or key == "":
                    known = ", ".join(f"[{t}]" for t in schema if t) + "".join(f", [[{a}]]" for a in arrays)
                    raise self.fail((key,), f"unknown table [{key}]; known: {known}")
                self._known(key, value, schema[key], None)
            elif key not in schema.get("", ()):
                raise self.fail(("", key), f"unknown top-level key {key!r}")

    def _known(self, table: str, values: dict[str, Any], keys: Sequence[str], index: int | None) -> None:
        for sub, value in values.items():
            if isinstance(value, dict) and f"{sub}.*" in keys:
                continue
            if sub not in keys:
                where = (table, index, sub) if index is not None else (table, sub)
                raise self.fail(where, f"unknown key {sub!r} in [{table}]; known: {', '.join(k for k in keys if '*' not in k)}")

    def get(self, path: Path, default: Any) -> Any:
        table, index, key = _split(path)
        node: Any = self.data
        for part in table.split(".") if table else []:
            node = node.get(part, {}) if isinstance(node, dict) else {}
        if index is not None:
            node = node[index] if isinstance(node, list) and index < len(node) else {}
        if key is None:
            return node if node != {} else default
        return node.get(key, default) if isinstance(node, dict) else default

    # -- typed values ---------------------------------------------------------------------

    def integer(self, path: Path, default: int, low: int, high: int) -> int:
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(path, f"{_name(path)} = {value!r}: expected an integer in {low}..{high}")
        return value

    def number(self, path: Path, default: float, low: float, high: float) -> float:
        value = self.get(path, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not low <= value <= high:
            raise self.fail(path, f"{_name(path)} = {value!r}: expected a number in {low:g}..{high:g}")
        return float(value)

    def boolean(self, path: Path, default: bool) -> bool:
        value = self.get(path, default)
        if not isinstance(value, bool):
            raise self.fail(path, f"{_name(path)} = {value!r}: expected true or false")
        return value

    def string(self, path: Path, default: str, choices: Sequence[str] | None = None) -> str:
        value = self.get(path, default)
        if not isinstance(value, str) or (choices is not None and value not in choices):
            allowed = " | ".join(choices) if choices else "a string"
            raise self.fail(path, f"{_name(path)} = {value!r}: expected {allowed}")
        return value


def _split(path: Path) -> tuple[str, int | None, str | None]:
    """(table, index in an array of tables, key) of a path."""
    if path[0] == "":
        return "", None, str(path[1]) if len(path) > 1 else None
    if len(path) == 1:
        return str(path[0]), None, None
    if len(path) == 3 and isinstance(path[1], int):
        return str(path[0]), path[1], str(path[2])
    return str(path[0]), None, str(path[1])


def _name(path: Path) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else p for p in path if p != "").replace(".[", "[")
