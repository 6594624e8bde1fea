"""The HTTP API server: discovery, OpenAPI and the REST handlers on one tornado app."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from tornado.httpserver import HTTPServer
from tornado.web import Application

from devstack.apiserver import discovery, openapi
from devstack.apiserver.handlers import (
    _NOT_FOUND,
    ApiSettings,
    BaseHandler,
    NotFoundHandler,
    ResourceHandler,
)
from devstack.apiserver.openapi_pb import PROTO_ACCEPT, PROTO_MEDIA_TYPE
from devstack.apiserver.portforward import PortForwardHandler
from devstack.apiserver.store import ObjectStore
from devstack.apiserver.streams import AttachHandler, ExecHandler
from devstack.apiserver.tls import TlsFiles

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def _wants_aggregated(accept: str | None) -> bool:
    if not accept:
        return False
    first = accept.split(",")[0].replace(" ", "")
    return "as=APIGroupDiscoveryList" in first and "v=v2;" in first + ";"


class VersionHandler(BaseHandler):
    """`/version`."""

    anonymous_ok = True

    def get(self) -> None:
        self.send_json(discovery.SERVER_VERSION)


class HealthHandler(BaseHandler):
    """`/healthz`, `/readyz`, `/livez`."""

    anonymous_ok = True

    def get(self, *_args: str) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("ok")


class LegacyApiHandler(BaseHandler):
    """`/api` (legacy or aggregated discovery)."""

    def get(self) -> None:
        if _wants_aggregated(self.request.headers.get("Accept")):
            self.send_json(discovery.aggregated(self.store.registry, True), 200, AGGREGATED_V2)
            return
        self.send_json(discovery.api_versions(self.api.address))


class ApisHandler(BaseHandler):
    """`/apis` (legacy or aggregated discovery)."""

    def get(self) -> None:
        if _wants_aggregated(self.request.headers.get("Accept")):
            self.send_json(discovery.aggregated(self.store.registry, False), 200, AGGREGATED_V2)
            return
        self.send_json(discovery.api_group_list(self.store.registry))


class GroupHandler(BaseHandler):
    """`/apis/<group>`."""

    def get(self, group: str) -> None:
        doc = discovery.api_group(self.store.registry, group)
        if doc is None:
            self.send_error_status(_NOT_FOUND)
            return
        self.send_json(doc)


class GroupVersionHandler(BaseHandler):
    """`/api/v1` and `/apis/<group>/<version>`."""

    def get(self, group: str, version: str) -> None:
        doc = discovery.resource_list(
            self.store.registry, "" if group == "core" else group, version
        )
        if doc is None:
            self.send_error_status(_NOT_FOUND)
            return
        self.send_json(doc)


class OpenApiV2Handler(BaseHandler):
    """`/openapi/v2` as JSON, or as gnostic protobuf when the client asks for it."""

    async def get(self) -> None:
        accept = self.request.headers.get("Accept", "")
        if PROTO_ACCEPT in accept:
            body = await asyncio.to_thread(openapi.v2_protobuf, self.store.registry)
            self.send_json(body, 200, PROTO_MEDIA_TYPE)
            return
        if accept and "json" not in accept and "*/*" not in accept:
            self.send_json(
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Failure",
                    "message": "the server was unable to respond with a content type that the "
                    "client supports",
                    "reason": "NotAcceptable",
                    "code": 406,
                },
                406,
            )
            return
        body = await asyncio.to_thread(openapi.v2_document, self.store.registry)
        self.send_json(body)


class OpenApiV3IndexHandler(BaseHandler):
    """`/openapi/v3`."""

    async def get(self) -> None:
        doc = await asyncio.to_thread(openapi.v3_index, self.store.registry)
        self.send_json(doc)


class OpenApiV3Handler(BaseHandler):
    """`/openapi/v3/<group-version path>`."""

    async def get(self, path: str) -> None:
        body = await asyncio.to_thread(openapi.v3_document, path, self.store.registry)
        if body is None:
            self.send_error_status(_NOT_FOUND)
            return
        if self.get_query_argument("hash", None):
            self.set_header("Cache-Control", "public, immutable")
        self.send_json(body)


def make_app(api: ApiSettings) -> Application:
    """The tornado Application for one API server."""
    kw: dict[str, Any] = {"api": api}
    return Application(
        [
            (r"/version/?", VersionHandler, kw),
            (r"/(healthz|readyz|livez)(?:/.*)?", HealthHandler, kw),
            (r"/api/?", LegacyApiHandler, kw),
            (r"/apis/?", ApisHandler, kw),
            (r"/openapi/v2/?", OpenApiV2Handler, kw),
            (r"/openapi/v3/?", OpenApiV3IndexHandler, kw),
            (r"/openapi/v3/(.+)", OpenApiV3Handler, kw),
            (r"/api()/(v1)/?", GroupVersionHandler, kw),
            (r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec/?", ExecHandler, kw),
            (r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/attach/?", AttachHandler, kw),
            (r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/portforward/?", PortForwardHandler, kw),
            (r"/api()/(v1)/(.*)", ResourceHandler, kw),
            (r"/apis/([^/]+)/?", GroupHandler, kw),
            (r"/apis/([^/]+)/([^/]+)/?", GroupVersionHandler, kw),
            (r"/apis/([^/]+)/([^/]+)/(.*)", ResourceHandler, kw),
            (r"(.*)", NotFoundHandler, kw),
        ],
        compress_response=False,
        log_function=_quiet_log,
    )


def _quiet_log(handler: Any) -> None:
    """Tornado access logs are off: devstack traffic is high-volume and uninteresting."""


class ApiServer:
    """An HTTP/1.1 Kubernetes API server on 127.0.0.1 over an ObjectStore.

    `token`: required bearer token (None accepts anonymous requests). `tls`: serve HTTPS
    with these files (clients such as kubectl only send bearer tokens over TLS).
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        bookmark_interval: float = 10.0,
        watch_timeout: float = 1800.0,
        tls: TlsFiles | None = None,
    ) -> None:
        self.store = store
        self.tls = tls
        self.token = token
        self.host = host
        self.port = port
        self.bookmark_interval = bookmark_interval
        self.watch_timeout = watch_timeout
        self._server: HTTPServer | None = None

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`."""
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and start serving (port 0 picks a free port)."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        api = ApiSettings(
            self.store,
            self.token,
            self.bookmark_interval,
            self.watch_timeout,
            f"{self.host}:{self.port}",
        )
        self._server = HTTPServer(
            make_app(api),
            idle_connection_timeout=3600,
            body_timeout=60,
            max_body_size=64 * 1024 * 1024,
            ssl_options=self.tls.server_context() if self.tls else None,
        )
        self._server.add_sockets([sock])

    async def stop(self) -> None:
        """Stop accepting and close open connections (watches end)."""
        self.store.close()
        await self._close_http()

    async def restart(self, downtime: float = 0.0) -> None:
        """Drop every connection (clients' watches end), refuse connections for ``downtime``
        seconds, then serve the same store again on the same port."""
        await self._close_http()
        await asyncio.sleep(downtime)
        await self.start()

    async def _close_http(self) -> None:
        if self._server is not None:
            self._server.stop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.close_all_connections(), 2)
            self._server = None
