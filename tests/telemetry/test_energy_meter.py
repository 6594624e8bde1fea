"""Each GPU's energy since the server started, from consecutive power readings."""

from __future__ import annotations

from typing import Any

from server_ext.telemetry.energy_meter import EnergyMeter


def gpu(watts: float | None, uuid: str = "GPU-a", kind: str = "gpu") -> dict[str, Any]:
    return {"uuid": uuid, "kind": kind, "power_draw_w": watts}


def test_energy_accumulates_between_samples_and_skips_long_gaps() -> None:
    meter = EnergyMeter(max_gap_seconds=60)
    first = [gpu(100.0), gpu(None, "MIG-b", "mig")]
    meter.add(0.0, first)
    assert first[0]["energy_wh"] == 0.0 and "energy_wh" not in first[1]
    later = [gpu(200.0)]
    meter.add(36.0, later)  # 150 W for 36 s = 1.5 Wh
    assert later[0]["energy_wh"] == 1.5
    paused = [gpu(200.0)]
    meter.add(1036.0, paused)  # nobody listened for 1000 s: not counted
    assert paused[0]["energy_wh"] == 1.5
    unknown = [gpu(None)]
    meter.add(1040.0, unknown)  # no reading now: the total so far
    assert unknown[0]["energy_wh"] == 1.5
    resumed = [gpu(200.0)]
    meter.add(1054.0, resumed)  # from the last reading at 1036 s: 200 W for 18 s = 1 Wh
    assert resumed[0]["energy_wh"] == 2.5
