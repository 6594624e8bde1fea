"""In-memory records of leases, reservations and waiting-line entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class FlavorLike(Protocol):
    """What the service needs from a catalog flavor."""

    @property
    def slug(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def resource(self) -> str | None: ...

    @property
    def node_selector(self) -> dict[str, str]: ...

    @property
    def tolerations(self) -> list[dict[str, Any]]: ...

    @property
    def groups(self) -> tuple[str, ...]: ...


@dataclass
class LeaseRecord:
    """Devices granted to one user's server."""

    id: str
    user: str
    server: str
    flavor: str
    count: int
    group: str | None
    reservation_id: str | None
    started_at: datetime
    expires_at: datetime | None = None
    namespace: str | None = None
    pod: str | None = None
    bound_at: datetime | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None
    end_message: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.user, self.server)


@dataclass
class ReservationRecord:
    """Devices of a flavor held for a group's members during [start, end)."""

    id: str
    name: str
    group: str
    flavor: str
    count: int | None
    per_member: bool
    start: datetime
    end: datetime
    created_by: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.start <= now < self.end

    def size(self, members: int) -> int:
        """Devices held: one per member, or the fixed count."""
        return members if self.per_member else int(self.count or 0)


@dataclass
class LineEntry:
    """A user's server waiting in line for a flavor."""

    id: str
    user: str
    server: str
    flavor: str
    count: int
    enqueued_at: datetime
    last_reason: str = "capacity"
    last_seen: datetime | None = None  # the owner's last poll (None: since enqueued_at)


@dataclass
class Capacity:
    """Devices of one flavor in the cluster and those used outside leases."""

    total: int
    external_used: int = 0


@dataclass
class Context:
    """What a decision needs to know about the user, fetched before deciding."""

    groups: list[str]
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    reservation_sizes: dict[str, int] = field(default_factory=dict)
