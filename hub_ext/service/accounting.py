"""Device-hours per user, group or flavor for a period, with GPU utilisation when reported."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from .models import ActivityRow, LeaseRow
from .timeutil import iso

GROUP_BY = ("user", "group", "flavor")


async def usage(
    engine: AsyncEngine,
    start: datetime,
    end: datetime,
    group_by: str,
    now: datetime,
    users: set[str] | None = None,
    groups: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Allocation (device-hours from leases) and mean utilisation, one row per key."""
    query = select(LeaseRow).where(
        LeaseRow.started_at < end, or_(LeaseRow.ended_at.is_(None), LeaseRow.ended_at > start)
    )
    if users is not None:
        query = query.where(LeaseRow.user.in_(sorted(users)))
    if groups is not None:
        query = query.where(LeaseRow.group.in_(sorted(groups)))
    util_query = (
        select(
            ActivityRow.user,
            ActivityRow.server,
            func.avg(ActivityRow.utilization_avg),
            func.sum(ActivityRow.busy),
            func.sum(ActivityRow.devices),
        )
        .where(and_(ActivityRow.timestamp >= start, ActivityRow.timestamp < end))
        .group_by(ActivityRow.user, ActivityRow.server)
    )
    async with engine.connect() as conn:
        leases = (await conn.execute(query)).mappings().all()
        util = {
            (row[0], row[1]): (row[2], row[3], row[4]) for row in (await conn.execute(util_query))
        }
    hours: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    util_weight: dict[str, float] = defaultdict(float)
    util_sum: dict[str, float] = defaultdict(float)
    busy_hours: dict[str, float] = defaultdict(float)
    for lease in leases:
        key = str(lease[group_by] if group_by != "group" else (lease["group"] or ""))
        lo = max(lease["started_at"], start)
        hi = min(lease["ended_at"] or now, end, now)
        if hi <= lo:
            continue
        device_hours = lease["count"] * (hi - lo).total_seconds() / 3600.0
        hours[key] += device_hours
        counts[key] += 1
        sample = util.get((lease["user"], lease["server"]))
        if sample is not None:
            mean, busy, devices = sample
            if mean is not None:
                util_sum[key] += float(mean) * device_hours
                util_weight[key] += device_hours
            if devices:
                busy_hours[key] += device_hours * float(busy or 0) / float(devices)
    rows = []
    for key in sorted(hours):
        rows.append(
            {
                group_by: key,
                "device_hours": round(hours[key], 6),
                "leases": counts[key],
                "busy_device_hours": round(busy_hours[key], 6) if key in busy_hours else None,
                "gpu_utilization_avg": (
                    round(util_sum[key] / util_weight[key], 3) if util_weight.get(key) else None
                ),
            }
        )
    return rows


def usage_document(
    rows: list[dict[str, Any]], start: datetime, end: datetime, group_by: str
) -> dict[str, Any]:
    return {"start": iso(start), "end": iso(end), "group_by": group_by, "rows": rows}


def usage_csv(rows: list[dict[str, Any]], group_by: str) -> str:
    """The rows as CSV with a header line."""
    out = io.StringIO()
    fields = [group_by, "device_hours", "leases", "busy_device_hours", "gpu_utilization_avg"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in fields})
    return out.getvalue()
