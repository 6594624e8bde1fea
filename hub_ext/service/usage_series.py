"""Usage over time for the pages' charts: allocated and busy device-hours per day and key
(group, flavor or user), per-flavor utilisation, and the longest-idle holders now. Each day
is ``accounting.usage`` over that day, so the charts and the CSV count the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .accounting import usage
from .records import LeaseRecord
from .store import Repository

WINDOWS = (7, 14, 30, 90)  # days a page may show
DIMENSIONS = ("group", "flavor", "user")


@dataclass(frozen=True)
class Series:
    """Per-day figures: ``days`` (UTC midnights, as Unix seconds, uPlot's x axis) and, per
    key, allocated and busy device-hours (busy ``None`` on a day without telemetry)."""

    days: list[int]
    allocated: dict[str, list[float]]
    busy: dict[str, list[float | None]]
    totals: list[dict[str, Any]]

    def to_json(self) -> dict[str, Any]:
        return {"days": self.days, "allocated": self.allocated, "busy": self.busy}


def window(days: str | None, default: int = 14) -> int:
    """The window the page asked for, one of ``WINDOWS`` (anything else is the default)."""
    try:
        wanted = int(days or default)
    except ValueError:
        return default
    return wanted if wanted in WINDOWS else default


async def daily(
    store: Repository,
    days: int,
    group_by: str,
    now: datetime,
    users: set[str] | None = None,
    groups: set[str] | None = None,
) -> Series:
    """The last ``days`` days (today included, up to ``now``), one point per day and key."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = [today - timedelta(days=days - 1 - i) for i in range(days)]
    allocated: dict[str, list[float]] = {}
    busy: dict[str, list[float | None]] = {}
    for index, start in enumerate(starts):
        end = min(start + timedelta(days=1), now)
        for row in await usage(store, start, end, group_by, now, users=users, groups=groups):
            key = str(row[group_by]) or "no group"
            allocated.setdefault(key, [0.0] * days)[index] = round(row["device_hours"], 4)
            seen = row["busy_device_hours"]
            busy.setdefault(key, [None] * days)[index] = None if seen is None else round(seen, 4)
    totals = await usage(store, starts[0], now, group_by, now, users=users, groups=groups)
    return Series(
        days=[int(s.timestamp()) for s in starts],
        allocated=allocated,
        busy={k: busy.get(k, [None] * days) for k in allocated},
        totals=totals,
    )


@dataclass(frozen=True)
class IdleHolder:
    """A live lease whose devices have not been busy for ``idle_seconds``."""

    user: str
    server: str
    flavor: str
    count: int
    idle_seconds: float
    reported: bool  # False: the server never sent telemetry, idle counts from the grant


def idle_holders(
    leases: Iterable[LeaseRecord],
    activity: Mapping[tuple[str, str], Any],
    now: datetime,
    accelerated: set[str],
    top: int = 10,
) -> list[IdleHolder]:
    """The ``top`` accelerator leases idle the longest right now (a lease whose latest report
    was busy is not idle)."""
    rows = []
    for lease in leases:
        if lease.flavor not in accelerated or lease.ended_at is not None:
            continue
        state = activity.get((lease.user, lease.server))
        last_busy = getattr(state, "last_busy", None)
        if state is not None and last_busy is not None and last_busy >= state.last_report:
            continue  # its latest report found the device busy: not idle now
        since = max(last_busy or lease.started_at, lease.started_at)
        rows.append(
            IdleHolder(
                user=lease.user,
                server=lease.server,
                flavor=lease.flavor,
                count=lease.count,
                idle_seconds=max((now - since).total_seconds(), 0.0),
                reported=state is not None,
            )
        )
    rows.sort(key=lambda r: r.idle_seconds, reverse=True)
    return rows[:top]
