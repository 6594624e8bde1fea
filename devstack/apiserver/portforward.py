"""`pods/portforward` over WebSocket (v4 channel protocol, as the Python clients speak it):
port i of `?ports=` is data channel 2i and error channel 2i+1, each opened by a frame
carrying the port (two bytes, little-endian); data is relayed to the pod's IP."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

from tornado.websocket import WebSocketClosedError

from devstack.apiserver import rbac
from devstack.apiserver.authn import authenticate
from devstack.apiserver.errors import ApiError, bad_request, not_found, unauthorized
from devstack.apiserver.streams import ExecHandler
from devstack.apiserver.tokens import ADMIN

PROTOCOLS = ("v4.channel.k8s.io", "channel.k8s.io")


class PortForwardHandler(ExecHandler):
    """`/api/v1/namespaces/<ns>/pods/<name>/portforward`."""

    def _checked(self, namespace: str, name: str) -> bool:
        header = self.request.headers.get("Authorization", "")
        user = authenticate(header, self.api.token, self.store) if self.api.token else ADMIN
        try:
            if user is None:
                raise unauthorized()
            rbac.authorize(
                self.store,
                user,
                rbac.Request("create", "", "pods", "portforward", namespace, name),
            )
            pod = self.store._data["pods"].get((namespace, name))
            if pod is None:
                raise not_found("pods", name)
            self.pod_ip = (pod.get("status") or {}).get("podIP")
            if not self.pod_ip:
                raise bad_request(f'pod "{name}" has no IP yet')
            ports = [p for v in parse_qs(self.request.query).get("ports", []) for p in v.split(",")]
            if not ports or not all(p.isdigit() and 0 < int(p) < 65536 for p in ports):
                raise bad_request('query parameter "ports" is required')
            self.ports = [int(p) for p in ports]
        except ApiError as err:
            self._fail(err)
            return False
        return True

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return next((p for p in PROTOCOLS if p in subprotocols), None)

    async def open(self, *_args: str) -> None:
        self.writers: dict[int, asyncio.StreamWriter] = {}
        self.tasks: list[asyncio.Task[None]] = []
        for i, port in enumerate(self.ports):
            head = port.to_bytes(2, "little")
            self._send(2 * i, head)
            self._send(2 * i + 1, head)
            try:
                reader, writer = await asyncio.open_connection(self.pod_ip, port)
            except OSError as exc:
                self._send(
                    2 * i + 1,
                    f"error forwarding port {port} to pod: dial tcp {self.pod_ip}:{port}: "
                    f"{exc.strerror or exc}".encode(),
                )
                continue
            self.writers[2 * i] = writer
            self.tasks.append(asyncio.create_task(self._relay(reader, 2 * i)))

    async def _relay(self, reader: asyncio.StreamReader, channel: int) -> None:
        while chunk := await reader.read(65536):
            self._send(channel, chunk)
        self.close(1000)

    def on_message(self, message: str | bytes) -> None:
        if not isinstance(message, bytes) or not message:
            return
        writer = self.writers.get(message[0])
        if writer is not None and len(message) > 1:
            writer.write(message[1:])

    def on_close(self) -> None:
        for task in getattr(self, "tasks", []):
            task.cancel()
        for writer in getattr(self, "writers", {}).values():
            with contextlib.suppress(OSError, WebSocketClosedError):
                writer.close()

    def _send(self, channel: int, data: bytes) -> None:
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(bytes([channel]) + data, binary=True)

    async def post(self, namespace: str, name: str) -> None:
        """The SPDY upgrade clients fall back to: refused after the same checks."""
        if self._checked(namespace, name):
            self._fail(
                bad_request("devstack serves pods/portforward over WebSocket only, not SPDY")
            )
