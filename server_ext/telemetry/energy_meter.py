"""The energy each whole GPU drew since this server started, from NVML's power readings."""

from __future__ import annotations

from typing import Any

# A gap between two samples longer than this (the sampler paused: nobody listened) is not
# counted: nothing says what the GPU drew meanwhile.
MAX_GAP_SECONDS = 60.0


class EnergyMeter:
    """Adds ``energy_wh`` to every whole GPU of each sample: the watt-hours it drew while
    sampled, integrating the power between consecutive samples (mean of the two)."""

    def __init__(self, max_gap_seconds: float = MAX_GAP_SECONDS) -> None:
        self.max_gap_seconds = max_gap_seconds
        self.total_wh: dict[str, float] = {}
        self._last: dict[str, tuple[float, float]] = {}

    def add(self, timestamp: float, devices: list[dict[str, Any]]) -> None:
        for device in devices:
            if device.get("kind", "gpu") != "gpu" or not device.get("uuid"):
                continue
            uuid, watts = device["uuid"], device.get("power_draw_w")
            if watts is None:
                device["energy_wh"] = self.total_wh.get(uuid)
                continue
            last = self._last.get(uuid)
            total = self.total_wh.setdefault(uuid, 0.0)
            if last is not None and 0 < timestamp - last[0] <= self.max_gap_seconds:
                total += (last[1] + watts) / 2 * (timestamp - last[0]) / 3600.0
                self.total_wh[uuid] = total
            self._last[uuid] = (timestamp, float(watts))
            device["energy_wh"] = round(total, 4)
