"""Sites: InterLink virtual nodes seen through the watch-fed inventory, and the choice of one.

Pure functions of the inventory's state; nothing here talks to the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ...cluster_state import InventoryState
from ...contract import Site
from ...flavors import Flavor, Placement
from ...mig import device_labels
from ...placement import resource_of, site_placement

# interLink's virtual kubelet labels its node with both (older releases with `type` only).
VIRTUAL_LABELS = ("virtual-node.interlink/type", "type")
VIRTUAL_VALUE = "virtual-kubelet"
TAINT_KEY = "virtual-node.interlink/no-schedule"
HOSTNAME_LABEL = "kubernetes.io/hostname"
# Where a site's display name is read from, first found wins (annotation, then label), else
# the site label interLink's virtual kubelet sets, else the node's name.
DISPLAY_NAME_KEY = "accelhub.io/site-display-name"
SITE_LABEL = "virtual-node.interlink/site"


def sites(
    state: InventoryState,
    queued: Mapping[str, int],
    jobs: Sequence[tuple[Flavor, int]] = (),
) -> list[Site]:
    """Every virtual node as a site, by name, with the shape each of ``jobs`` (a flavor and
    its device count) takes there."""
    found = []
    for name in sorted(state.nodes):
        node = state.nodes[name]
        if not any(node.labels.get(label) == VIRTUAL_VALUE for label in VIRTUAL_LABELS):
            continue
        display = (
            node.annotations.get(DISPLAY_NAME_KEY)
            or node.labels.get(DISPLAY_NAME_KEY)
            or node.labels.get(SITE_LABEL)
        )
        site = Site(
            name=name,
            display_name=display or name,
            ready=bool(node.ready),
            last_seen=node.heartbeat,
            accelerators=free_accelerators(state, name),
            queue=queued.get(name, 0),
            message=None if node.ready else node.ready_message,
        )
        offers = {f.slug: shape(state, site, f, n) for f, n in jobs if f.resource and n}
        shapes = {slug: shape_text(p) for slug, p in offers.items() if p is not None}
        found.append(replace(site, offers=shapes))
    return found


def free_accelerators(state: InventoryState, node_name: str) -> dict[str, int]:
    """A node's extended resources (names with a '/'): allocatable minus live pods' requests."""
    node = state.nodes.get(node_name)
    if node is None:
        return {}
    free = {k: v for k, v in node.allocatable.items() if "/" in k}
    for pod in state.pods_on(node_name):
        if pod.live:
            for resource in free:
                free[resource] -= pod.requests.get(resource, 0)
    return {k: max(v, 0) for k, v in free.items()}


@dataclass(frozen=True)
class Choice:
    """A chosen site, the shape its job takes there, and why; or why no site fits."""

    site: Site | None
    reason: str
    placement: Placement | None = None


def shape_text(placement: Placement) -> str:
    """A placement's devices as a site offers them: the resource and its device labels."""
    labels = device_labels(placement.strategy, placement.node_selector)
    where = "".join(f" labelled {k}={v}" for k, v in labels.items())
    return f"{placement.resource}{where}"


def wanted(flavor: Flavor, count: int) -> str:
    """What a job of ``count`` devices asks of a site, in every shape the flavor allows."""
    return f"{count} " + " or ".join(shape_text(p) for p in flavor.placements)


def describe(site: Site, placement: Placement | None) -> str:
    if placement is None or placement.resource is None:
        return f"no accelerator needed, {site.queue} queued"
    free = site.accelerators.get(placement.resource, 0)
    return f"offers {shape_text(placement)}, {free} free, {site.queue} queued"


def shape(state: InventoryState, site: Site, flavor: Flavor, count: int) -> Placement | None:
    """The placement a job of ``flavor`` takes on the site (the first in the catalog's order
    with ``count`` free, else the one with most free), or None when the site offers none
    with ``count`` allocatable. Jobs without devices take the flavor's first."""
    if flavor.resource is None or not count:
        return flavor.placements[0]
    node = state.nodes.get(site.name)
    placement = site_placement(flavor, node, site.accelerators, count) if node else None
    if node is None or placement is None or node.allocatable.get(resource_of(placement), 0) < count:
        return None
    return placement


def offer(
    state: InventoryState, site: Site, flavor: Flavor, count: int
) -> tuple[Placement | None, str | None]:
    """The placement a job takes on the site, or why the site cannot take it."""
    if not site.ready:
        return None, "not ready"
    placement = shape(state, site, flavor, count)
    if placement is None:
        return None, "no " + wanted(flavor, count)
    return placement, None


def choose(state: InventoryState, candidates: list[Site], flavor: Flavor, count: int) -> Choice:
    """The best healthy site offering the flavor's devices in any of its shapes: most free
    devices, then shortest queue."""
    usable: list[tuple[Site, Placement]] = []
    skipped: list[str] = []
    for site in candidates:
        placement, why = offer(state, site, flavor, count)
        if placement is not None:
            usable.append((site, placement))
        else:
            skipped.append(f"{site.name} ({why})")
    if not usable:
        what = wanted(flavor, count) if flavor.resource and count else "jobs"
        return Choice(None, f"No ready site offers {what}: " + ", ".join(skipped) + ".")

    def rank(option: tuple[Site, Placement]) -> tuple[bool, int, int]:
        site, placement = option
        free = site.accelerators.get(placement.resource, 0) if placement.resource else 0
        return (free >= count, free - site.queue * max(count, 1), -site.queue)

    best, placement = max(usable, key=rank)
    reason = "chosen: " + describe(best, placement)
    if skipped:
        reason += "; skipped " + ", ".join(skipped)
    return Choice(best, reason, placement)
