"""What a reservation request must satisfy before the core looks at groups and capacity."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .records import FlavorLike


class ReservationError(ValueError):
    """A reservation request that cannot be honoured; the message is a sentence."""


class ReservationConflict(ReservationError):
    """A request that is well formed but clashes with what exists (devices, claims, time)."""


def check_request(
    flavors: Mapping[str, FlavorLike],
    flavor: str,
    count: int | None,
    per_member: bool,
    start: datetime,
    end: datetime,
    now: datetime,
    max_days: float,
) -> None:
    """Raise :class:`ReservationError` for an unknown flavor, a bad window or a bad count."""
    if flavor not in flavors:
        raise ReservationError(f"There is no accelerator flavor called {flavor!r}.")
    if flavors[flavor].resource is None:
        raise ReservationError(f"The flavor {flavor!r} has no accelerator to reserve.")
    if end <= start:
        raise ReservationError("The reservation must end after it starts.")
    if end <= now:
        raise ReservationError("The reservation window is already over.")
    horizon = timedelta(days=max_days)
    if start < now - horizon or end > now + horizon:
        raise ReservationError(f"A reservation must lie within {max_days:g} days of now.")
    if not per_member and (count is None or count < 1):
        raise ReservationError("Give a device count of at least 1, or per-member.")


def check_room(flavor: str, total: int, overlapping: int, size: int) -> None:
    """Raise :class:`ReservationError` when ``size`` more devices do not fit beside the
    ``overlapping`` ones already reserved of ``total``."""
    if size > total:
        raise ReservationConflict(
            f"The cluster has only {total} {flavor} devices; {size} were asked for."
        )
    if overlapping + size > total:
        raise ReservationConflict(
            f"Only {max(total - overlapping, 0)} {flavor} devices can still be "
            f"reserved in that window; {size} were asked for."
        )


def check_change(
    now: datetime, old_end: datetime, start: datetime, size: int, claimed: int
) -> None:
    """Raise :class:`ReservationConflict` when an ended reservation would change, or when a
    change would take devices participants already claimed."""
    if old_end <= now:
        raise ReservationConflict("The reservation has ended; it can no longer change.")
    if size < claimed:
        raise ReservationConflict(
            f"Participants already claimed {claimed} of its devices; "
            f"it cannot shrink below {claimed}."
        )
    if claimed and start > now:
        raise ReservationConflict(
            f"Participants already claimed {claimed} of its devices; "
            "its start cannot move later than now."
        )
