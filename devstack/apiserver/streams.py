"""`pods/exec` over WebSocket with the Kubernetes channel protocols (v5 down to v1).

Each binary message starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the final
Status, 4 terminal resize; v5 adds 255 + channel to close one (kubectl closes stdin so).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import struct
import termios
from typing import Any
from urllib.parse import parse_qs

from tornado.websocket import WebSocketClosedError, WebSocketHandler

from devstack.apiserver import gojson, rbac
from devstack.apiserver.authn import authenticate
from devstack.apiserver.errors import ApiError, bad_request, not_found, unauthorized
from devstack.apiserver.tokens import ADMIN

PROTOCOLS = (
    "v5.channel.k8s.io",
    "v4.channel.k8s.io",
    "v3.channel.k8s.io",
    "v2.channel.k8s.io",
    "channel.k8s.io",
)
STDIN, STDOUT, STDERR, ERROR, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def exit_status(code: int, command: list[str]) -> dict[str, Any]:
    """The Status a kubelet sends on the error channel when the command ends."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command "
        f"[{' '.join(command)}], exit code {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


class ExecHandler(WebSocketHandler):
    """`/api/v1/namespaces/<ns>/pods/<name>/exec`."""

    subresource = "exec"

    def initialize(self, api: Any) -> None:
        self.api = api
        self.store = api.store
        self.running: Any = None
        self.kubelet: Any = None
        self.command: list[str] = []
        self._stdin_open = True

    def _fail(self, err: ApiError) -> None:
        self.set_status(err.status)
        self.set_header("Content-Type", "application/json")
        self.finish(err.status_body())

    async def get(self, namespace: str, name: str) -> None:
        if self._checked(namespace, name):
            self.namespace, self.name = namespace, name
            await super().get(namespace, name)

    async def post(self, namespace: str, name: str) -> None:
        """The SPDY upgrade clients fall back to: refused after the same checks."""
        if self._checked(namespace, name):
            self._fail(
                bad_request(
                    f"devstack serves pods/{self.subresource} over WebSocket only, not SPDY"
                )
            )

    def _checked(self, namespace: str, name: str) -> bool:
        """Authenticate, authorize and find the pod's kubelet; answer the Status if not."""
        header = self.request.headers.get("Authorization", "")
        user = authenticate(header, self.api.token, self.store) if self.api.token else ADMIN
        try:
            if user is None:
                raise unauthorized()
            rbac.authorize(
                self.store,
                user,
                rbac.Request("create", "", "pods", self.subresource, namespace, name),
            )
            pod = self.store._data["pods"].get((namespace, name))
            if pod is None:
                raise not_found("pods", name)
            self.kubelet = next(
                (s for s in self.store.log_sources if s.has_pod(namespace, name)), None
            )
            if self.kubelet is None or not hasattr(self.kubelet, "exec"):
                raise bad_request(f'pod "{name}" is not running on a devstack kubelet')
        except ApiError as err:
            self._fail(err)
            return False
        return True

    def select_subprotocol(self, subprotocols: list[str]) -> str | None:
        return next((p for p in PROTOCOLS if p in subprotocols), None)

    def _send(self, channel: int, data: bytes) -> None:
        with contextlib.suppress(WebSocketClosedError):
            self.write_message(bytes([channel]) + data, binary=True)

    async def open(self, *_args: str) -> None:
        query = parse_qs(self.request.query)
        self.command = query.get("command", [])

        def flag(key: str) -> bool:
            return (query.get(key) or ["false"])[-1] in ("1", "true", "True")

        tty, want_stdin = flag("tty"), flag("stdin")
        container = (query.get("container") or [""])[-1]
        try:
            self.running = await self.kubelet.exec(
                self.namespace, self.name, container, self.command, tty, want_stdin
            )
        except ApiError as err:
            status = err.to_status()
            self._send(ERROR, gojson.encode({k: status[k] for k in status if k != "kind"}))
            self.close(1000)
            return
        asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        proc = self.running.proc
        if self.running.master is not None:
            await self._pump_pty(self.running.master)
        else:
            await asyncio.gather(
                self._pump_pipe(proc.stdout, STDOUT), self._pump_pipe(proc.stderr, STDERR)
            )
        code = await proc.wait()
        code = 128 - code if code < 0 else code
        self._send(ERROR, json.dumps(exit_status(code, self.command)).encode())
        self.close(1000)

    async def _pump_pipe(self, stream: Any, channel: int) -> None:
        while chunk := await stream.read(65536):
            self._send(channel, chunk)

    async def _pump_pty(self, master: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                chunk = await loop.run_in_executor(None, os.read, master, 65536)
            except OSError:
                break
            if not chunk:
                break
            self._send(STDOUT, chunk)
        with contextlib.suppress(OSError):
            os.close(master)

    def on_message(self, message: str | bytes) -> None:
        if not isinstance(message, bytes) or not message or self.running is None:
            return
        channel, data = message[0], message[1:]
        proc, master = self.running.proc, self.running.master
        if channel == STDIN and data:
            if master is not None:
                os.write(master, data)
            elif proc.stdin is not None and self._stdin_open:
                proc.stdin.write(data)
        elif channel == CLOSE and data[:1] == bytes([STDIN]) and proc.stdin is not None:
            self._stdin_open = False
            proc.stdin.close()
        elif channel == RESIZE and master is not None:
            with contextlib.suppress(ValueError, OSError):
                size = json.loads(data)
                packed = struct.pack("HHHH", int(size["Height"]), int(size["Width"]), 0, 0)
                fcntl.ioctl(master, termios.TIOCSWINSZ, packed)

    def on_close(self) -> None:
        if self.running is not None and self.running.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.running.proc.pid, 9)

    def check_origin(self, origin: str) -> bool:
        return True


class AttachHandler(ExecHandler):
    """`/api/v1/namespaces/<ns>/pods/<name>/attach`: the container's output from now on
    (stdout and stderr as its log holds them, on channel 1) until it ends."""

    subresource = "attach"

    async def open(self, *_args: str) -> None:
        query = parse_qs(self.request.query)
        pod = self.store._data["pods"][(self.namespace, self.name)]
        first = ((pod.get("spec") or {}).get("containers") or [{}])[0].get("name", "")
        container = (query.get("container") or [first])[-1]
        self.follow = asyncio.get_running_loop().create_task(self._follow(container))

    async def _follow(self, container: str) -> None:
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        try:
            async for chunk in self.kubelet.read_logs(
                self.namespace, self.name, container, follow=True, tail_lines=0
            ):
                self._send(STDOUT, chunk)
        except ApiError as err:
            status = {k: v for k, v in err.to_status().items() if k != "kind"}
        self._send(ERROR, json.dumps(status).encode())
        self.close(1000)

    def on_message(self, message: str | bytes) -> None:
        """devstack containers read no stdin: input is dropped."""

    def on_close(self) -> None:
        follow = getattr(self, "follow", None)
        if follow is not None:
            follow.cancel()
