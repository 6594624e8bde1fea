"""Pure cluster accounting: nodes and pods in, per-flavor counts and labelled pods out."""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .flavors import Flavor, Placement
from .quantity import amount

CPU_KEY = "cpu"
TERMINAL_PHASES = ("Succeeded", "Failed")
# Taint effects that keep a pod off a node unless tolerated.
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class FlavorCounts:
    """Devices (or, for cpu flavors, whole cores) of one flavor in the cluster right now."""

    capacity: int
    allocated: int
    free: int
    pending: int
    nodes: int
    external: int = 0

    @property
    def in_use(self) -> int:
        """Devices held by pods (never more than the capacity)."""
        return min(self.allocated, self.capacity)


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Kubernetes' toleration matching, for one taint."""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator", "Equal") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


@dataclass
class _Node:
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


def _node_from(obj: Mapping[str, Any]) -> _Node:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    allocatable: dict[str, int] = {}
    for name, value in (status.get("allocatable") or {}).items():
        with contextlib.suppress(ValueError):
            allocatable[name] = amount(name, value)
    ready = next((c for c in status.get("conditions") or () if c.get("type") == "Ready"), None)
    return _Node(
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


def _pod_from(obj: Mapping[str, Any]) -> PodView:
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


class InventoryState:
    """Pure accounting: nodes and pods in, per-flavor counts out, updated incrementally.

    Pods carrying one of ``managed_labels`` (the service's leases and placeholders) are counted
    as usual but not as ``external`` use; pods carrying one of ``indexed_labels`` can be read back
    by label. Every event costs O(flavors + labels); reading all counts costs O(flavors).
    """

    def __init__(
        self,
        flavors: Iterable[Flavor],
        managed_labels: Iterable[str] = (),
        indexed_labels: Iterable[str] = (),
    ) -> None:
        self.flavors: dict[str, Flavor] = {f.slug: f for f in flavors}
        self.managed_labels = tuple(managed_labels)
        self._by_label: dict[str, dict[str, PodView]] = {k: {} for k in indexed_labels}
        self._external: dict[str, int] = defaultdict(int)
        self.nodes: dict[str, _Node] = {}
        self.pods: dict[str, PodView] = {}
        self._pods_on: dict[str, set[str]] = defaultdict(set)
        self._node_part: dict[str, dict[str, tuple[int, int]]] = {}  # node -> slug -> (cap, nodes)
        self._node_shape: dict[str, dict[str, Placement]] = {}  # node -> slug -> placement there
        self._pod_part: dict[str, dict[str, tuple[int, int]]] = {}  # pod -> slug -> (alloc, pend)
        self._used: dict[str, dict[str, int]] = defaultdict(dict)  # node -> slug -> allocated
        self._capacity: dict[str, int] = defaultdict(int)
        self._nodes: dict[str, int] = defaultdict(int)
        self._allocated: dict[str, int] = defaultdict(int)
        self._pending: dict[str, int] = defaultdict(int)
        self._free: dict[str, int] = defaultdict(int)
        self.generation = 0

    @staticmethod
    def placement_on(flavor: Flavor, node: _Node) -> Placement | None:
        """The first of the flavor's placements a pod could take on the node, or None."""
        if node.unschedulable:
            return None
        if not all(
            tolerates(flavor.tolerations, taint)
            for taint in node.taints
            if taint.get("effect") in BLOCKING_EFFECTS
        ):
            return None
        for placement in flavor.placements:
            if any(node.labels.get(k) != v for k, v in placement.node_selector.items()):
                continue
            if (placement.resource or CPU_KEY) in node.allocatable:
                return placement
        return None

    @staticmethod
    def pending_matches(placement: Placement, pod: PodView) -> bool:
        """Whether an unbound pod's selector allows this placement's nodes."""
        selector = placement.node_selector
        return all(selector.get(k, v) == v for k, v in pod.node_selector.items())

    def choose_placement(self, flavor: Flavor, count: int) -> Placement:
        """Where a new pod of ``count`` devices should go: the first placement (in the
        catalog's order) with a node that fits it once unbound pods asking for that placement
        are served, else the one with the most such room."""
        placements = flavor.placements
        if len(placements) == 1:
            return placements[0]
        room = {p: -self._waiting_for(p) for p in placements}
        best: dict[Placement, int] = {}
        for node, shapes in self._node_shape.items():
            shape = shapes.get(flavor.slug)
            if shape is not None:
                best[shape] = max(best.get(shape, 0), self.free_on(node, flavor.slug))
        for placement in placements:
            room[placement] += best.get(placement, 0)
            if room[placement] >= count:
                return placement
        return max(placements, key=lambda p: (room[p], -placements.index(p)))

    def _waiting_for(self, placement: Placement) -> int:
        """Devices of the placement's resource asked for by live pods no node holds yet."""
        resource = placement.resource or CPU_KEY
        return sum(
            pod.requests.get(resource, 0)
            for pod in self.pods.values()
            if pod.node is None and pod.live and self.pending_matches(placement, pod)
        )

    def free_on(self, node: str, slug: str) -> int:
        """Devices of a flavor not held by pods on one node."""
        return max(self._node_cap(node, slug) - self._used.get(node, {}).get(slug, 0), 0)

    # -- nodes ---------------------------------------------------------------------------------

    def set_node(self, obj: Mapping[str, Any]) -> None:
        """Add or update a node from its API object."""
        node = _node_from(obj)
        pods = self._detach_node(node.name)
        self.nodes[node.name] = node
        part: dict[str, tuple[int, int]] = {}
        shapes: dict[str, Placement] = {}
        for slug, flavor in self.flavors.items():
            placement = self.placement_on(flavor, node)
            if placement is not None:
                shapes[slug] = placement
                part[slug] = (node.allocatable.get(placement.resource or CPU_KEY, 0), 1)
        self._node_part[node.name] = part
        self._node_shape[node.name] = shapes
        for slug, (cap, count) in part.items():
            self._capacity[slug] += cap
            self._nodes[slug] += count
            self._free[slug] += cap
        for pod in pods:
            self._apply_pod(pod)
        self.generation += 1

    def delete_node(self, name: str) -> None:
        """Forget a node (its pods stay, counted nowhere, until they go)."""
        pods = self._detach_node(name)
        self.nodes.pop(name, None)
        for pod in pods:
            self._apply_pod(pod)
        self.generation += 1

    def _detach_node(self, name: str) -> list[PodView]:
        """Take a node and its pods out of the totals; return the pods to re-apply."""
        pods = [self.pods[k] for k in list(self._pods_on.get(name, ())) if k in self.pods]
        for pod in pods:
            self._retract_pod(pod)
        self._node_shape.pop(name, None)
        for slug, (cap, count) in self._node_part.pop(name, {}).items():
            self._capacity[slug] -= cap
            self._nodes[slug] -= count
            self._free[slug] -= cap
        self._used.pop(name, None)
        return pods

    def _node_cap(self, node: str, slug: str) -> int:
        return self._node_part.get(node, {}).get(slug, (0, 0))[0]

    # -- pods ----------------------------------------------------------------------------------

    def set_pod(self, obj: Mapping[str, Any]) -> None:
        """Add or update a pod from its API object."""
        self._apply_pod(_pod_from(obj))
        self.generation += 1

    def delete_pod(self, obj_or_key: Mapping[str, Any] | str) -> None:
        """Forget a pod (by API object or ``namespace/name``)."""
        key = obj_or_key if isinstance(obj_or_key, str) else _pod_from(obj_or_key).key
        old = self.pods.pop(key, None)
        if old is not None:
            self._retract_pod(old)
        self.generation += 1

    def _apply_pod(self, pod: PodView) -> None:
        old = self.pods.get(pod.key)
        if old is not None:
            self._retract_pod(old)
        self.pods[pod.key] = pod
        part: dict[str, tuple[int, int]] = {}
        if pod.phase not in TERMINAL_PHASES:
            for slug, flavor in self.flavors.items():
                if pod.node is not None:
                    shape = self._node_shape.get(pod.node, {}).get(slug)
                    amount = pod.requests.get(shape.resource or CPU_KEY, 0) if shape else 0
                    if amount > 0:
                        part[slug] = (amount, 0)
                    continue
                for placement in flavor.placements:
                    amount = pod.requests.get(placement.resource or CPU_KEY, 0)
                    if amount > 0 and self.pending_matches(placement, pod):
                        part[slug] = (0, amount)
                        break
        self._pod_part[pod.key] = part
        if pod.node is not None:
            self._pods_on[pod.node].add(pod.key)
        external = not self._managed(pod)
        for slug, (alloc, pend) in part.items():
            self._allocated[slug] += alloc
            self._pending[slug] += pend
            if external:
                self._external[slug] += alloc
            if alloc and pod.node is not None:
                self._add_used(pod.node, slug, alloc)
        for label, pods in self._by_label.items():
            if label in (pod.labels or {}):
                pods[pod.key] = pod

    def _retract_pod(self, pod: PodView) -> None:
        external = not self._managed(pod)
        for slug, (alloc, pend) in self._pod_part.pop(pod.key, {}).items():
            self._allocated[slug] -= alloc
            self._pending[slug] -= pend
            if external:
                self._external[slug] -= alloc
            if alloc and pod.node is not None:
                self._add_used(pod.node, slug, -alloc)
        if pod.node is not None:
            self._pods_on[pod.node].discard(pod.key)
        for pods in self._by_label.values():
            pods.pop(pod.key, None)

    def _managed(self, pod: PodView) -> bool:
        labels = pod.labels or {}
        return any(label in labels for label in self.managed_labels)

    def _add_used(self, node: str, slug: str, delta: int) -> None:
        used_by_slug = self._used.setdefault(node, {})
        before = used_by_slug.get(slug, 0)
        cap = self._node_cap(node, slug)
        self._free[slug] -= max(cap - before, 0)
        used_by_slug[slug] = before + delta
        self._free[slug] += max(cap - before - delta, 0)

    # -- bulk ----------------------------------------------------------------------------------

    def replace_nodes(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every node (after a list)."""
        fresh = {(o.get("metadata") or {}).get("name", ""): o for o in objs}
        for name in list(self.nodes):
            if name not in fresh:
                self.delete_node(name)
        for obj in fresh.values():
            self.set_node(obj)

    def replace_pods(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every pod (after a list)."""
        fresh = {_pod_from(o).key: o for o in objs}
        for key in list(self.pods):
            if key not in fresh:
                self.delete_pod(key)
        for obj in fresh.values():
            self.set_pod(obj)

    # -- reads ---------------------------------------------------------------------------------

    def counts(self, slug: str) -> FlavorCounts:
        """Capacity, allocated, free and pending demand of one flavor (cpu: whole cores)."""
        flavor = self.flavors.get(slug)
        scale = 1000 if flavor is not None and flavor.resource is None else 1
        return FlavorCounts(
            capacity=self._capacity[slug] // scale,
            allocated=self._allocated[slug] // scale,
            free=self._free[slug] // scale,
            pending=self._pending[slug] // scale,
            nodes=self._nodes[slug],
            external=self._external[slug] // scale,
        )

    def all_counts(self) -> dict[str, FlavorCounts]:
        """Counts of every flavor."""
        return {slug: self.counts(slug) for slug in self.flavors}

    def pods_on(self, node: str) -> list[PodView]:
        """Pods bound to a node."""
        return [self.pods[k] for k in self._pods_on.get(node, ()) if k in self.pods]

    def labelled(self, label: str) -> list[PodView]:
        """Pods carrying ``label`` (one of ``indexed_labels``), finished or not."""
        return list(self._by_label[label].values())
