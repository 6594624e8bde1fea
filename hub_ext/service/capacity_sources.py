"""Where admission learns how many devices of a flavor exist: the cluster, config, or nowhere."""

from __future__ import annotations

from typing import Protocol

from .records import Capacity


class CapacitySource(Protocol):
    """Devices per flavor in the cluster (None when unknown)."""

    def capacity(self, flavor: str) -> Capacity | None: ...


class NoCapacity:
    """Capacity unknown: only quotas and reservations limit admission."""

    def capacity(self, flavor: str) -> Capacity | None:
        return None


class StaticCapacity:
    """Fixed device totals per flavor (from config), for running without Kubernetes."""

    def __init__(self, totals: dict[str, int]) -> None:
        self.totals = totals

    def capacity(self, flavor: str) -> Capacity | None:
        total = self.totals.get(flavor)
        return None if total is None else Capacity(total)
