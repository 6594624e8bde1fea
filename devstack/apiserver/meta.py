"""Small helpers for object metadata: timestamps, generated names, uids, copies."""

from __future__ import annotations

import copy
import datetime as _dt
import random
import uuid
from typing import Any

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def now() -> _dt.datetime:
    """Current UTC time."""
    return _dt.datetime.now(_dt.UTC)


def timestamp(when: _dt.datetime | None = None) -> str:
    """RFC 3339 with second precision and `Z`, as metav1.Time serialises."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_timestamp(when: _dt.datetime | None = None) -> str:
    """RFC 3339 with microseconds, as metav1.MicroTime serialises."""
    return (when or now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_timestamp(text: str) -> _dt.datetime:
    """Parse an RFC 3339 timestamp."""
    return _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def generate_name(prefix: str) -> str:
    """`prefix` plus 5 random characters, like the real name generator."""
    return prefix + "".join(random.choice(_NAME_CHARS) for _ in range(5))


def new_uid() -> str:
    """A random UUID string."""
    return str(uuid.uuid4())


def deep_copy(obj: Any) -> Any:
    """A deep copy of a JSON-like value (faster than copy.deepcopy for dict/list trees)."""
    if isinstance(obj, dict):
        return {k: deep_copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [deep_copy(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return copy.deepcopy(obj)


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's metadata dict, created if missing."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    return md


def object_ref(obj: dict[str, Any]) -> dict[str, Any]:
    """An ObjectReference to an object (or the reference itself when given one)."""
    if "metadata" not in obj:
        return {k: v for k, v in obj.items() if v not in (None, "")}
    md = obj["metadata"]
    ref = {
        "kind": obj.get("kind", ""),
        "namespace": md.get("namespace", ""),
        "name": md.get("name", ""),
        "uid": md.get("uid", ""),
        "apiVersion": obj.get("apiVersion", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    return {k: v for k, v in ref.items() if v}
