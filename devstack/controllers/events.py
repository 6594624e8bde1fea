"""core/v1 Events as components record them (client-go's EventRecorder): an event about
an object, and its repeats counted (`count`, `lastTimestamp`) instead of new Events."""

from __future__ import annotations

import itertools
import weakref
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.meta import now, object_ref, timestamp

Obj = dict[str, Any]
_counter = itertools.count(1)
# store -> (namespace, kind, name, uid, fieldPath, reason, message, type, source) -> event key
_INDEX: weakref.WeakKeyDictionary[Any, dict[tuple[str, ...], tuple[str, str]]] = (
    weakref.WeakKeyDictionary()
)


def _suffix() -> str:
    return f"{int(now().timestamp() * 1e9) + next(_counter):x}"


def _exists(store: Any, resource: str, name: str, namespace: str | None = None) -> Obj | None:
    try:
        found: Obj = store.get_raw(resource, name, namespace)
        return found
    except ApiError:
        return None


async def record_event(
    store: Any,
    involved_object: Obj,
    reason: str,
    message: str,
    type: str = "Normal",
    source_component: str = "devstack",
    source_host: str | None = None,
) -> None:
    """Record an Event about an object (or ObjectReference) in its namespace (`default`
    when that namespace is gone); a repeat increments the first one's count."""
    ref = object_ref(involved_object)
    ns = ref.get("namespace") or "default"
    if _exists(store, "namespaces", ns) is None:
        ns = "default"
    dedup = (
        ns,
        ref.get("kind", ""),
        ref.get("name", ""),
        ref.get("uid", ""),
        ref.get("fieldPath", ""),
        reason,
        message,
        type,
        source_component,
    )
    index = _INDEX.setdefault(store, {})
    stamp = timestamp()
    key = index.get(dedup)
    existing = _exists(store, "events", key[1], key[0]) if key else None
    if existing is not None and key is not None:
        count = int(existing.get("count", 1)) + 1
        await store.patch(
            "events", key[1], {"count": count, "lastTimestamp": stamp}, "merge", namespace=key[0]
        )
        return
    source: dict[str, str] = {"component": source_component}
    if source_host:
        source["host"] = source_host
    event = {
        "metadata": {"name": f"{ref.get('name', 'event')}.{_suffix()}", "namespace": ns},
        "involvedObject": ref,
        "reason": reason,
        "message": message,
        "type": type,
        "source": source,
        "count": 1,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "eventTime": None,
        "reportingComponent": source_component,
        "reportingInstance": source_host or "",
    }
    created = await store.create("events", event, namespace=ns)
    index[dedup] = (ns, created["metadata"]["name"])
