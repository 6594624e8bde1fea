"""Tables kept as JSON text in the store's change records (None stays None)."""

from __future__ import annotations

import json
from typing import Any


def table_of(text: str | None) -> dict[str, Any] | None:
    """The table a column's JSON text holds."""
    return json.loads(text) if text is not None else None


def text_of(table: dict[str, Any] | None) -> str | None:
    """A table as JSON text, keys sorted, for a column."""
    return json.dumps(table, sort_keys=True) if table is not None else None
