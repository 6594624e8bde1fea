"""Pure pieces of telemetry: history, activity summary, Prometheus collector, backoff."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from server_ext.telemetry.activity import energy_wh, summarize
from server_ext.telemetry.config import TelemetryConfig
from server_ext.telemetry.history import History
from server_ext.telemetry.prometheus import exposition, make_registry
from server_ext.telemetry.sampler import Backoff, Sample, Sampler


def snapshot(util: int | None, mig_procs: int = 0, status: str = "ok") -> dict[str, Any]:
    gpu: dict[str, Any] = {
        "index": 0,
        "kind": "gpu",
        "status": "ok",
        "uuid": "GPU-a",
        "name": "Tesla T4",
        "utilization_gpu": util,
        "utilization_memory": None if util is None else util // 2,
        "memory_used_bytes": 100,
        "memory_total_bytes": 1000,
        "temperature_c": 50,
        "fan_percent": None,
        "power_draw_w": 20.0,
        "clock_sm_mhz": 1500,
        "ecc_errors": None,
        "processes": [],
        "unsupported": ["fan_percent", "ecc_errors"],
        "mig": {
            "enabled": True,
            "pending_enabled": True,
            "devices": [
                {
                    "index": 0,
                    "kind": "mig",
                    "uuid": "MIG-b",
                    "name": "X MIG 1g.10gb",
                    "profile": "1g.10gb",
                    "memory_used_bytes": 5,
                    "memory_total_bytes": 10,
                    "processes": [{"pid": 1}] * mig_procs,
                }
            ],
        },
    }
    lost = {"index": 1, "kind": "gpu", "status": "gpu_lost", "message": "lost"}
    return {"status": status, "message": "", "devices": [gpu, lost], "sampler": {"passes": 7}}


def test_history_keeps_a_time_window() -> None:
    history = History(seconds=10)
    for t in range(30):
        history.add(1000.0 + t, snapshot(t))
    assert len(history) == 11
    recent = history.since(1025.0)
    assert [s["timestamp"] for s in recent] == [1025.0 + i for i in range(5)]
    assert recent[0]["values"]["GPU-a"]["utilization_gpu"] == 25
    assert recent[0]["values"]["MIG-b"] == {"memory_used_bytes": 5, "processes": 0}


def test_activity_summary_busy_and_idle() -> None:
    config = TelemetryConfig(busy_threshold=10, activity_window=60)
    sampler = Sampler(config)
    now = 5000.0
    for t, util in enumerate([0, 0, 30, 30]):
        sampler.history.add(now - 10 + t, snapshot(util, mig_procs=1 if t == 1 else 0))
    data = snapshot(30)
    sampler.latest = Sample(now, data, json.dumps(data))
    report = summarize(sampler, config, now=now)
    gpu, mig = report["devices"]
    assert gpu == {
        "uuid": "GPU-a",
        "kind": "gpu",
        "name": "Tesla T4",
        "profile": None,
        "busy": True,
        "utilization_avg": 15.0,
        "memory_used_bytes": 100,
        "processes": 0,
        "energy_wh": round(20.0 * 3 / 3600, 4),  # 20 W between the 4 samples 1 s apart
    }
    assert mig["kind"] == "mig" and mig["utilization_avg"] is None
    assert mig["energy_wh"] is None  # NVML's power is the whole GPU's, not the slice's
    assert mig["busy"] is True  # a process used it during the window
    config.busy_threshold = 20
    assert summarize(sampler, config, now=now)["devices"][0]["busy"] is False
    assert summarize(sampler, config, now=now + 600)["devices"][1]["busy"] is False


def test_energy_counts_only_the_span_since_the_last_report() -> None:
    samples: list[tuple[float, float | None]] = [(0.0, 100.0), (10.0, 200.0), (20.0, None)]
    samples.append((30.0, 200.0))
    assert energy_wh(samples, 0.0, 30.0) == round((150 * 10 + 200 * 20) / 3600, 4)
    assert energy_wh(samples, 5.0, 10.0) == round(150 * 5 / 3600, 4)  # clipped to the span
    assert energy_wh(samples[:1], 0.0, 30.0) is None  # one reading is no energy
    config = TelemetryConfig(activity_window=60, activity_interval=2)
    sampler = Sampler(config)
    for t in range(10):
        sampler.history.add(1000.0 + t, snapshot(50))
    data = snapshot(50)
    sampler.latest = Sample(1009.0, data, json.dumps(data))
    last_two = summarize(sampler, config, now=1009.0)["devices"][0]["energy_wh"]
    since_start = summarize(sampler, config, 1009.0, energy_since=1000.0)["devices"][0]
    assert last_two == round(20.0 * 2 / 3600, 4)
    assert since_start["energy_wh"] == round(20.0 * 9 / 3600, 4)


def test_collector_omits_unsupported_and_reports_status() -> None:
    latest: dict[str, Any] = snapshot(None, status="gpu_lost")
    text = exposition(make_registry(lambda: latest)).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert "accelhub_gpu_utilization_ratio" not in families or not (
        families["accelhub_gpu_utilization_ratio"].samples
    )
    assert not families["accelhub_gpu_fan_speed_ratio"].samples
    temps = families["accelhub_gpu_temperature_celsius"].samples
    assert [(s.labels["uuid"], s.value) for s in temps] == [("GPU-a", 50.0)]
    states = {
        s.labels["accelhub_gpu_telemetry_status"]: s.value
        for s in families["accelhub_gpu_telemetry_status"].samples
    }
    assert states["gpu_lost"] == 1 and states["ok"] == 0
    kinds = [s.labels["kind"] for s in families["accelhub_gpu_info"].samples]
    assert kinds == ["gpu", "mig"]  # the lost GPU has no identity to report
    empty = exposition(make_registry(lambda: None)).decode()
    assert 'accelhub_gpu_telemetry_status{accelhub_gpu_telemetry_status="error"} 1.0' in empty


def test_backoff_doubles_to_a_ceiling_and_resets() -> None:
    backoff = Backoff(1.0, 5.0)
    assert [backoff.next() for _ in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 1.0
