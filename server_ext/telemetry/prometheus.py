"""Prometheus text for ``/accelhub/metrics/gpu``: a custom collector over the latest snapshot.

It lives in its own ``CollectorRegistry``, so nothing touches prometheus_client's global
registry. A metric a device does not support is omitted for that device, never zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, StateSetMetricFamily
from prometheus_client.registry import Collector

STATUSES = ("ok", "no_library", "no_driver", "no_devices", "gpu_lost", "error")
LABELS = ["index", "uuid", "name", "kind"]

# (metric suffix, help, snapshot field, scale)
GAUGES: tuple[tuple[str, str, str, float], ...] = (
    ("utilization_ratio", "GPU utilisation (0-1).", "utilization_gpu", 0.01),
    (
        "memory_utilization_ratio",
        "Memory controller utilisation (0-1).",
        "utilization_memory",
        0.01,
    ),
    ("memory_used_bytes", "Device memory allocated.", "memory_used_bytes", 1.0),
    ("memory_total_bytes", "Device memory size.", "memory_total_bytes", 1.0),
    ("temperature_celsius", "GPU core temperature.", "temperature_c", 1.0),
    ("fan_speed_ratio", "Fan speed as a fraction of its maximum (0-1).", "fan_percent", 0.01),
    ("power_draw_watts", "Power draw.", "power_draw_w", 1.0),
    ("power_limit_watts", "Enforced power limit.", "power_limit_w", 1.0),
    ("clock_sm_hertz", "SM clock.", "clock_sm_mhz", 1e6),
    ("clock_memory_hertz", "Memory clock.", "clock_memory_mhz", 1e6),
    ("performance_state", "Performance state (0 = P0, fastest).", "performance_state", 1.0),
)


def _devices(snapshot: dict[str, Any]) -> Iterator[tuple[list[str], dict[str, Any]]]:
    for device in snapshot.get("devices", ()):
        if "uuid" not in device:
            continue
        yield [str(device["index"]), device["uuid"], device.get("name") or "", "gpu"], device
        for mig in (device.get("mig") or {}).get("devices", ()):
            index = f"{device['index']}:{mig['index']}"
            yield [index, mig["uuid"], mig.get("name") or "", "mig"], mig


class GpuCollector(Collector):
    """Turns the sampler's latest snapshot into metric families on every scrape."""

    def __init__(self, latest: Callable[[], dict[str, Any] | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Any]:
        snapshot = self._latest() or {"status": "error", "devices": []}
        status = StateSetMetricFamily(
            "accelhub_gpu_telemetry_status", "Why GPU telemetry is or is not available."
        )
        status.add_metric([], {s: snapshot.get("status") == s for s in STATUSES})
        yield status
        passes = CounterMetricFamily(
            "accelhub_gpu_telemetry_sampling_passes", "NVML sampling passes of the shared sampler."
        )
        passes.add_metric([], float((snapshot.get("sampler") or {}).get("passes", 0)))
        yield passes
        devices = list(_devices(snapshot))
        info = GaugeMetricFamily(
            "accelhub_gpu_info", "One per visible GPU or MIG device.", labels=LABELS
        )
        up = GaugeMetricFamily("accelhub_gpu_up", "1 if the device answers NVML.", labels=LABELS)
        procs = GaugeMetricFamily(
            "accelhub_gpu_processes", "Processes using the device.", labels=LABELS
        )
        for labels, device in devices:
            info.add_metric(labels, 1.0)
            up.add_metric(labels, 1.0 if device.get("status", "ok") == "ok" else 0.0)
            procs.add_metric(labels, float(len(device.get("processes") or ())))
        yield from (info, up, procs)
        for suffix, help_text, key, scale in GAUGES:
            family = GaugeMetricFamily(f"accelhub_gpu_{suffix}", help_text, labels=LABELS)
            for labels, device in devices:
                value = device.get(key)
                if value is not None:
                    family.add_metric(labels, float(value) * scale)
            yield family
        ecc = CounterMetricFamily(
            "accelhub_gpu_ecc_errors",
            "Volatile ECC error counts since the driver loaded.",
            labels=[*LABELS, "type"],
        )
        for labels, device in devices:
            for kind, count in (device.get("ecc_errors") or {}).items():
                ecc.add_metric([*labels, kind], float(count))
        yield ecc


def make_registry(latest: Callable[[], dict[str, Any] | None]) -> CollectorRegistry:
    """A private registry holding only the GPU collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(GpuCollector(latest))
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
