"""Idle-GPU reclaim: warn, then stop servers that hold accelerators without using them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from .activity import ActivityTracker
from .core import AdmissionCore
from .records import LeaseRecord
from .timeutil import iso

log = logging.getLogger("accelhub.service")


class Reclaimer:
    """Decides per lease whether its server idles too long; stops it through the hub."""

    def __init__(
        self,
        core: AdmissionCore,
        activity: ActivityTracker,
        stop_server: Callable[[str, str], Awaitable[None]],
        idle_timeout_minutes: float = 0,
        warning_minutes: float = 10,
        reclaim_reserved: bool = False,
    ) -> None:
        self.core = core
        self.activity = activity
        self.stop_server = stop_server
        self.idle_timeout_minutes = idle_timeout_minutes
        self.warning_minutes = warning_minutes
        self.reclaim_reserved = reclaim_reserved
        self.reclaimed: dict[tuple[str, str], dict[str, Any]] = {}
        self.on_reclaim: list[Callable[[LeaseRecord], None]] = []

    async def timeout_for(self, lease: LeaseRecord) -> float | None:
        """Minutes of idleness allowed for this lease; None when reclaim is off for it."""
        if lease.reservation_id and not self.reclaim_reserved:
            return None
        flavor = self.core.flavors.get(lease.flavor)
        if flavor is None or flavor.kind not in ("gpu", "mig"):
            return None
        minutes: Any = self.idle_timeout_minutes
        if lease.group:
            info = await self.core.directory.group(lease.group)
            settings = self.core.policy.group_settings(info.properties if info else None)
            if settings.get("hackathon"):
                return None
            if "idle_timeout_minutes" in settings:
                minutes = settings["idle_timeout_minutes"]
        if minutes is None or float(minutes) <= 0:
            return None
        return float(minutes)

    def idle_since(self, lease: LeaseRecord) -> datetime | None:
        state = self.activity.servers.get((lease.user, lease.server))
        if state is None or state.last_report < lease.started_at:
            return None  # no telemetry for this lease: never guess
        return max(lease.started_at, state.last_busy or lease.started_at)

    def status(self, user: str, server: str) -> dict[str, Any] | None:
        done = self.reclaimed.get((user, server))
        if done is not None:
            return done
        state = self.activity.servers.get((user, server))
        if state is None or state.warned_at is None:
            return None
        return {"state": "warned", "message": state.warning}

    async def tick(self, now: datetime) -> list[LeaseRecord]:
        """Warn or stop every idle lease; return the leases reclaimed. One lease that cannot be
        judged (a bad row) is logged and skipped: reclaim goes on for everyone else."""
        stopped = []
        for lease in list(self.core.ledger.leases.values()):
            try:
                released = await self._check(lease, now)
            except Exception:
                log.exception("idle check of lease %s failed", lease.id)
                continue
            if released is not None:
                stopped.append(released)
        return stopped

    async def _check(self, lease: LeaseRecord, now: datetime) -> LeaseRecord | None:
        """Warn about or stop one lease's server; the lease when it was reclaimed."""
        minutes = await self.timeout_for(lease)
        since = self.idle_since(lease)
        if minutes is None or since is None:
            return None
        limit = since + timedelta(minutes=minutes)
        state = self.activity.servers[(lease.user, lease.server)]
        if now < limit:
            if now >= limit - timedelta(minutes=self.warning_minutes) and state.warned_at is None:
                state.warned_at = now
                state.warning = (
                    f"Your {lease.flavor} accelerator has been idle since {since:%H:%M} UTC; "
                    f"the server will be stopped at {limit:%H:%M} UTC unless it is used."
                )
                log.info("warned %s/%s about an idle %s", lease.user, lease.server, lease.flavor)
            return None
        message = (
            f"Your server was stopped because its {lease.flavor} accelerator had no "
            f"activity for {minutes:g} minutes; start it again when you need it."
        )
        released = await self.core.release(lease.id, "idle", message)
        if released is None:
            return None
        self.reclaimed[(lease.user, lease.server)] = {
            "state": "stopped",
            "message": message,
            "at": iso(now),
            "lease": lease.id,
        }
        try:
            await self.stop_server(lease.user, lease.server)
        except Exception:
            log.exception("could not stop idle server %s/%s", lease.user, lease.server)
        log.info("reclaimed idle %s from %s/%s", lease.flavor, lease.user, lease.server)
        for hook in self.on_reclaim:
            hook(released)
        return released

    def forget(self, user: str, server: str) -> None:
        self.reclaimed.pop((user, server), None)
