"""Sites: InterLink virtual nodes seen through the watch-fed inventory, and the choice of one.

Pure functions of the inventory's state; nothing here talks to the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ...cluster_state import InventoryState
from ...contract import Site

# interLink's virtual kubelet labels its node with both (older releases with `type` only).
VIRTUAL_LABELS = ("virtual-node.interlink/type", "type")
VIRTUAL_VALUE = "virtual-kubelet"
TAINT_KEY = "virtual-node.interlink/no-schedule"
HOSTNAME_LABEL = "kubernetes.io/hostname"
# Where a site's display name is read from, first found wins (annotation, then label), else
# the site label interLink's virtual kubelet sets, else the node's name.
DISPLAY_NAME_KEY = "accelhub.io/site-display-name"
SITE_LABEL = "virtual-node.interlink/site"


def sites(state: InventoryState, queued: Mapping[str, int]) -> list[Site]:
    """Every virtual node as a site, by name."""
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
        found.append(
            Site(
                name=name,
                display_name=display or name,
                ready=bool(node.ready),
                last_seen=node.heartbeat,
                accelerators=free_accelerators(state, name),
                queue=queued.get(name, 0),
                message=None if node.ready else node.ready_message,
            )
        )
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
    """A chosen site and why, or why none fits."""

    site: Site | None
    reason: str


def describe(site: Site, resource: str | None) -> str:
    if resource is None:
        return f"no accelerator needed, {site.queue} queued"
    return f"offers {resource}, {site.accelerators.get(resource, 0)} free, {site.queue} queued"


def fits(site: Site, resource: str | None, count: int, capacity: int | None) -> str | None:
    """Why a site cannot take the job (None: it can). ``capacity`` is its allocatable."""
    if not site.ready:
        return "not ready"
    if resource is not None and count and (capacity or 0) < count:
        return f"no {count} {resource}"
    return None


def choose(
    state: InventoryState, candidates: list[Site], resource: str | None, count: int
) -> Choice:
    """The best healthy site offering the resource: most free devices, then shortest queue."""
    usable: list[Site] = []
    skipped: list[str] = []
    for site in candidates:
        node = state.nodes.get(site.name)
        capacity = node.allocatable.get(resource, 0) if node is not None and resource else None
        why = fits(site, resource, count, capacity)
        if why is None:
            usable.append(site)
        else:
            skipped.append(f"{site.name} ({why})")
    if not usable:
        what = f"{count} {resource}" if resource and count else "jobs"
        return Choice(None, f"No ready site offers {what}: " + ", ".join(skipped) + ".")

    def rank(site: Site) -> tuple[bool, int, int]:
        free = site.accelerators.get(resource, 0) if resource else 0
        return (free >= count, free - site.queue * max(count, 1), -site.queue)

    best = max(usable, key=rank)
    reason = "chosen: " + describe(best, resource)
    if skipped:
        reason += "; skipped " + ", ".join(skipped)
    return Choice(best, reason)
