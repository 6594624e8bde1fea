"""Periodic GPU activity reports from this server to the hub service.

With ``TelemetryConfig.hub_activity_url`` set, every ``activity_interval`` seconds the
server POSTs (``Authorization: token $JUPYTERHUB_API_TOKEN``, JSON body)::

    {
      "server": "",                      # $JUPYTERHUB_SERVER_NAME ("" = default server)
      "user": "alice",                   # $JUPYTERHUB_USER
      "timestamp": "2026-11-22T07:45:00Z",
      "window_seconds": 300.0,           # the span the averages cover
      "status": "ok",                    # the telemetry status (see README)
      "devices": [
        {"uuid": "GPU-…", "kind": "gpu", "name": "Tesla T4", "profile": null,
         "busy": true, "utilization_avg": 41.3, "memory_used_bytes": 1073741824,
         "processes": 1, "energy_wh": 1.2},
        {"uuid": "MIG-…", "kind": "mig", "name": "NVIDIA A100 80GB PCIe MIG 1g.10gb",
         "profile": "1g.10gb", "busy": false, "utilization_avg": null,
         "memory_used_bytes": 13631488, "processes": 0, "energy_wh": null}
      ]
    }

``busy`` is ``utilization_avg >= busy_threshold`` where NVML reports utilisation; MIG
devices have none, so they are busy when a process used them during the window.
``energy_wh`` is the energy the device drew since the previous report that reached the
service (at most ``activity_window`` back), from NVML's power readings; ``null`` where NVML
reports no power (MIG slices: the power is the whole GPU's, not the slice's).
Failures are logged and retried with backoff; nothing here can stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import time
from datetime import UTC, datetime
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from .config import TelemetryConfig
from .history import describe
from .sampler import Backoff, Sample, Sampler


def energy_wh(samples: list[tuple[float, float | None]], start: float, end: float) -> float | None:
    """Watt-hours drawn in [start, end] from (timestamp, watts) samples: each pair of samples
    contributes its mean power over the part of their interval inside the span."""
    points = [(t, w) for t, w in samples if w is not None]
    if len(points) < 2:
        return None
    joules = 0.0
    for (t0, w0), (t1, w1) in itertools.pairwise(points):
        overlap = min(t1, end) - max(t0, start)
        if overlap > 0:
            joules += (w0 + w1) / 2 * overlap
    return round(joules / 3600.0, 4)


def summarize(
    sampler: Sampler,
    config: TelemetryConfig,
    now: float | None = None,
    energy_since: float | None = None,
) -> dict[str, Any]:
    """The activity report for the last ``activity_window`` seconds (energy since
    ``energy_since``, by default the last ``activity_interval`` seconds)."""
    now = time.time() if now is None else now
    since = now - config.activity_interval if energy_since is None else energy_since
    since = max(since, now - config.activity_window)
    latest = sampler.latest.data if sampler.latest else {"status": "error", "devices": []}
    samples = sampler.history.since(now - config.activity_window)
    devices = []
    for device in describe(latest):
        series = [s["values"].get(device["uuid"]) or {} for s in samples]
        watts = [v.get("power_draw_w") for v in series]
        power = [(s["timestamp"], w) for s, w in zip(samples, watts, strict=True)]
        utils = [v["utilization_gpu"] for v in series if v.get("utilization_gpu") is not None]
        used_by = any(v.get("processes") for v in series)
        average = round(sum(utils) / len(utils), 2) if utils else None
        busy = average >= config.busy_threshold if average is not None else used_by
        last = series[-1] if series else {}
        devices.append(
            {
                "uuid": device["uuid"],
                "kind": device["kind"],
                "name": device.get("name"),
                "profile": device.get("profile"),
                "busy": bool(busy),
                "utilization_avg": average,
                "memory_used_bytes": last.get("memory_used_bytes"),
                "processes": last.get("processes", 0),
                "energy_wh": energy_wh(power, since, now) if device["kind"] == "gpu" else None,
            }
        )
    return {
        "server": os.environ.get("JUPYTERHUB_SERVER_NAME", ""),
        "user": os.environ.get("JUPYTERHUB_USER"),
        "timestamp": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "window_seconds": config.activity_window,
        "status": latest.get("status"),
        "devices": devices,
    }


class ActivityReporter:
    """Keeps the sampler running and POSTs :func:`summarize` to the hub service."""

    def __init__(self, sampler: Sampler, config: TelemetryConfig, log: logging.Logger) -> None:
        self.sampler = sampler
        self.config = config
        self.log = log
        self.sent = 0
        self._task: asyncio.Task[None] | None = None
        self._token: int | None = None
        self._backoff = Backoff(config.activity_interval, config.activity_interval * 10)
        self._last_sent: float | None = None  # energy is counted from here

    def start(self) -> None:
        """Begin reporting if a URL is configured; otherwise do nothing."""
        if not self.config.hub_activity_url or self._task is not None:
            return
        self._token = self.sampler.subscribe(self._on_sample)
        self._task = asyncio.create_task(self._run(), name="accelhub-gpu-activity")

    def _on_sample(self, sample: Sample) -> None:
        """Subscribing keeps the sampler (and so the history) going; samples need no work."""

    async def _run(self) -> None:
        delay = self.config.activity_interval
        while True:
            await asyncio.sleep(delay)
            try:
                await self.report_once()
            except Exception as error:
                delay = self._backoff.next()
                self.log.warning(
                    "GPU activity report to %s failed (%s); retrying in %.0f s",
                    self.config.hub_activity_url,
                    error,
                    delay,
                )
            else:
                self._backoff.reset()
                delay = self.config.activity_interval

    async def report_once(self) -> None:
        """POST one report; raises on any failure."""
        now = time.time()
        body = json.dumps(summarize(self.sampler, self.config, now, self._last_sent))
        headers = {"Content-Type": "application/json"}
        token = os.environ.get("JUPYTERHUB_API_TOKEN")
        if token:
            headers["Authorization"] = f"token {token}"
        request = HTTPRequest(
            self.config.hub_activity_url,
            method="POST",
            body=body,
            headers=headers,
            request_timeout=self.config.activity_timeout,
        )
        await AsyncHTTPClient().fetch(request)
        self._last_sent = now
        self.sent += 1

    async def stop(self) -> None:
        if self._token is not None:
            self.sampler.unsubscribe(self._token)
            self._token = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
