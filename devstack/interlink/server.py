"""The local plugin's HTTP server: interLink's plugin API over a `LocalSite`.

Besides `/create`, `/status`, `/getLogs` and `/delete` it serves one devstack-only route,
`PUT /devstack/faults` (JSON `{"failCreate", "failRun", "failureRate",
"queueDelaySeconds", "unreachableSeconds"}`, every key optional), so tests and demos can
inject failures into a running site; `unreachableSeconds` closes the listening socket
and every open connection for that long, as a site whose network went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.iostream import StreamClosedError
from tornado.web import Application, RequestHandler

from devstack.interlink import protocol
from devstack.interlink.site import LocalSite, SiteSettings, SubmissionRejected

log = logging.getLogger(__name__)


class PluginHandler(RequestHandler):
    """Common parts: the site, JSON bodies and plain-text errors."""

    site: LocalSite

    def initialize(self, site: LocalSite) -> None:
        self.site = site

    def body(self) -> Any:
        try:
            return json.loads(self.request.body or b"null")
        except ValueError:
            raise protocol.ProtocolError("the body is not JSON") from None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def fail(self, status: int, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(message)


class CreateHandler(PluginHandler):
    async def post(self) -> None:
        try:
            pod, containers = protocol.parse_create_request(self.body())
        except protocol.ProtocolError as exc:
            return self.fail(400, str(exc))
        try:
            jid = await self.site.create(pod, containers)
        except SubmissionRejected as exc:
            return self.fail(500, str(exc))
        self.reply(protocol.create_reply(pod["metadata"]["uid"], jid))


class StatusHandler(PluginHandler):
    async def get(self) -> None:
        try:
            keys = protocol.parse_status_request(self.body())
        except protocol.ProtocolError as exc:
            return self.fail(400, str(exc))
        if not keys:
            return self.reply(protocol.ping_reply(self.site.resources()))
        found = [self.site.status(uid) for _, _, uid in keys]
        self.reply([s for s in found if s is not None])


class LogsHandler(PluginHandler):
    async def get(self) -> None:
        try:
            request = protocol.parse_log_request(self.body())
        except protocol.ProtocolError as exc:
            return self.fail(400, str(exc))
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        stream = self.site.logs(request)
        try:
            first = await anext(stream, None)
        except LookupError as exc:
            return self.fail(404, str(exc))
        except Exception as exc:  # the kubelet's ApiError: its sentence
            return self.fail(400, getattr(exc, "message", None) or str(exc))
        try:
            if first is not None:
                self.write(first)
                await self.flush()
            async for chunk in stream:
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        self.finish()


class DeleteHandler(PluginHandler):
    async def post(self) -> None:
        pod = self.body()
        if not isinstance(pod, dict) or not (pod.get("metadata") or {}).get("uid"):
            return self.fail(400, "the /delete body must be a pod with metadata.uid")
        known = await self.site.delete(pod)
        if not known:
            return self.fail(404, f"pod {pod['metadata'].get('name')} is not known at this site")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("Pod deleted")


class FaultsHandler(PluginHandler):
    plugin: LocalPlugin

    def initialize(self, site: LocalSite, plugin: LocalPlugin | None = None) -> None:
        self.site = site
        assert plugin is not None
        self.plugin = plugin

    async def put(self) -> None:
        body = self.body()
        if not isinstance(body, dict):
            return self.fail(400, "the faults body must be a JSON object")
        faults = self.site.settings.faults
        if "failCreate" in body:
            faults.fail_create = body["failCreate"]
        if "failRun" in body:
            faults.fail_run = body["failRun"]
        if "failureRate" in body:
            faults.failure_rate = float(body["failureRate"])
        if "queueDelaySeconds" in body:
            self.site.settings.queue_delay = float(body["queueDelaySeconds"])
        away = float(body.get("unreachableSeconds") or 0)
        self.reply({"ok": True})
        if away > 0:
            self.plugin.spawn(self.plugin.away_for(away))


class LocalPlugin:
    """A local InterLink plugin on `host:port` (port 0: a free one)."""

    def __init__(self, settings: SiteSettings, host: str = "127.0.0.1", port: int = 0) -> None:
        self.site = LocalSite(settings)
        self.host = host
        self.port = port
        self._server: HTTPServer | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.app = Application(
            [
                (protocol.CREATE, CreateHandler, {"site": self.site}),
                (protocol.STATUS, StatusHandler, {"site": self.site}),
                (protocol.LOGS, LogsHandler, {"site": self.site}),
                (protocol.DELETE, DeleteHandler, {"site": self.site}),
                ("/devstack/faults", FaultsHandler, {"site": self.site, "plugin": self}),
            ]
        )

    @property
    def url(self) -> str:
        """Where the plugin listens."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start the site and listen."""
        await self.site.start()
        self._listen()

    def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._server = HTTPServer(self.app)
        self._server.add_sockets([sock])

    async def go_away(self) -> None:
        """Stop answering: close the listener and every open connection."""
        if self._server is not None:
            self._server.stop()
            with contextlib.suppress(Exception):
                await self._server.close_all_connections()
            self._server = None

    def come_back(self) -> None:
        """Answer again, on the same port."""
        if self._server is None:
            self._listen()

    async def away_for(self, seconds: float) -> None:
        """Be unreachable for a while."""
        await asyncio.sleep(0.05)  # let the faults reply go out first
        await self.go_away()
        await asyncio.sleep(seconds)
        self.come_back()

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop listening, then stop every job."""
        for task in list(self._tasks):
            task.cancel()
        await self.go_away()
        await self.site.stop()
