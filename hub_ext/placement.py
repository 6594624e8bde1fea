"""Where a flavor's pod fits: which of its placements (one per MIG strategy, else one) a node
offers, and which one a new pod takes. Used by local placement and by offload to sites."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .cluster_objects import NodeView, PodView
from .flavors import Flavor, Placement
from .mig import device_labels

if TYPE_CHECKING:
    from .cluster_state import InventoryState

CPU_KEY = "cpu"
# Taint effects that keep a pod off a node unless tolerated.
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


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


def resource_of(placement: Placement) -> str:
    """The resource a placement's devices are counted in (cpu flavors: cores)."""
    return placement.resource or CPU_KEY


def placement_on(flavor: Flavor, node: NodeView) -> Placement | None:
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
        if resource_of(placement) in node.allocatable:
            return placement
    return None


def pending_matches(placement: Placement, pod: PodView) -> bool:
    """Whether an unbound pod's selector allows this placement's nodes."""
    selector = placement.node_selector
    return all(selector.get(k, v) == v for k, v in pod.node_selector.items())


def waiting_for(pods: Iterable[PodView], placement: Placement) -> int:
    """Devices of the placement's resource asked for by live pods no node holds yet."""
    resource = resource_of(placement)
    return sum(
        pod.requests.get(resource, 0)
        for pod in pods
        if pod.node is None and pod.live and pending_matches(placement, pod)
    )


def prefer(placements: Sequence[Placement], room: Mapping[Placement, int], count: int) -> Placement:
    """The first placement (in the catalog's order) with room for ``count`` devices, else the
    one with the most room."""
    for placement in placements:
        if room.get(placement, 0) >= count:
            return placement
    return max(placements, key=lambda p: (room.get(p, 0), -placements.index(p)))


def choose_placement(state: InventoryState, flavor: Flavor, count: int) -> Placement:
    """Where a new pod of ``count`` devices should go: the preferred placement with a node
    that fits it once unbound pods asking for that placement are served."""
    placements = flavor.placements
    if len(placements) == 1:
        return placements[0]
    best: dict[Placement, int] = {}
    for node in state.nodes:
        shape = state.shape_on(node, flavor.slug)
        if shape is not None:
            best[shape] = max(best.get(shape, 0), state.free_on(node, flavor.slug))
    pods = state.pods.values()
    room = {p: best.get(p, 0) - waiting_for(pods, p) for p in placements}
    return prefer(placements, room, count)


def site_placements(flavor: Flavor, node: NodeView) -> list[Placement]:
    """The flavor's placements a remote site (an InterLink virtual node) offers, preferred
    first: it advertises the placement's resource and carries its device labels; other labels
    of the node selector are local nodes' and are asked of a site only when it sets them."""
    offered = []
    for placement in flavor.placements:
        needed = device_labels(placement.strategy, placement.node_selector)
        if any(node.labels.get(k) != v for k, v in needed.items()):
            continue
        if any(node.labels.get(k, v) != v for k, v in placement.node_selector.items()):
            continue
        if placement.resource is None or placement.resource in node.allocatable:
            offered.append(placement)
    return offered


def site_placement(
    flavor: Flavor, node: NodeView, free: Mapping[str, int], count: int
) -> Placement | None:
    """The placement a job of ``count`` devices takes on a site with ``free`` devices by
    resource (the same preference as on local nodes), or None when the site offers none."""
    offered = site_placements(flavor, node)
    if not offered:
        return None
    return prefer(offered, {p: free.get(resource_of(p), 0) for p in offered}, count)
