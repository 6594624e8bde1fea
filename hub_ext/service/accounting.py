"""Device-hours per user, group or flavor for a period, with GPU utilisation and energy when
reported."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

from .records import LeaseRecord
from .store import Repository
from .timeutil import iso

GROUP_BY = ("user", "group", "flavor")


async def usage(
    store: Repository,
    start: datetime,
    end: datetime,
    group_by: str,
    now: datetime,
    users: set[str] | None = None,
    groups: set[str] | None = None,
) -> list[dict[str, Any]]:
    """Allocation (device-hours from leases), mean utilisation and energy, one row per key.
    A server's energy in the period is shared among its leases by their device-hours."""
    leases = await store.leases_between(start, end, users, groups)
    util = await store.utilisation(start, end)
    spans = [(lease, _device_hours(lease, start, end, now)) for lease in leases]
    server_hours: dict[tuple[str, str], float] = defaultdict(float)
    for lease, device_hours in spans:
        server_hours[(lease.user, lease.server)] += device_hours
    energy: dict[str, float] = defaultdict(float)
    hours: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    util_weight: dict[str, float] = defaultdict(float)
    util_sum: dict[str, float] = defaultdict(float)
    busy_hours: dict[str, float] = defaultdict(float)
    for lease, device_hours in spans:
        key = {"user": lease.user, "group": lease.group or "", "flavor": lease.flavor}[group_by]
        if device_hours <= 0:
            continue
        hours[key] += device_hours
        counts[key] += 1
        sample = util.get((lease.user, lease.server))
        if sample is not None:
            if sample.mean is not None:
                util_sum[key] += sample.mean * device_hours
                util_weight[key] += device_hours
            if sample.devices:
                busy_hours[key] += device_hours * sample.busy / sample.devices
            if sample.energy_wh is not None:
                share = device_hours / server_hours[(lease.user, lease.server)]
                energy[key] += sample.energy_wh * share / 1000.0
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
                "energy_kwh": round(energy[key], 6) if key in energy else None,
            }
        )
    return rows


def _device_hours(lease: LeaseRecord, start: datetime, end: datetime, now: datetime) -> float:
    """The lease's device-hours inside [start, end), up to ``now``."""
    lo = max(lease.started_at, start)
    hi = min(lease.ended_at or now, end, now)
    return lease.count * (hi - lo).total_seconds() / 3600.0 if hi > lo else 0.0


def usage_document(
    rows: list[dict[str, Any]], start: datetime, end: datetime, group_by: str
) -> dict[str, Any]:
    return {"start": iso(start), "end": iso(end), "group_by": group_by, "rows": rows}


# Leading characters a spreadsheet reads as a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: formula-like text gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def usage_csv(rows: list[dict[str, Any]], group_by: str) -> str:
    """The rows as CSV with a header line; names are neutralised against formula injection."""
    out = io.StringIO()
    fields = [
        group_by,
        "device_hours",
        "leases",
        "busy_device_hours",
        "gpu_utilization_avg",
        "energy_kwh",
    ]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(row.get(k)) for k in fields})
    return out.getvalue()
