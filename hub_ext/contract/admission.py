"""The admission, reservation and activity API: the types the service writes and the
spawner's client reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .labels import REASONS
from .wire import ContractError, Wire, schema, text

# -- the admission API -------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionRequest(Wire):
    """``POST api/v1/admissions``: a lease for a user's server."""

    user: str = field(metadata=text(minLength=1))
    flavor: str = field(metadata=text(minLength=1))
    server: str = field(default="", metadata=text())
    count: int | None = field(
        default=None,
        metadata=schema(
            minimum=0,
            maximum=64,
            description="Devices: 0 for a flavor without an accelerator (its default), "
            "1 to 64 otherwise (default 1).",
        ),
    )
    wait: bool = False


@dataclass(frozen=True)
class BindRequest(Wire):
    """``POST api/v1/leases/{id}/bind``: the pod holding a lease."""

    namespace: str = field(metadata=text(minLength=1))
    pod: str = field(metadata=text(minLength=1))


@dataclass(frozen=True)
class PodRef(Wire):
    namespace: str | None = None
    pod: str | None = None


@dataclass(frozen=True)
class Lease(Wire):
    """Devices granted to a user's server, and what its pod must carry."""

    id: str
    user: str = ""
    server: str = ""
    flavor: str = ""
    count: int = 0
    group: str | None = None
    reservation: str | None = None
    tolerations: list[dict[str, Any]] = field(default_factory=list)
    node_selector: dict[str, str] = field(default_factory=dict)
    priority_class_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    started_at: str | None = field(default=None, metadata=schema(format="date-time"))
    expires_at: str | None = field(default=None, metadata=schema(format="date-time"))
    bound: PodRef | None = None
    ended_at: str | None = field(default=None, metadata=schema(format="date-time"))
    end_reason: str | None = None
    end_message: str | None = None


@dataclass(frozen=True)
class Granted(Wire):
    """The admission answer when devices are granted."""

    lease: Lease
    granted: bool = field(default=True, metadata=schema(enum=[True]))


@dataclass
class InUse(Wire):
    """Devices in use when a request was refused, for the message a user reads."""

    user: int = 0
    group: int = 0
    group_quota: int | None = None
    user_cap: int | None = None
    free: int | None = None


@dataclass
class Refusal(Wire):
    """The admission answer when devices are refused: why, and what is in use."""

    reason: str = field(metadata=schema(enum=list(REASONS)))
    message: str
    in_use: InUse = field(default_factory=InUse)
    queue_position: int | None = None
    retry_after_seconds: int | None = None
    queue_length: int | None = None
    granted: bool = field(default=False, metadata=schema(enum=[False]))


def admission_answer(data: Mapping[str, Any]) -> Granted | Refusal:
    """Read an admission answer; a grant without a lease id is not one."""
    if data.get("granted"):
        lease = data.get("lease")
        if not isinstance(lease, Mapping) or not lease.get("id"):
            raise ContractError("a granted admission carries no lease id")
        return Granted(Lease.from_json(lease))
    refusal = Refusal.from_json({"reason": "capacity", "message": "", **data})
    if refusal.reason not in REASONS:
        refusal.reason = "capacity"
    return refusal


@dataclass(frozen=True)
class ReservationRef(Wire):
    """A hackathon reservation a lease claims or an entitlement shows."""

    id: str = ""
    name: str = ""
    group: str = ""
    ends_at: str | None = field(default=None, metadata=schema(format="date-time"))
    unclaimed: int | None = None


@dataclass(frozen=True)
class Entitlement(Wire):
    """What one user may do with one flavor right now (for the spawn form)."""

    allowed: bool = False
    reason: str | None = None
    message: str | None = None
    user_in_use: int = 0
    user_cap: int | None = None
    group_quota_remaining: int | None = None
    reservation: ReservationRef | None = None
    queue_position: int | None = None


@dataclass(frozen=True)
class Entitlements(Wire):
    """``GET api/v1/users/{name}/entitlements``: per flavor slug."""

    flavors: dict[str, Entitlement] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueEntry(Wire):
    """A server waiting in a flavor's line."""

    id: str
    user: str
    server: str
    flavor: str
    count: int
    position: int
    enqueued_at: str = field(metadata=schema(format="date-time"))
    waiting_for: str | None = None


@dataclass(frozen=True)
class Queue(Wire):
    """``GET api/v1/queue``: line lengths per flavor and the entries the caller may see."""

    lines: dict[str, int] = field(default_factory=dict)
    entries: list[QueueEntry] = field(default_factory=list)


# -- reservations and activity -----------------------------------------------------------------


@dataclass(frozen=True)
class ReservationRequest(Wire):
    """``POST api/v1/reservations``: devices for a group's members during a window."""

    group: str = field(metadata=text(minLength=1))
    flavor: str = field(metadata=text(minLength=1))
    start: str = field(metadata=text(format="date-time", minLength=1))
    end: str = field(metadata=text(format="date-time", minLength=1))
    name: str = field(default="", metadata=text())
    count: int | None = field(default=None, metadata=schema(minimum=1, maximum=100000))
    per_member: bool = False


@dataclass(frozen=True)
class ReservationChange(Wire):
    """``PATCH api/v1/reservations/{id}``: extend or shrink a reservation (its window, its
    device count or one-per-member) or rename it; a field left out keeps its value."""

    start: str | None = field(default=None, metadata=text(format="date-time", minLength=1))
    end: str | None = field(default=None, metadata=text(format="date-time", minLength=1))
    name: str | None = field(default=None, metadata=text())
    count: int | None = field(default=None, metadata=schema(minimum=1, maximum=100000))
    per_member: bool | None = None


@dataclass(frozen=True)
class Participant(Wire):
    user: str
    lease: str | None = None


@dataclass(frozen=True)
class Reservation(Wire):
    """A reservation as organisers and members see it."""

    id: str
    name: str
    group: str
    flavor: str
    count: int | None
    per_member: bool
    start: str = field(metadata=schema(format="date-time"))
    end: str = field(metadata=schema(format="date-time"))
    created_by: str = ""
    created_at: str | None = field(default=None, metadata=schema(format="date-time"))
    active: bool = False
    size: int = 0
    claimed: int = 0
    unclaimed: int = 0
    participants: list[Participant] | None = None


@dataclass(frozen=True)
class DeviceActivity(Wire):
    busy: bool
    uuid: str | None = field(default=None, metadata=text())
    kind: str | None = field(default=None, metadata=schema(enum=["gpu", "mig"]))
    utilization_avg: float | None = field(default=None, metadata=schema(minimum=0, maximum=100))
    memory_used_bytes: int | None = field(default=None, metadata=schema(minimum=0))
    # Energy drawn since the server's previous report, from NVML's power readings.
    energy_wh: float | None = field(default=None, metadata=schema(minimum=0))


@dataclass(frozen=True)
class ActivityReport(Wire):
    """``POST api/v1/activity``: GPU activity of a user's server."""

    server: str = field(metadata=text())
    devices: list[DeviceActivity] = field(metadata=schema(maxItems=64))
    user: str | None = field(default=None, metadata=text())
    timestamp: str | None = field(default=None, metadata=text(format="date-time"))


@dataclass(frozen=True)
class Error(Wire):
    """Every 4xx and 5xx answer: a sentence for people."""

    message: str
