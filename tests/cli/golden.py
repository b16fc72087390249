"""Golden-output comparison: set MMUSPEC_UPDATE_GOLDEN=1 to rewrite the files."""

from __future__ import annotations

import os
import re
from pathlib import Path

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def normalise(text: str) -> str:
    """Remove what changes from run to run: wall-clock times."""
    text = re.sub(r"in \d+\.\d+ s", "in <t> s", text)
    text = re.sub(r"\d+ bytes per state", "<n> bytes per state", text)
    return re.sub(r"\d+\.\d+ s\b", "<t> s", text)


def assert_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalise(text)
    if os.environ.get("MMUSPEC_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"output differs from {path} (MMUSPEC_UPDATE_GOLDEN=1 rewrites it)"
