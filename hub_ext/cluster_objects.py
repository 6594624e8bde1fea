"""Nodes and pods as the inventory keeps them, read from their Kubernetes API objects."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .quantity import amount

TERMINAL_PHASES = ("Succeeded", "Failed")


@dataclass
class NodeView:
    """What the inventory keeps of a node: labels, allocatable devices, taints and health."""

    name: str
    labels: dict[str, str]
    allocatable: dict[str, int]
    taints: list[dict[str, Any]]
    unschedulable: bool
    annotations: dict[str, str] = field(default_factory=dict)
    ready: bool | None = None
    ready_message: str | None = None
    heartbeat: str | None = None


@dataclass
class PodView:
    """What the inventory keeps of a pod: placement, requests, labels and annotations."""

    key: str
    node: str | None
    phase: str
    requests: dict[str, int]
    node_selector: dict[str, str]
    namespace: str = ""
    name: str = ""
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    created: str | None = None
    deleting: bool = False
    uid: str = ""
    reason: str | None = None
    message: str | None = None
    started: str | None = None
    exit_code: int | None = None
    exit_message: str | None = None

    @property
    def live(self) -> bool:
        """Neither finished nor being deleted."""
        return self.phase not in TERMINAL_PHASES and not self.deleting


def node_from(obj: Mapping[str, Any]) -> NodeView:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    allocatable: dict[str, int] = {}
    for name, value in (status.get("allocatable") or {}).items():
        with contextlib.suppress(ValueError):
            allocatable[name] = amount(name, value)
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    return NodeView(
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        allocatable=allocatable,
        taints=[dict(t) for t in spec.get("taints") or []],
        unschedulable=bool(spec.get("unschedulable")),
        annotations=dict(meta.get("annotations") or {}),
        ready=None if ready is None else ready.get("status") == "True",
        ready_message=None if ready is None else ready.get("message"),
        heartbeat=None if ready is None else ready.get("lastHeartbeatTime"),
    )


def _pod_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Effective requests: sum over containers, max with each init container (Kubernetes rule)."""
    total: dict[str, int] = defaultdict(int)
    for container in spec.get("containers") or []:
        for name, value in _container_requests(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in _container_requests(container).items():
            total[name] = max(total[name], value)
    return dict(total)


def _container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    resources = container.get("resources") or {}
    merged = dict(resources.get("limits") or {})  # limits imply requests when none are given
    merged.update(resources.get("requests") or {})
    out: dict[str, int] = {}
    for name, value in merged.items():
        with contextlib.suppress(ValueError):
            out[name] = amount(name, value)
    return out


def _terminated(status: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first container's termination (exit code, message), or {}."""
    for container in status.get("containerStatuses") or ():
        ended = (container.get("state") or {}).get("terminated")
        if ended:
            return dict(ended)
    return {}


def pod_from(obj: Mapping[str, Any]) -> PodView:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    ended = _terminated(status)
    return PodView(
        key=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        node=spec.get("nodeName") or None,
        phase=status.get("phase") or "Pending",
        requests=_pod_requests(spec),
        node_selector=dict(spec.get("nodeSelector") or {}),
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        annotations=dict(meta.get("annotations") or {}),
        created=meta.get("creationTimestamp"),
        deleting=bool(meta.get("deletionTimestamp")),
        uid=meta.get("uid", ""),
        reason=status.get("reason"),
        message=status.get("message"),
        started=status.get("startTime"),
        exit_code=ended.get("exitCode"),
        exit_message=ended.get("message"),
    )
