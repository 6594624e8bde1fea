"""One event feed per followed job: state changes, per-cell progress and log lines.

A feed follows the service (``logs?follow=1`` and the job's state) once, however many
WebSocket clients watch it, and numbers its events ``seq`` 1, 2, 3...; a client that
reconnects with ``?after=N&stream=S`` gets exactly the events after N. ``stream``
names the feed: after a server restart the feed is new, and a client with an old
``stream`` is sent everything again from the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from .client import FINAL, GatewayClient, ServiceError
from .frames import PREFIX, parse_progress

Event = dict[str, Any]


def classify(line: str) -> Event | None:
    """The event a log line makes: progress, a log line, or None (result frame lines)."""
    progress = parse_progress(line)
    if progress is not None:
        return {"type": "progress", **progress}
    if line.startswith(PREFIX):
        return None
    return {"type": "log", "line": line}


def _summary(job: dict[str, Any]) -> tuple[Any, ...]:
    return (job.get("state"), job.get("progress"), job.get("reason"), job.get("message"))


class JobFeed:
    """The numbered events of one job, with the task that gathers them."""

    def __init__(
        self, job_id: str, client: GatewayClient, log: logging.Logger, max_events: int
    ) -> None:
        self.job_id = job_id
        self.client = client
        self.log = log
        self.stream = uuid.uuid4().hex
        self.events: list[Event] = []
        self.max_events = max_events
        self.seq = 0
        self.done = False
        self.subscribers: dict[int, Callable[[], None]] = {}
        self.left_at = time.monotonic()
        self._lines_seen = 0
        self._partial = b""
        self._job: dict[str, Any] | None = None
        self._final = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- reading ----------------------------------------------------------------------------

    def since(self, after: int) -> list[Event]:
        return [event for event in self.events if event["seq"] > after]

    def subscribe(self, wake: Callable[[], None]) -> int:
        token = id(wake)
        self.subscribers[token] = wake
        return token

    def unsubscribe(self, token: int) -> None:
        self.subscribers.pop(token, None)
        if not self.subscribers:
            self.left_at = time.monotonic()

    # -- gathering --------------------------------------------------------------------------

    def start(self, job: dict[str, Any], poll: float, retry: float) -> None:
        self._state(job)
        self._task = asyncio.ensure_future(self._run(poll, retry))

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _emit(self, event: Event) -> None:
        self.seq += 1
        self.events.append({"seq": self.seq, **event})
        if len(self.events) > self.max_events:
            del self.events[: len(self.events) - self.max_events]
        for wake in list(self.subscribers.values()):
            wake()

    def _state(self, job: dict[str, Any]) -> None:
        if self._job is None or _summary(job) != _summary(self._job):
            self._emit({"type": "state", "job": job})
        self._job = job
        if job["state"] in FINAL:
            self._final.set()

    def _on_text(self, text: str, skip: int) -> None:
        """Emit the complete lines of ``text`` after the first ``skip`` already seen."""
        for index, line in enumerate(text.splitlines()):
            if index >= skip:
                self._line(line)

    def _line(self, line: str) -> None:
        self._lines_seen += 1
        event = classify(line)
        if event is not None:
            self._emit(event)

    def _on_chunk(self, chunk: bytes, counter: list[int]) -> None:
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        for raw in lines:
            counter[0] += 1
            if counter[0] > self._lines_seen:
                self._line(raw.decode(errors="replace").rstrip("\r"))

    async def _run(self, poll: float, retry: float) -> None:
        watcher = asyncio.ensure_future(self._watch(poll))
        try:
            await self._follow(retry)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if self._job is not None:
            with contextlib.suppress(ServiceError):
                self._state(await self.client.job(self.job_id))
        self._emit({"type": "end", "state": self._job["state"] if self._job else None})
        self.done = True

    async def _watch(self, poll: float) -> None:
        while not self._final.is_set():
            await asyncio.sleep(poll)
            try:
                self._state(await self.client.job(self.job_id))
            except ServiceError as error:
                if error.status == 404:
                    self._emit({"type": "error", "message": error.message})
                    self._final.set()
                    return
                self.log.debug("offload: job %s state read failed: %s", self.job_id, error)

    async def _follow(self, retry: float) -> None:
        """Follow the logs until the job is final and a read after that has ended."""
        while True:
            final_before = self._final.is_set()
            counter = [0]
            self._partial = b""
            try:
                await self.client.follow_logs(
                    self.job_id, functools.partial(self._on_chunk, counter=counter)
                )
                if self._partial:
                    self._on_chunk(b"\n", counter)
            except ServiceError as error:
                self.log.debug("offload: job %s logs: %s", self.job_id, error.message)
            if final_before or (self._final.is_set() and await self._tail()):
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._final.wait(), retry)

    async def _tail(self) -> bool:
        """Read the whole log once more after the job ended; True when that worked."""
        try:
            text = await self.client.logs(self.job_id)
        except ServiceError:
            return False
        self._on_text(text, self._lines_seen)
        return True


class Feeds:
    """The feeds of this server, one per followed job; idle finished ones are dropped."""

    def __init__(self, client: GatewayClient, log: logging.Logger) -> None:
        self.client = client
        self.log = log
        self.feeds: dict[str, JobFeed] = {}

    def get(self, job: dict[str, Any]) -> JobFeed:
        config = self.client.config
        self._drop_idle(config.idle_seconds)
        feed = self.feeds.get(job["id"])
        if feed is None:
            feed = JobFeed(job["id"], self.client, self.log, config.max_events)
            feed.start(job, config.poll_interval, config.retry_delay)
            self.feeds[job["id"]] = feed
        return feed

    def _drop_idle(self, idle: float) -> None:
        now = time.monotonic()
        for job_id, feed in list(self.feeds.items()):
            if not feed.subscribers and now - feed.left_at > idle:
                del self.feeds[job_id]
                feed.cancel()

    async def stop(self) -> None:
        for feed in self.feeds.values():
            await feed.stop()
        self.feeds.clear()
