"""One thing wrong in the values, named by its key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    """``key``: the dotted path of the bad value; ``message``: what is wrong with it."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def dig(values: Any, key: str, default: Any = None) -> Any:
    """``values["a"]["b"]`` for ``"a.b"``; ``default`` where a level is missing."""
    node = values
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node
