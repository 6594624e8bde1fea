"""Pure cluster accounting: nodes and pods in, per-flavor counts and labelled pods out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .cluster_objects import TERMINAL_PHASES, NodeView, PodView, node_from, pod_from
from .flavors import Flavor, Placement
from .placement import choose_placement, pending_matches, placement_on, resource_of

__all__ = ["TERMINAL_PHASES", "FlavorCounts", "InventoryState", "NodeView", "PodView"]


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
        self.nodes: dict[str, NodeView] = {}
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

    def choose_placement(self, flavor: Flavor, count: int) -> Placement:
        """Where a new pod of ``count`` devices should go (see ``placement.choose_placement``)."""
        return choose_placement(self, flavor, count)

    def shape_on(self, node: str, slug: str) -> Placement | None:
        """The placement a flavor's pods take on one node (None: the node cannot serve it)."""
        return self._node_shape.get(node, {}).get(slug)

    def free_on(self, node: str, slug: str) -> int:
        """Devices of a flavor not held by pods on one node."""
        return max(self._node_cap(node, slug) - self._used.get(node, {}).get(slug, 0), 0)

    # -- nodes ---------------------------------------------------------------------------------

    def set_node(self, obj: Mapping[str, Any]) -> None:
        """Add or update a node from its API object."""
        node = node_from(obj)
        pods = self._detach_node(node.name)
        self.nodes[node.name] = node
        part: dict[str, tuple[int, int]] = {}
        shapes: dict[str, Placement] = {}
        for slug, flavor in self.flavors.items():
            placement = placement_on(flavor, node)
            if placement is not None:
                shapes[slug] = placement
                part[slug] = (node.allocatable.get(resource_of(placement), 0), 1)
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
        self._apply_pod(pod_from(obj))
        self.generation += 1

    def delete_pod(self, obj_or_key: Mapping[str, Any] | str) -> None:
        """Forget a pod (by API object or ``namespace/name``)."""
        key = obj_or_key if isinstance(obj_or_key, str) else pod_from(obj_or_key).key
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
                    amount = pod.requests.get(resource_of(shape), 0) if shape else 0
                    if amount > 0:
                        part[slug] = (amount, 0)
                    continue
                for placement in flavor.placements:
                    amount = pod.requests.get(resource_of(placement), 0)
                    if amount > 0 and pending_matches(placement, pod):
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
        fresh = {pod_from(o).key: o for o in objs}
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
