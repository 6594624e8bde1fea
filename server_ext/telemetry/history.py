"""A time-bounded ring buffer of compact per-device samples."""

from __future__ import annotations

from collections import deque
from typing import Any

SERIES_FIELDS = (
    "utilization_gpu",
    "utilization_memory",
    "memory_used_bytes",
    "temperature_c",
    "fan_percent",
    "power_draw_w",
    "clock_sm_mhz",
)


def compact(snapshot: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-UUID series values of one snapshot, MIG devices included."""
    values: dict[str, dict[str, Any]] = {}
    for device in snapshot.get("devices", ()):
        if "uuid" not in device:
            continue
        entry = {key: device.get(key) for key in SERIES_FIELDS}
        entry["processes"] = len(device.get("processes") or ())
        values[device["uuid"]] = entry
        for mig in (device.get("mig") or {}).get("devices", ()):
            values[mig["uuid"]] = {
                "memory_used_bytes": mig.get("memory_used_bytes"),
                "processes": len(mig.get("processes") or ()),
            }
    return values


def describe(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """The device list (identity only) a history answer starts with."""
    out: list[dict[str, Any]] = []
    for device in snapshot.get("devices", ()):
        if "uuid" not in device:
            continue
        out.append(
            {
                "uuid": device["uuid"],
                "kind": "gpu",
                "index": device["index"],
                "name": device.get("name"),
                "memory_total_bytes": device.get("memory_total_bytes"),
            }
        )
        for mig in (device.get("mig") or {}).get("devices", ()):
            out.append(
                {
                    "uuid": mig["uuid"],
                    "kind": "mig",
                    "index": f"{device['index']}:{mig['index']}",
                    "parent_uuid": device["uuid"],
                    "name": mig.get("name"),
                    "profile": mig.get("profile"),
                    "memory_total_bytes": mig.get("memory_total_bytes"),
                }
            )
    return out


class History:
    """Samples of the last ``seconds`` seconds, oldest first."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._items: deque[tuple[float, dict[str, dict[str, Any]]]] = deque()

    def add(self, timestamp: float, snapshot: dict[str, Any]) -> None:
        self._items.append((timestamp, compact(snapshot)))
        self._prune(timestamp)

    def _prune(self, now: float) -> None:
        while self._items and self._items[0][0] < now - self.seconds:
            self._items.popleft()

    def since(self, start: float) -> list[dict[str, Any]]:
        """Samples taken at or after ``start``."""
        return [{"timestamp": t, "values": v} for t, v in self._items if t >= start]

    def __len__(self) -> int:
        return len(self._items)
