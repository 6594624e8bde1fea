"""`pods/portforward` over WebSocket, relayed to the pod's IP.

Two protocols: the v4 channel protocol the Python clients speak (port i of `?ports=` is
data channel 2i and error channel 2i+1, each opened by a frame carrying the port, two bytes
little-endian), and kubectl's SPDY/3.1 tunnelled in the WebSocket (`spdy.py`): per
connection the client opens an error and a data stream with the same `requestid` and
`port` headers; the data stream is relayed, a dial failure is written on the error stream."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs

from tornado.websocket import WebSocketClosedError

from devstack.apiserver import rbac, spdy
from devstack.apiserver.authn import authenticate
from devstack.apiserver.errors import ApiError, bad_request, not_found, unauthorized
from devstack.apiserver.streams import ExecHandler
from devstack.apiserver.tokens import ADMIN
from devstack.controllers.kubelet_probes import dial_reason

SPDY_TUNNEL = "SPDY/3.1+portforward.k8s.io"
PROTOCOLS = (SPDY_TUNNEL, "v4.channel.k8s.io", "channel.k8s.io")


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
            offered = self.request.headers.get("Sec-WebSocket-Protocol", "")
            self.tunnel = SPDY_TUNNEL in [p.strip() for p in offered.split(",")]
            ports = [p for v in parse_qs(self.request.query).get("ports", []) for p in v.split(",")]
            valid = all(p.isdigit() and 0 < int(p) < 65536 for p in ports)
            per_stream = self.tunnel or self.request.method == "POST"  # SPDY names ports
            if not valid or not (ports or per_stream):
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
        if self.tunnel:
            self.session = spdy.Session(self._send_raw, self._on_stream)
            self.pairs: dict[str, dict[str, spdy.Stream]] = {}
            return
        for i, port in enumerate(self.ports):
            head = port.to_bytes(2, "little")
            self._send(2 * i, head)
            self._send(2 * i + 1, head)
            try:
                reader, writer = await asyncio.open_connection(self.pod_ip, port)
            except OSError as exc:
                self._send(2 * i + 1, self._dial_error(port, exc))
                continue
            self.writers[2 * i] = writer
            self.tasks.append(asyncio.create_task(self._relay(reader, 2 * i)))

    async def _relay(self, reader: asyncio.StreamReader, channel: int) -> None:
        while chunk := await reader.read(65536):
            self._send(channel, chunk)
        self.close(1000)

    def _dial_error(self, port: int, exc: OSError) -> bytes:
        """The kubelet's words when the pod's port can't be reached."""
        return (
            f"error forwarding port {port} to pod: dial tcp {self.pod_ip}:{port}: "
            f"connect: {dial_reason(exc)}"
        ).encode()

    def _send_raw(self, data: bytes) -> None:
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(data, binary=True)

    def _on_stream(self, stream: spdy.Stream) -> None:
        """Pair the error and data streams of one request; forward once both are open."""
        kind = stream.headers.get("streamtype", "")
        pair = self.pairs.setdefault(stream.headers.get("requestid", ""), {})
        pair[kind] = stream
        if "data" in pair and "error" in pair:
            self.tasks.append(asyncio.create_task(self._forward(pair["data"], pair["error"])))

    async def _forward(self, data: spdy.Stream, error: spdy.Stream) -> None:
        port = data.headers.get("port", "")
        try:
            if not port.isdigit() or not 0 < int(port) < 65536:
                error.write(f'invalid port "{port}"'.encode())
                raise ValueError
            reader, writer = await asyncio.open_connection(self.pod_ip, int(port))
        except (OSError, ValueError) as exc:
            if isinstance(exc, OSError):
                error.write(self._dial_error(int(port), exc))
            data.close()
            error.close()
            return

        async def upstream() -> None:
            while chunk := await data.read():
                writer.write(chunk)
                await writer.drain()
            with contextlib.suppress(OSError):
                writer.write_eof()

        sending = asyncio.create_task(upstream())
        try:
            while chunk := await reader.read(65536):
                data.write(chunk)
        except OSError:
            pass
        finally:
            sending.cancel()
            writer.close()
        data.close()
        error.close()

    def on_message(self, message: str | bytes) -> None:
        if not isinstance(message, bytes) or not message:
            return
        if self.tunnel:
            try:
                self.session.feed(message)
            except spdy.FrameError as err:
                self.close(1002, f"malformed SPDY frame: {err}")
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
        """The plain SPDY upgrade clients fall back to: refused after the same checks."""
        if self._checked(namespace, name):
            self._fail(
                bad_request(
                    "devstack serves pods/portforward over WebSocket only "
                    f"(SPDY only tunnelled in it as {SPDY_TUNNEL})"
                )
            )
