"""Telemetry routes: REST snapshot and history, Prometheus text, and the WebSocket stream."""

from __future__ import annotations

import json
import time
from typing import Any, cast

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web, websocket

from ..handlers.health import AUTH_RESOURCE
from .history import describe
from .prometheus import exposition
from .sampler import Sample
from .service import SETTINGS_KEY, Telemetry


def _telemetry(handler: web.RequestHandler) -> Telemetry:
    return cast(Telemetry, handler.settings[SETTINGS_KEY])


class SnapshotHandler(APIHandler):
    """``GET /accelhub/api/telemetry``: the latest snapshot (waking the sampler if needed)."""

    auth_resource = AUTH_RESOURCE
    _track_activity = False  # a polling panel must not keep an idle server alive

    @web.authenticated
    @authorized
    async def get(self) -> None:
        sample = await _telemetry(self).sampler.snapshot()
        self.finish(json.dumps(sample.data))


class HistoryHandler(APIHandler):
    """``GET /accelhub/api/telemetry/history?seconds=N``: the ring buffer, oldest first."""

    auth_resource = AUTH_RESOURCE
    _track_activity = False  # a polling panel must not keep an idle server alive

    @web.authenticated
    @authorized
    async def get(self) -> None:
        telemetry = _telemetry(self)
        limit = float(telemetry.config.history_seconds)
        raw = self.get_query_argument("seconds", str(limit))
        try:
            seconds = float(raw)
        except ValueError:
            raise web.HTTPError(400, f"seconds must be a number, not {raw!r}.") from None
        if not seconds > 0:
            raise web.HTTPError(400, "seconds must be positive.")
        seconds = min(seconds, limit)
        sample = await telemetry.sampler.snapshot()
        body = {
            "status": sample.data["status"],
            "message": sample.data["message"],
            "interval": telemetry.sampler.interval,
            "seconds": seconds,
            "devices": describe(sample.data),
            "samples": telemetry.sampler.history.since(time.time() - seconds),
        }
        self.finish(json.dumps(body))


class MetricsHandler(APIHandler):
    """``GET /accelhub/metrics/gpu``: Prometheus text exposition of the latest snapshot."""

    auth_resource = AUTH_RESOURCE
    _track_activity = False

    @web.authenticated
    @authorized
    async def get(self) -> None:
        telemetry = _telemetry(self)
        await telemetry.sampler.snapshot()
        self.finish(
            exposition(telemetry.registry),
            set_content_type="text/plain; version=0.0.4; charset=utf-8",
        )


def _error_frame(error: str, message: str) -> str:
    return json.dumps({"type": "error", "error": error, "message": message})


class StreamHandler(WebSocketMixin, JupyterHandler, websocket.WebSocketHandler):
    """``/accelhub/api/telemetry/stream``: snapshots pushed to each client at its own pace."""

    auth_resource = AUTH_RESOURCE
    _token: int | None = None

    async def pre_get(self) -> None:
        """Authorise like the REST routes (``read`` on ``accelhub``) before the upgrade."""
        allowed = await ensure_async(
            self.authorizer.is_authorized(self, self.current_user, "read", AUTH_RESOURCE)
        )
        if not allowed:
            raise web.HTTPError(403)

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        await self.pre_get()
        result = super().get(*args, **kwargs)
        if result is not None:
            await result

    def open(self, *args: Any, **kwargs: Any) -> None:
        self._telemetry = _telemetry(self)
        sampler = self._telemetry.sampler
        self._interval = sampler.interval
        self._paused = False
        self._last_sent = 0.0
        self._writing = False
        super().open(*args, **kwargs)
        self._subscribe()

    # -- client messages ----------------------------------------------------------------

    def on_message(self, message: str | bytes) -> None:
        try:
            request = json.loads(message)
            action = request["action"]
        except (ValueError, KeyError, TypeError):
            self._send(_error_frame("bad_message", 'Send JSON like {"action": "pause"}.'))
            return
        if action == "pause":
            self._paused = True
            self._unsubscribe()
        elif action == "resume":
            self._paused = False
            self._send(self._ack(action))
            self._subscribe()  # the latest snapshot follows the ack at once, when fresh
            return
        elif action == "interval":
            seconds = request.get("seconds")
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, int | float)
                or seconds != seconds
            ):
                self._send(_error_frame("bad_interval", "interval needs a number of seconds."))
                return
            config = self._telemetry.config
            wanted = min(
                max(float(seconds), config.min_client_interval), config.max_client_interval
            )
            self._interval = max(wanted, self._telemetry.sampler.interval)
        else:
            self._send(_error_frame("unknown_action", "action must be pause, resume or interval."))
            return
        self._send(self._ack(action))

    def _ack(self, action: str) -> str:
        return json.dumps(
            {
                "type": "ack",
                "action": action,
                "paused": self._paused,
                "interval": self._interval,
                "sampler_interval": self._telemetry.sampler.interval,
            }
        )

    # -- frames ---------------------------------------------------------------------------

    def _subscribe(self) -> None:
        if self._token is not None:
            return
        sampler = self._telemetry.sampler
        self._token = sampler.subscribe(self._on_sample)
        latest = sampler.latest
        if latest is not None and (sampler.is_fresh(latest) or sampler.waiting_to_retry):
            self._on_sample(latest)

    def _unsubscribe(self) -> None:
        if self._token is not None:
            self._telemetry.sampler.unsubscribe(self._token)
            self._token = None

    def _on_sample(self, sample: Sample) -> None:
        slack = self._telemetry.sampler.interval / 2
        if self._paused or sample.timestamp - self._last_sent < self._interval - slack:
            return
        if self._writing:  # a slow client skips frames instead of queueing them
            return
        self._last_sent = sample.timestamp
        self._send(sample.frame, track=True)

    def _send(self, frame: str, track: bool = False) -> None:
        try:
            future = self.write_message(frame)
        except websocket.WebSocketClosedError:
            self._unsubscribe()
            return
        if track:
            self._writing = True
            future.add_done_callback(self._written)

    def _written(self, future: Any) -> None:
        self._writing = False
        if future.exception() is not None:  # the client went away mid-frame
            self._unsubscribe()

    def on_close(self) -> None:
        self._unsubscribe()
        super().on_close()
