"""REST handlers: usage accounting (JSON or CSV) and activity reports from users' servers."""

from __future__ import annotations

from datetime import timedelta

from ..contract import MAX_TEXT
from .accounting import GROUP_BY, usage, usage_csv, usage_document
from .base import APIError, APIHandler, field
from .timeutil import parse_time, utcnow

MAX_DEVICES = 64

# No device draws more in one report (a 1 kW GPU reporting after a day of failures).
MAX_REPORT_WH = 24_000


class UsageHandler(APIHandler):
    async def get(self) -> None:
        principal = self.need_principal()
        now = utcnow()
        try:
            end = parse_time(self.get_argument("end")) if self.get_argument("end", "") else now
            start = (
                parse_time(self.get_argument("start"))
                if self.get_argument("start", "")
                else end - timedelta(days=30)
            )
        except (ValueError, OverflowError):
            raise APIError(422, "Give 'start' and 'end' as ISO 8601 timestamps.") from None
        if end <= start:
            raise APIError(422, "'end' must be after 'start'.")
        group_by = self.get_argument("group_by", "user")
        if group_by not in GROUP_BY:
            raise APIError(422, "'group_by' must be one of user, group, flavor.")
        fmt = self.get_argument("format", "json")
        if fmt not in ("json", "csv"):
            raise APIError(422, "'format' must be json or csv.")
        user = self.get_argument("user", None)
        group = self.get_argument("group", None)
        users: set[str] | None = {user} if user else None
        groups: set[str] | None = {group} if group else None
        if not principal.admin:
            if group is not None:
                if not principal.organises(group):
                    raise self.forbid(f"You may not read the usage of group {group!r}.")
            elif user is not None and user != principal.name:
                member_of = await self.core.directory.user_groups(user)
                organised = {g for g in member_of if principal.organises(g)}
                if not organised:
                    raise self.forbid("You may only read your own usage.")
                if not principal.organises_all:
                    groups = organised  # only what is charged to the groups they organise
            elif user is None:
                users = {principal.name}
        rows = await usage(self.core.store, start, end, group_by, now, users, groups)
        if fmt == "csv":
            self.set_header("Content-Type", "text/csv; charset=utf-8")
            self.finish(usage_csv(rows, group_by))
            return
        self.write_json(usage_document(rows, start, end, group_by))


class ActivityHandler(APIHandler):
    async def post(self) -> None:
        principal = self.need_principal()
        data = self.body_json()
        user = field(data, "user", str, principal.name, max_length=MAX_TEXT)
        server = field(data, "server", str, "", max_length=MAX_TEXT)
        if not (principal.admin or principal.is_user(user)):
            raise self.forbid("A server may only report its own user's activity.")
        try:
            if data.get("timestamp"):
                parse_time(field(data, "timestamp", str, max_length=MAX_TEXT))
        except (ValueError, OverflowError):
            raise APIError(422, "'timestamp' must be an ISO 8601 timestamp.") from None
        # The service's own clock: a server's clock (or a forged time) must not decide idleness.
        stamp = utcnow()
        devices = field(data, "devices", list, [])
        if len(devices) > MAX_DEVICES:
            raise APIError(422, f"At most {MAX_DEVICES} devices per report.")
        clean = []
        for device in devices:
            if not isinstance(device, dict) or not isinstance(device.get("busy", False), bool):
                raise APIError(422, "Each device needs a boolean 'busy'.")
            util = device.get("utilization_avg")
            mem = device.get("memory_used_bytes")
            if util is not None and (isinstance(util, bool) or not isinstance(util, int | float)):
                raise APIError(422, "'utilization_avg' must be a number or null.")
            if mem is not None and (isinstance(mem, bool) or not isinstance(mem, int)):
                raise APIError(422, "'memory_used_bytes' must be an integer or null.")
            if mem is not None and not 0 <= mem < 2**62:
                raise APIError(422, "'memory_used_bytes' is out of range.")
            if util is not None and not 0 <= util <= 100:
                raise APIError(422, "'utilization_avg' must be between 0 and 100.")
            energy = device.get("energy_wh")
            if energy is not None and (
                isinstance(energy, bool)
                or not isinstance(energy, int | float)
                or not 0 <= energy < MAX_REPORT_WH
            ):
                raise APIError(
                    422, f"'energy_wh' must be a number of watt-hours from 0 to {MAX_REPORT_WH}."
                )
            clean.append(
                {
                    "busy": bool(device.get("busy")),
                    "utilization_avg": util,
                    "memory_used_bytes": mem,
                    "energy_wh": energy,
                }
            )
        state = await self.app.activity.report(user, server, stamp, clean)
        reclaim = self.app.reclaimer.status(user, server)
        self.write_json(
            {
                "recorded": True,
                "last_busy": state.last_busy.isoformat() if state.last_busy else None,
                "reclaim": reclaim,
            }
        )
