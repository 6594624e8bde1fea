"""The wire contract between the spawner, the hub service and the pods: the JSON types of the
admission API, the refusal reasons and the pod labels. The service writes these types, the
spawner's client reads them, and the OpenAPI document is generated from them."""

from __future__ import annotations

import dataclasses
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin, get_type_hints

# -- refusal reasons ------------------------------------------------------------------------

REASONS = ("quota", "user_cap", "reservation", "capacity", "not_allowed", "unknown_flavor")
# Refusals that waiting in the flavor's line can cure: a device frees or a reservation ends.
# Quota and per-user caps are not: they free only when the same group or user stops a server,
# which the line does not track, so such a request is refused at once and never queued.
WAITABLE = frozenset({"capacity", "reservation"})

# -- pod labels ------------------------------------------------------------------------------

LEASE_LABEL = "accelhub.io/lease"
FLAVOR_LABEL = "accelhub.io/flavor"
KIND_LABEL = "accelhub.io/kind"
USER_LABEL = "accelhub.io/user"
RESERVATION_LABEL = "accelhub.io/reservation"
PLACEHOLDER_LABEL = "accelhub.io/placeholder"


def label_value(text: str) -> str:
    """A valid Kubernetes label value for any text (63 chars, alphanumerics at both ends)."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return value.strip("._-") or "x"


def lease_labels(
    lease_id: str, flavor: str, user: str, reservation_id: str | None = None
) -> dict[str, str]:
    """The labels of a pod holding a lease."""
    labels = {
        LEASE_LABEL: lease_id,
        FLAVOR_LABEL: label_value(flavor),
        USER_LABEL: label_value(user),
    }
    if reservation_id:
        labels[RESERVATION_LABEL] = reservation_id
    return labels


# -- (de)serialisation -------------------------------------------------------------------------


# The longest text any request field may hold: the store's columns are String(255).
MAX_TEXT = 255


def text(**extra: Any) -> dict[str, Any]:
    """Metadata of a request's text field: at most MAX_TEXT characters."""
    return schema(maxLength=MAX_TEXT, **extra)


class ContractError(ValueError):
    """A body that does not match its wire type; the message is a sentence."""


def schema(**extra: Any) -> dict[str, Any]:
    """Field metadata: OpenAPI keywords (minimum, maxLength, enum, format, ...) that a request
    body is also checked against."""
    return {"schema": extra}


T = TypeVar("T", bound="Wire")


class Wire:
    """A dataclass on the wire: ``to_json`` writes it, ``from_json`` reads it leniently (an
    answer from the other side), ``parse`` strictly (a request body, errors as sentences)."""

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    def to_json(self) -> dict[str, Any]:
        return {f.name: _dump(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls: type[T], data: Mapping[str, Any] | None) -> T:
        data = data or {}
        values = {}
        for f in dataclasses.fields(cls):
            if data.get(f.name) is not None:
                values[f.name] = _coerce(hints(cls)[f.name], data[f.name])
        return cls(**values)

    @classmethod
    def parse(cls: type[T], data: Mapping[str, Any]) -> T:
        values = {}
        for f in dataclasses.fields(cls):
            value = data.get(f.name)
            if value is None:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ContractError(f"The field {f.name!r} is required.")
                continue
            values[f.name] = _check(f, hints(cls)[f.name], value)
        return cls(**values)


_HINTS: dict[type, dict[str, Any]] = {}


def hints(cls: type) -> dict[str, Any]:
    """The resolved type hints of a wire type's fields (computed once per type)."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = get_type_hints(cls)
    return found


def _dump(value: Any) -> Any:
    if isinstance(value, Wire):
        return value.to_json()
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value


def optional(hint: Any) -> tuple[Any, bool]:
    """(the type inside Optional, whether None is allowed)."""
    if get_origin(hint) in (Union, types.UnionType):
        args = [a for a in get_args(hint) if a is not type(None)]
        return args[0], len(args) < len(get_args(hint))
    return hint, False


def _coerce(hint: Any, value: Any) -> Any:
    hint, _ = optional(hint)
    origin = get_origin(hint)
    try:
        if isinstance(hint, type) and issubclass(hint, Wire):
            return hint.from_json(value) if isinstance(value, Mapping) else None
        if origin is list:
            (item,) = get_args(hint)
            return [_coerce(item, v) for v in value] if isinstance(value, list) else []
        if origin is dict:
            _, item = get_args(hint)
            return {str(k): _coerce(item, v) for k, v in value.items()}
        if hint in (int, float, str, bool):
            return hint(value)
    except (TypeError, ValueError, AttributeError):
        return None
    return value


_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "list"}


def _check(f: dataclasses.Field[Any], hint: Any, value: Any) -> Any:
    hint, _ = optional(hint)
    kind = get_origin(hint) or hint
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ContractError(f"The field {f.name!r} must be an integer.")
    if kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ContractError(f"The field {f.name!r} must be a number.")
    if kind in (str, bool, list, dict) and not isinstance(value, kind):
        raise ContractError(f"The field {f.name!r} must be a {_NAMES.get(kind, 'object')}.")
    rules = f.metadata.get("schema", {})
    if "minLength" in rules and len(value) < rules["minLength"]:
        raise ContractError(f"The field {f.name!r} must not be empty.")
    if "maxLength" in rules and len(value) > rules["maxLength"]:
        raise ContractError(f"The field {f.name!r} is longer than {rules['maxLength']} characters.")
    low, high = rules.get("minimum"), rules.get("maximum")
    if low is not None and high is not None and not low <= value <= high:
        raise ContractError(f"The field {f.name!r} must be between {low} and {high}.")
    if low is not None and value < low:
        raise ContractError(f"The field {f.name!r} must be at least {low}.")
    if "maxItems" in rules and len(value) > rules["maxItems"]:
        raise ContractError(f"The field {f.name!r} has more than {rules['maxItems']} items.")
    return value


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
