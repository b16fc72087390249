"""\"Did you mean\" for mistyped names (eras, switches, scenarios, arches, subcommands).

A typo in a name should cost one reading of the error line, not a trip to a listing
command: the closest known names are offered, as difflib ranks them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from pathlib import Path

from mmuspec.errors import UsageError


def close_names(word: str, names: Iterable[str], n: int = 2) -> list[str]:
    """The known names closest to ``word``, best first (none when nothing is close)."""
    choices = [str(x) for x in names]
    found = difflib.get_close_matches(word, choices, n=n, cutoff=0.6)
    if not found:
        # A prefix or a shared part ("ksm" for "ksm-merge") is close too.
        found = [c for c in choices if word and (c.startswith(word) or word in c)][:n]
    return found


def did_you_mean(word: str, names: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` or the empty string, to append to an error message."""
    found = close_names(word, names)
    if not found:
        return ""
    return "; did you mean " + " or ".join(repr(x) for x in found) + "?"


def check_builtin(kind: str, word: str, names: Sequence[str]) -> None:
    """``word`` names a built-in ``kind`` (scenario, workload) or a TOML file; anything
    else is a usage error that offers the closest built-in names."""
    path = Path(word)
    if word in names or path.suffix == ".toml" or path.exists():
        return
    raise UsageError(f"unknown {kind} {word!r}{did_you_mean(word, names)}; built-in {kind}s: {', '.join(names)}")
