"""Scheduler views of pods and nodes, built once per object version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.controllers.scheduling.resources import (
    PODS,
    Resources,
    add_into,
    node_allocatable,
    pod_requests,
)


def pod_key(pod: Mapping[str, Any]) -> str:
    """`namespace/name`."""
    md = pod.get("metadata") or {}
    return f"{md.get('namespace', 'default')}/{md.get('name', '')}"


@dataclass
class PodView:
    """What scheduling needs from a pod, pre-parsed."""

    key: str
    namespace: str
    name: str
    uid: str
    priority: int
    requests: Resources
    node_selector: dict[str, str]
    required_terms: list[dict[str, Any]] | None
    preferred_terms: list[dict[str, Any]]
    tolerations: list[dict[str, Any]]
    preemption_policy: str
    nominated_node: str
    node_name: str
    created: str
    start_time: str
    terminating: bool
    terminal: bool

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any], priority: int | None = None) -> PodView:
        """Build the view; `priority` overrides `spec.priority` when given."""
        md = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        status = pod.get("status") or {}
        affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        terms = None if required is None else list(required.get("nodeSelectorTerms") or [])
        prio = priority if priority is not None else int(spec.get("priority") or 0)
        return cls(
            key=pod_key(pod),
            namespace=md.get("namespace", "default"),
            name=md.get("name", ""),
            uid=md.get("uid", ""),
            priority=prio,
            requests=pod_requests(spec),
            node_selector=dict(spec.get("nodeSelector") or {}),
            required_terms=terms,
            preferred_terms=list(
                affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
            ),
            tolerations=list(spec.get("tolerations") or []),
            preemption_policy=spec.get("preemptionPolicy") or "PreemptLowerPriority",
            nominated_node=status.get("nominatedNodeName") or "",
            node_name=spec.get("nodeName") or "",
            created=md.get("creationTimestamp") or "",
            start_time=status.get("startTime") or md.get("creationTimestamp") or "",
            terminating=bool(md.get("deletionTimestamp")),
            terminal=status.get("phase") in ("Succeeded", "Failed"),
        )


@dataclass
class NodeInfo:
    """A node and the pods that use its resources, with running totals."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    unschedulable: bool
    allocatable: Resources
    requested: Resources = field(default_factory=dict)
    pods: dict[str, PodView] = field(default_factory=dict)

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> NodeInfo:
        """Build from a Node object (no pods yet)."""
        md = node.get("metadata") or {}
        spec = node.get("spec") or {}
        return cls(
            name=md.get("name", ""),
            labels=dict(md.get("labels") or {}),
            taints=list(spec.get("taints") or []),
            unschedulable=bool(spec.get("unschedulable")),
            allocatable=node_allocatable(node),
        )

    def update_node(self, node: Mapping[str, Any]) -> None:
        """Refresh labels, taints and capacity, keeping pod accounting."""
        fresh = NodeInfo.from_node(node)
        self.labels, self.taints = fresh.labels, fresh.taints
        self.unschedulable, self.allocatable = fresh.unschedulable, fresh.allocatable

    def add_pod(self, pod: PodView) -> None:
        """Account a pod on this node (replacing an older view of it)."""
        if pod.key in self.pods:
            self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        add_into(self.requested, pod.requests)
        self.requested[PODS] = self.requested.get(PODS, 0) + 1

    def remove_pod(self, key: str) -> PodView | None:
        """Stop accounting a pod; returns its view if it was here."""
        pod = self.pods.pop(key, None)
        if pod is not None:
            add_into(self.requested, pod.requests, -1)
            self.requested[PODS] = self.requested.get(PODS, 0) - 1
        return pod

    def free(self, name: str) -> int:
        """Allocatable minus requested for one resource."""
        return self.allocatable.get(name, 0) - self.requested.get(name, 0)
