"""GPU activity reported by users' servers: stored for accounting, tracked for idle reclaim."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .store import Repository


@dataclass
class ServerActivity:
    """The latest known activity of one user's server."""

    last_report: datetime
    last_busy: datetime | None
    warned_at: datetime | None = None
    warning: str | None = None


class ActivityTracker:
    """Keeps the last busy time per (user, server) and writes each report."""

    def __init__(self, store: Repository) -> None:
        self.store = store
        self.servers: dict[tuple[str, str], ServerActivity] = {}

    async def load(self, now: datetime) -> None:
        """Last busy time per server from the store (after a restart). A row from the future
        (a forged or skewed time stored before reports were timed by the service) counts as
        now: no stored time keeps a server safe from reclaim."""
        for user, server, last in await self.store.last_busy():
            if last.tzinfo is None:
                last = last.replace(tzinfo=UTC)
            last = min(last, now)
            self.servers[(user, server)] = ServerActivity(last_report=last, last_busy=last)

    async def report(
        self, user: str, server: str, timestamp: datetime, devices: list[dict[str, Any]]
    ) -> ServerActivity:
        busy = sum(1 for d in devices if d.get("busy"))
        utils = [
            float(d["utilization_avg"]) for d in devices if d.get("utilization_avg") is not None
        ]
        memory = [
            int(d["memory_used_bytes"]) for d in devices if d.get("memory_used_bytes") is not None
        ]
        energy = [float(d["energy_wh"]) for d in devices if d.get("energy_wh") is not None]
        await self.store.add_activity(
            {
                "user": user,
                "server": server,
                "timestamp": timestamp,
                "devices": len(devices),
                "busy": busy,
                "utilization_avg": sum(utils) / len(utils) if utils else None,
                "memory_used_bytes": sum(memory) if memory else None,
                "energy_wh": sum(energy) if energy else None,
            }
        )
        state = self.servers.get((user, server))
        if state is None:
            state = ServerActivity(last_report=timestamp, last_busy=None)
            self.servers[(user, server)] = state
        state.last_report = max(state.last_report, timestamp)
        if busy:
            state.last_busy = max(state.last_busy or timestamp, timestamp)
            state.warned_at = None
            state.warning = None
        return state

    def forget(self, user: str, server: str) -> None:
        self.servers.pop((user, server), None)
