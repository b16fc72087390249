"""Counts in words: ``1 access``, ``2 accesses``; one rule for every report's header."""

from __future__ import annotations


def counted(n: int, word: str, words: str | None = None) -> str:
    """``n`` and the noun, singular for exactly one (``words``: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"
