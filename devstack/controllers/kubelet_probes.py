"""Readiness, liveness and startup probes: httpGet, tcpSocket and exec, kubelet-worded."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

ProbeCallback = Callable[[bool, str], Awaitable[None]]


@dataclass
class ProbeTarget:
    """Where a container's probes go and how exec probes run."""

    pod_ip: str
    ports: Mapping[str, int]
    env: Mapping[str, str]
    cwd: str


def _port(value: Any, target: ProbeTarget) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.isdigit():
        return int(text)
    if text in target.ports:
        return target.ports[text]
    raise ValueError(f"unable to find port {text!r}")


async def _http(probe: Mapping[str, Any], target: ProbeTarget, limit: float) -> tuple[bool, str]:
    host = str(probe.get("host") or target.pod_ip)
    port = _port(probe.get("port"), target)
    path = str(probe.get("path") or "/")
    scheme = str(probe.get("scheme") or "HTTP").lower()
    url = f"{scheme}://{host}:{port}{path}"
    headers = {
        "Host": f"{host}:{port}",
        "User-Agent": "kube-probe/1.33",
        "Accept": "*/*",
        "Connection": "close",
    }
    for h in probe.get("httpHeaders") or []:
        headers[str(h.get("name"))] = str(h.get("value", ""))
    ctx = None
    if scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        async with asyncio.timeout(limit):
            reader, writer = await asyncio.open_connection(host, port, ssl=ctx)
            try:
                head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                writer.write(f"GET {path} HTTP/1.1\r\n{head}\r\n".encode())
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
    except TimeoutError:
        return False, (
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded '
            f"while awaiting headers)"
        )
    except OSError as exc:
        return False, f'Get "{url}": dial tcp {host}:{port}: connect: {dial_reason(exc)}'
    parts = status_line.decode(errors="replace").split()
    code = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


def dial_reason(exc: OSError) -> str:
    """The end of Go's dial error for a failed connect, e.g. "connection refused"."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return (exc.strerror or str(exc)).lower()


async def _tcp(probe: Mapping[str, Any], target: ProbeTarget, limit: float) -> tuple[bool, str]:
    host = str(probe.get("host") or target.pod_ip)
    port = _port(probe.get("port"), target)
    try:
        async with asyncio.timeout(limit):
            _, writer = await asyncio.open_connection(host, port)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    except TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except OSError as exc:
        return False, f"dial tcp {host}:{port}: connect: {dial_reason(exc)}"
    return True, ""


async def _exec(probe: Mapping[str, Any], target: ProbeTarget, limit: float) -> tuple[bool, str]:
    command = [str(a) for a in probe.get("command") or []]
    if not command:
        return False, "exec probe has no command"
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=dict(target.env),
            cwd=target.cwd,
            start_new_session=True,
        )
    except OSError as exc:
        return False, f"{exc.strerror}: {command[0]}"
    try:
        async with asyncio.timeout(limit):
            out, _ = await proc.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return False, f"command {command!r} timed out"
    if proc.returncode == 0:
        return True, ""
    return False, out.decode(errors="replace")


async def probe_once(probe: Mapping[str, Any], target: ProbeTarget) -> tuple[bool, str]:
    """Run a probe once: (success, failure message)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if probe.get("httpGet") is not None:
            return await _http(probe["httpGet"], target, timeout)
        if probe.get("tcpSocket") is not None:
            return await _tcp(probe["tcpSocket"], target, timeout)
        if probe.get("grpc") is not None:
            return await _tcp(probe["grpc"], target, timeout)
        if probe.get("exec") is not None:
            return await _exec(probe["exec"], target, timeout)
    except ValueError as exc:
        return False, str(exc)
    return True, ""


async def probe_loop(
    probe: Mapping[str, Any],
    target: ProbeTarget,
    on_change: ProbeCallback,
    on_failure: ProbeCallback,
) -> None:
    """Probe periodically; report result flips (after thresholds) and every failure."""
    await asyncio.sleep(float(probe.get("initialDelaySeconds") or 0))
    period = float(probe.get("periodSeconds") or 10)
    success_needed = int(probe.get("successThreshold") or 1)
    failure_needed = int(probe.get("failureThreshold") or 3)
    state: bool | None = None
    successes = failures = 0
    while True:
        ok, message = await probe_once(probe, target)
        if ok:
            successes, failures = successes + 1, 0
            if state is not True and successes >= success_needed:
                state = True
                await on_change(True, "")
        else:
            failures, successes = failures + 1, 0
            await on_failure(False, message)
            if state is not False and failures >= failure_needed:
                state = False
                await on_change(False, message)
        await asyncio.sleep(period)
