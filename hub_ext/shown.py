"""How a value someone sent appears in a message: a repr bounded in length and depth, so a
10,000-character name or 100,000 nested lists make a short sentence, never a RecursionError."""

from __future__ import annotations

import reprlib


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (``...`` marks a cut) and to a few levels
    of nesting."""
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxstring = short.maxother = short.maxlong = limit
    text = repr(value[: limit + 1]) if isinstance(value, str) else short.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
