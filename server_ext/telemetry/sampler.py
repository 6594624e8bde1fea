"""The one NVML sampler of a server, shared by every client, running only while wanted.

It samples while at least one subscriber listens (WebSocket clients, the activity
reporter) or a REST/metrics request came in during the last ``keep_warm_seconds``.
NVML runs in one dedicated worker thread; the event loop only schedules and fans out.
Initialisation failures are retried with exponential backoff, so a driver that comes
back (or a GPU that is reset) is picked up without restarting the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from .config import TelemetryConfig
from .energy_meter import EnergyMeter
from .history import History
from .nvml_reader import GPU_LOST, NO_DEVICES, OK, NvmlReader, Unavailable, visible_devices_hint
from .processes import annotate


@dataclass
class Sample:
    """One published snapshot and its WebSocket frame, serialised once for every client."""

    timestamp: float
    data: dict[str, Any]
    frame: str = field(repr=False)


Listener = Callable[[Sample], None]


class Backoff:
    """Exponential retry delays between ``initial`` and ``maximum`` seconds."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.delay = initial

    def next(self) -> float:
        delay = self.delay
        self.delay = min(self.delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self.delay = self.initial


class Sampler:
    """Samples NVML at ``config.interval`` for all listeners; see the module docstring."""

    def __init__(
        self,
        config: TelemetryConfig,
        log: logging.Logger | None = None,
        reader: NvmlReader | None = None,
    ) -> None:
        self.config = config
        self.log = log or logging.getLogger(__name__)
        self.reader = reader or NvmlReader()
        self.history = History(config.history_seconds)
        self.latest: Sample | None = None
        self.energy = EnergyMeter()  # each GPU's energy since the server started
        self._listeners: dict[int, Listener] = {}
        self._next_token = 0
        self._warm_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._fresh = asyncio.Condition()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="accelhub-nvml")
        self._backoff = Backoff(config.retry_initial, config.retry_max)
        self._retry_at = 0.0
        self._reinit_at = 0.0
        self._stopped = False

    # -- who wants samples --------------------------------------------------------------

    @property
    def interval(self) -> float:
        return float(self.config.interval)

    @property
    def subscribers(self) -> int:
        return len(self._listeners)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def subscribe(self, listener: Listener) -> int:
        """Call ``listener`` with every new sample until :meth:`unsubscribe`; returns a token."""
        self._next_token += 1
        self._listeners[self._next_token] = listener
        self._ensure_running()
        return self._next_token

    def unsubscribe(self, token: int) -> None:
        self._listeners.pop(token, None)

    def touch(self) -> None:
        """Keep sampling for ``keep_warm_seconds`` more (a REST or metrics client came by)."""
        self._warm_until = time.monotonic() + self.config.keep_warm_seconds
        self._ensure_running()

    async def snapshot(self) -> Sample:
        """A sample no older than about one interval (waits for the next pass if needed).

        While NVML initialisation waits for its next retry, the last failure is returned
        as it is: there is nothing newer to say until then.
        """
        self.touch()
        latest = self.latest
        if latest is not None and (self.is_fresh(latest) or self.waiting_to_retry):
            return latest
        try:
            async with self._fresh:
                self._wake.set()
                await asyncio.wait_for(
                    self._fresh.wait_for(
                        lambda: self.latest is not None and self.latest is not latest
                    ),
                    timeout=max(10.0, self.interval * 3),
                )
        except TimeoutError:
            if self.latest is None:
                raise
        assert self.latest is not None
        return self.latest

    def is_fresh(self, sample: Sample) -> bool:
        """Whether ``sample`` is at most about one interval old."""
        return time.time() - sample.timestamp <= self.interval * 1.5

    @property
    def waiting_to_retry(self) -> bool:
        """NVML is down and the next initialisation attempt is not due yet."""
        return not self.reader.is_open and time.monotonic() < self._retry_at

    def _wanted(self) -> bool:
        return bool(self._listeners) or time.monotonic() < self._warm_until

    def _ensure_running(self) -> None:
        if not self._stopped and not self.running:
            self._task = asyncio.create_task(self._run(), name="accelhub-telemetry-sampler")

    # -- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._wanted() and not self._stopped:
                started = loop.time()
                sample = await self._pass()
                if sample is not None:
                    self._publish(sample)
                    async with self._fresh:
                        self._fresh.notify_all()
                self._wake.clear()
                delay = self.interval - (loop.time() - started)
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), timeout=delay)
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one bad pass kill telemetry for good
            self.log.exception("accelhub telemetry sampler failed; it restarts on the next request")

    async def _pass(self) -> Sample | None:
        """One sampling pass in the worker thread, or ``None`` while waiting to retry init."""
        if self.waiting_to_retry:
            return None
        loop = asyncio.get_running_loop()
        meta = {"interval": self.interval, "subscribers": self.subscribers}
        return await loop.run_in_executor(self._executor, self._sample_blocking, meta)

    def _sample_blocking(self, meta: dict[str, Any]) -> Sample:
        started = time.perf_counter()
        now = time.time()
        if self.reader.is_open and self._reinit_at and time.monotonic() >= self._reinit_at:
            # A lost GPU may have been reset, a device may have appeared: nvmlInit again.
            self.reader.close()
            self._reinit_at = 0.0
        delay: float | None
        try:
            if not self.reader.is_open:
                self.reader.open()
            result = self.reader.read()
        except Exception as error:
            if isinstance(error, Unavailable):
                status, message = error.status, error.message
            else:  # a bug or an NVML surprise: report it, log it, retry later
                self.log.exception("accelhub telemetry: an NVML sampling pass failed")
                status, message = "error", f"GPU telemetry failed unexpectedly: {error!r}."
            self.reader.close()
            delay = self._backoff.next()
            self._retry_at = time.monotonic() + delay
            data: dict[str, Any] = {"status": status, "message": message, "devices": []}
        else:
            data = self._success(result)
            self.energy.add(now, data.get("devices") or [])
            delay = max(0.0, self._reinit_at - time.monotonic()) if self._reinit_at else None
        data["timestamp"] = now
        data["sampler"] = {
            **meta,
            "passes": self.reader.passes,
            "pass_seconds": round(time.perf_counter() - started, 6),
            "retry_in": None if delay is None else round(delay, 3),
        }
        frame = json.dumps({"type": "snapshot", "data": data}, separators=(",", ":"))
        return Sample(timestamp=now, data=data, frame=frame)

    def _success(self, result: dict[str, Any]) -> dict[str, Any]:
        devices = result["devices"]
        if self.config.processes:
            annotate(devices)
        bad = [d for d in devices if d["status"] != OK]
        if not devices:
            status, message = NO_DEVICES, visible_devices_hint()
        elif bad:
            first = bad[0]
            status = GPU_LOST if any(d["status"] == GPU_LOST for d in bad) else first["status"]
            message = f"GPU {first['index']}: {first['message']}"
        else:
            status, message = OK, f"{len(devices)} GPU(s) visible."
        if status == OK:
            self._backoff.reset()
            self._reinit_at = 0.0
        elif not self._reinit_at:
            self._reinit_at = time.monotonic() + self._backoff.next()
        return {"status": status, "message": message, **result}

    def _publish(self, sample: Sample) -> None:
        self.latest = sample
        self.history.add(sample.timestamp, sample.data)
        for token, listener in list(self._listeners.items()):
            try:
                listener(sample)
            except Exception:
                self.log.exception("telemetry listener failed; dropping it")
                self._listeners.pop(token, None)

    async def stop(self) -> None:
        """Stop sampling, shut NVML down and release the worker thread."""
        self._stopped = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.reader.close)
        self._executor.shutdown(wait=False)
