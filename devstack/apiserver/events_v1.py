"""Conversion between core/v1 Events (the stored form) and events.k8s.io/v1 Events."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.meta import micro_timestamp

Obj = dict[str, Any]


def _micro(stamp: Any) -> str | None:
    """`...T00:00:00Z` as MicroTime (`...T00:00:00.000000Z`)."""
    if isinstance(stamp, str) and stamp.endswith("Z") and "." not in stamp:
        return stamp[:-1] + ".000000Z"
    return stamp if isinstance(stamp, str) else None


def to_events_v1(event: Obj) -> Obj:
    """A core/v1 Event seen through events.k8s.io/v1."""
    out: Obj = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": event.get("metadata") or {},
        "eventTime": event.get("eventTime")
        or _micro(event.get("firstTimestamp"))
        or _micro((event.get("metadata") or {}).get("creationTimestamp"))
        or micro_timestamp(),
        "reportingController": event.get("reportingComponent")
        or (event.get("source") or {}).get("component", ""),
        "reportingInstance": event.get("reportingInstance") or "",
        "action": event.get("action") or "",
        "reason": event.get("reason") or "",
        "regarding": event.get("involvedObject") or {},
        "note": event.get("message") or "",
        "type": event.get("type") or "",
    }
    if event.get("related"):
        out["related"] = event["related"]
    if event.get("source"):
        out["deprecatedSource"] = event["source"]
    for src, dst in (
        ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"),
        ("count", "deprecatedCount"),
    ):
        if event.get(src) is not None:
            out[dst] = event[src]
    if int(event.get("count") or 1) > 1:
        out["series"] = {
            "count": event["count"],
            "lastObservedTime": _micro(event.get("lastTimestamp")) or micro_timestamp(),
        }
    return out


def from_events_v1(event: Obj) -> Obj:
    """An events.k8s.io/v1 Event body converted to the stored core/v1 form."""
    out: Obj = {
        "kind": "Event",
        "apiVersion": "v1",
        "metadata": event.get("metadata") or {},
        "involvedObject": event.get("regarding") or {},
        "reason": event.get("reason") or "",
        "message": event.get("note") or "",
        "type": event.get("type") or "Normal",
        "eventTime": event.get("eventTime"),
        "reportingComponent": event.get("reportingController") or "",
        "reportingInstance": event.get("reportingInstance") or "",
        "action": event.get("action") or "",
        "source": event.get("deprecatedSource") or {},
        "count": (event.get("series") or {}).get("count") or event.get("deprecatedCount") or 1,
        "firstTimestamp": event.get("deprecatedFirstTimestamp"),
        "lastTimestamp": event.get("deprecatedLastTimestamp"),
    }
    if event.get("related"):
        out["related"] = event["related"]
    return out
