"""Container logs: CRI-format files per container instance, and the pods/log reader.

Each line is stored as `<RFC 3339 nano time> <stdout|stderr> F <text>`, like
containerd's log files, in `<sandbox>/logs/<container>/<restartCount>.log`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator
from pathlib import Path

from devstack.apiserver.errors import ApiError


def rfc3339_nano(ns: int | None = None) -> str:
    """`2026-01-02T03:04:05.123456789Z`."""
    ns = time.time_ns() if ns is None else ns
    secs, frac = divmod(ns, 10**9)
    stamp = dt.datetime.fromtimestamp(secs, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{frac:09d}Z"


def _parse_stamp(text: str) -> float:
    """Seconds since the epoch of an RFC 3339 nano stamp (nanoseconds truncated)."""
    head, _, frac = text.rstrip("Z").partition(".")
    base = dt.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return base.timestamp() + (float("0." + frac) if frac else 0.0)


class ContainerLog:
    """The log file of one run of one container, with wake-ups for followers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self.finished = False
        self._changed = asyncio.Event()
        self._open_streams = 0

    def write_line(self, stream: str, text: bytes) -> None:
        """Append one line (without its newline)."""
        if self.finished:
            return
        self._file.write(f"{rfc3339_nano()} {stream} F ".encode() + text + b"\n")
        self._file.flush()
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def pump(self, reader: asyncio.StreamReader, stream: str) -> None:
        """Copy a process pipe into the file line by line until EOF."""
        buf = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self.write_line(stream, line)
        if buf:
            self.write_line(stream, buf)

    def finish(self) -> None:
        """Mark the run as over: followers stop after reading everything."""
        if not self.finished:
            self.finished = True
            self._file.close()
            self._wake()

    async def changed(self) -> None:
        """Wait for new lines or the end (callers bound the wait)."""
        await self._changed.wait()


def _format(line: bytes, timestamps: bool) -> bytes:
    """A stored CRI line as the API returns it."""
    stamp, _, rest = line.partition(b" ")
    _stream, _, rest = rest.partition(b" ")
    _tag, _, text = rest.partition(b" ")
    return (stamp + b" " + text if timestamps else text) + b"\n"


def _read_from(path: Path, offset: int) -> tuple[list[bytes], int]:
    with path.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    end = data.rfind(b"\n") + 1
    return data[:end].splitlines(), offset + end


async def read_container_log(
    log: ContainerLog,
    *,
    follow: bool,
    tail_lines: int | None,
    since_seconds: int | None,
    timestamps: bool,
    limit_bytes: int | None,
) -> AsyncIterator[bytes]:
    """Yield formatted lines of one container run, following it if asked."""
    lines, offset = await asyncio.to_thread(_read_from, log.path, 0)
    if since_seconds is not None:
        cutoff = time.time() - since_seconds
        lines = [ln for ln in lines if _parse_stamp(ln.split(b" ", 1)[0].decode()) >= cutoff]
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    budget = limit_bytes if limit_bytes is not None else -1
    while True:
        for line in lines:
            out = _format(line, timestamps)
            if budget >= 0:
                if budget == 0:
                    return
                out = out[:budget]
                budget -= len(out)
            yield out
        if not follow:
            return
        if log.finished:
            lines, offset = await asyncio.to_thread(_read_from, log.path, offset)
            if not lines:
                return
            continue
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await log.changed()
        lines, offset = await asyncio.to_thread(_read_from, log.path, offset)


def bad_request(message: str) -> ApiError:
    """400 BadRequest with the kubelet's sentence."""
    return ApiError(400, "BadRequest", message)
