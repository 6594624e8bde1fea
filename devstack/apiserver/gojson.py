"""JSON bytes as the real API server writes them (Go's `json.Encoder`).

Compact separators, UTF-8 kept as is, `<`, `>`, `&`, U+2028 and U+2029 escaped the way
Go's encoder escapes them, and a trailing newline.
"""

from __future__ import annotations

import json
from typing import Any

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def dumps(obj: Any) -> str:
    """`obj` encoded as Go's `json.Encoder.Encode` does, newline included."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).translate(_GO_ESCAPES) + "\n"


def encode(obj: Any) -> bytes:
    """`dumps(obj)` as UTF-8 bytes."""
    return dumps(obj).encode()
