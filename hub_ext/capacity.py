"""Admission without the hub service: by free capacity alone, read from the watch-fed inventory.

Quotas, per-user caps and reservations live in the hub service only (``ServicePolicy``); this
policy knows none of them. It refuses an accelerator when the cluster has fewer such devices than
asked for, or fewer free ones and the spawn may not wait; otherwise it grants, and a pod that
waits stays Pending in the scheduler's queue (the spawn's progress says what it waits for).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from traitlets import Float
from traitlets.config import LoggingConfigurable

from .admission import Entitlement, InUse, LeaseDecision
from .flavors import Flavor
from .inventory import ClusterInventory, FlavorCounts

SERVICE_POLICY = "hub_ext.admission.ServicePolicy"
#: The one line the hub logs at start-up when quotas are off.
NO_QUOTAS = (
    "accelhub: quotas are off, spawns are admitted by free capacity alone; set "
    f"c.AcceleratorSpawner.admission_policy_class = '{SERVICE_POLICY}' to turn them on "
    "(the accelhub hub service)"
)


class CapacityPolicy(LoggingConfigurable):
    """Grants what the cluster has free, without quotas or leases (no hub service needed)."""

    sync_wait_seconds = Float(
        10.0,
        help="How long a spawn waits for the inventory's first full list of nodes and pods "
        "(just after the hub starts) before it is admitted without a capacity check.",
    ).tag(config=True)

    def __init__(
        self, inventory: Callable[[], ClusterInventory] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._inventory = inventory

    async def request_lease(
        self,
        user: str,
        groups: list[str],
        server: str,
        flavor: Flavor,
        count: int,
        wait: bool,
    ) -> LeaseDecision:
        """Refuse only what the synced inventory shows cannot start (now, when not waiting)."""
        counts = await self._counts(flavor) if flavor.accelerated else None
        if counts is not None and (counts.capacity < count or (counts.free < count and not wait)):
            name = flavor.display_name
            if counts.capacity < count:
                message = (
                    f"The cluster has {counts.capacity} {name} device(s); you asked for {count}."
                )
            else:
                message = (
                    f"Only {counts.free} of {counts.capacity} {name} device(s) are free; "
                    f"you asked for {count}."
                )
            return LeaseDecision(
                granted=False, reason="capacity", message=message, in_use=InUse(free=counts.free)
            )
        return LeaseDecision(granted=True, lease_id=None, local=True)

    async def _counts(self, flavor: Flavor) -> FlavorCounts | None:
        """The flavor's counts, or None without a synced view (the scheduler then decides)."""
        if self._inventory is None:
            return None
        try:
            inventory = self._inventory()
        except Exception as err:
            self.log.warning("inventory unavailable for admission: %s", err)
            return None
        if not inventory.synced and not await inventory.wait_synced(self.sync_wait_seconds):
            self.log.warning(
                "the cluster inventory has not listed nodes and pods after %.0f s; "
                "admitting %s without a capacity check",
                self.sync_wait_seconds,
                flavor.slug,
            )
            return None
        return inventory.counts(flavor.slug)

    async def bind_lease(self, lease_id: str, namespace: str, pod: str) -> None:
        """Nothing to bind: there are no leases."""

    async def release_lease(self, lease_id: str) -> None:
        """Nothing to release: there are no leases."""

    async def leave_queue(self, user: str, server: str) -> None:
        """Nothing to leave: a waiting spawn waits as a Pending pod, not in a line."""

    async def entitlements(self, user: str, groups: list[str]) -> dict[str, Entitlement]:
        """No quotas: every flavor the catalog opens to the user is only limited by capacity."""
        return {}


def admission_notice(config: Any) -> str | None:
    """The start-up line saying quotas are off, or None when the hub service decides."""
    section = config.get("AcceleratorSpawner", {}) if hasattr(config, "get") else {}
    chosen = section.get("admission_policy_class", CapacityPolicy)
    name = chosen if isinstance(chosen, str) else f"{chosen.__module__}.{chosen.__qualname__}"
    return NO_QUOTAS if name.endswith("CapacityPolicy") else None


def log_admission_notice(config: Any) -> None:
    """Log :data:`NO_QUOTAS` on the hub's logger when quotas are off."""
    notice = admission_notice(config)
    if notice:
        logging.getLogger("JupyterHub").warning(notice)
