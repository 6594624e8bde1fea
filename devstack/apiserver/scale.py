"""The `scale` subresource (autoscaling/v1 Scale) of Deployments, ReplicaSets,
StatefulSets and ReplicationControllers."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.errors import ApiError, bad_request
from devstack.apiserver.registry import ResourceType


def _selector(rt: ResourceType, obj: dict[str, Any]) -> str:
    sel = (obj.get("spec") or {}).get("selector") or {}
    plain = rt.plural == "replicationcontrollers"  # a plain label map
    labels = sel if plain else sel.get("matchLabels") or {}
    parts = [f"{k}={v}" for k, v in sorted(labels.items())]
    for expr in [] if plain else sel.get("matchExpressions") or []:
        op, key, values = expr.get("operator"), expr.get("key"), expr.get("values") or []
        if op in ("In", "NotIn"):
            parts.append(f"{key} {op.lower()} ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def scale_of(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """The Scale view of a scalable object."""
    md = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: md[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in md
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": _selector(rt, obj),
        },
    }


def wanted_replicas(body: Any) -> int:
    """`spec.replicas` of a Scale body or patch (400 when missing or not an integer)."""
    spec = body.get("spec") if isinstance(body, dict) else None
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise bad_request("the Scale's spec.replicas must be an integer")
    if replicas < 0:
        raise ApiError(
            422,
            "Invalid",
            f'Scale.autoscaling "{""}" is invalid: spec.replicas: Invalid value: {replicas}: '
            "must be greater than or equal to 0",
        )
    return replicas
