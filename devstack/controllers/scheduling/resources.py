"""Resource lists as integer maps: pod requests and node allocatable.

CPU is counted in millicores, every other resource in whole units (memory in bytes),
rounding fractional amounts up as the real scheduler's integer accounting does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub_ext import quantity

Resources = dict[str, int]

CPU = "cpu"
MEMORY = "memory"
PODS = "pods"
EPHEMERAL = "ephemeral-storage"
DEFAULT_MAX_PODS = 110


def amount(name: str, value: Any) -> int:
    """One quantity as an integer in this resource's unit (millicores for cpu)."""
    return quantity.amount(name, value)


def resource_list(raw: Mapping[str, Any] | None) -> Resources:
    """Convert a `ResourceList` to integer units, skipping unparseable entries."""
    out: Resources = {}
    for name, value in (raw or {}).items():
        try:
            out[name] = amount(name, value)
        except (ValueError, TypeError, ArithmeticError):
            continue
    return out


def container_requests(container: Mapping[str, Any]) -> Resources:
    """A container's requests, with limits standing in for absent requests."""
    res = container.get("resources") or {}
    req = resource_list(res.get("requests"))
    for name, value in resource_list(res.get("limits")).items():
        req.setdefault(name, value)
    return req


def add_into(total: Resources, extra: Mapping[str, int], sign: int = 1) -> None:
    """`total += sign * extra`, in place."""
    for name, value in extra.items():
        total[name] = total.get(name, 0) + sign * value


def max_into(total: Resources, other: Mapping[str, int]) -> None:
    """`total = max(total, other)` per resource, in place."""
    for name, value in other.items():
        if value > total.get(name, 0):
            total[name] = value


def sum_resources(items: Iterable[Mapping[str, int]]) -> Resources:
    """Sum of several resource maps."""
    total: Resources = {}
    for item in items:
        add_into(total, item)
    return total


def pod_requests(spec: Mapping[str, Any]) -> Resources:
    """Effective pod requests: max(sum(containers) + sidecars, each init container) + overhead."""
    total = sum_resources(container_requests(c) for c in spec.get("containers") or [])
    sidecars: Resources = {}
    init_peak: Resources = {}
    for init in spec.get("initContainers") or []:
        req = container_requests(init)
        if init.get("restartPolicy") == "Always":
            add_into(sidecars, req)
            add_into(total, req)
        else:
            running = dict(sidecars)
            add_into(running, req)
            max_into(init_peak, running)
    max_into(total, init_peak)
    add_into(total, resource_list(spec.get("overhead")))
    return {k: v for k, v in total.items() if v}


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """Node allocatable (falling back to capacity), with the default pod count."""
    status = node.get("status") or {}
    alloc = resource_list(status.get("allocatable") or status.get("capacity"))
    alloc.setdefault(PODS, DEFAULT_MAX_PODS)
    return alloc
