"""PriorityClass resolution, for pods the API server did not resolve at admission."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def resolve_priority(pod: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]) -> int:
    """`spec.priority`, else the named class's value, else the global default, else 0."""
    spec = pod.get("spec") or {}
    if spec.get("priority") is not None:
        return int(spec["priority"])
    name = spec.get("priorityClassName")
    if name and name in classes:
        return int(classes[name].get("value") or 0)
    for pc in classes.values():
        if pc.get("globalDefault"):
            return int(pc.get("value") or 0)
    return 0


def resolve_preemption_policy(
    pod: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]]
) -> str:
    """`spec.preemptionPolicy`, else the class's, else `PreemptLowerPriority`."""
    spec = pod.get("spec") or {}
    if spec.get("preemptionPolicy"):
        return str(spec["preemptionPolicy"])
    pc = classes.get(spec.get("priorityClassName") or "")
    if pc and pc.get("preemptionPolicy"):
        return str(pc["preemptionPolicy"])
    return "PreemptLowerPriority"
