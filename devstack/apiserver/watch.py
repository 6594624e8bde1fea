"""Watch events and per-watcher bounded queues with selector-aware event types."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.apiserver import gojson
from devstack.apiserver.selectors import FieldSelector, LabelSelector

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class WatchEvent:
    """One change in the store. `obj` is shared and must never be mutated."""

    type: str
    obj: dict[str, Any]
    old: dict[str, Any] | None
    rv: int
    _encoded: dict[tuple[str, int], bytes] = field(default_factory=dict, repr=False)

    def encode(self, event_type: str, transform: Transform | None = None) -> bytes:
        """The newline-terminated JSON line of this event, cached per type and transform."""
        key = (event_type, id(transform) if transform else 0)
        line = self._encoded.get(key)
        if line is None:
            obj = transform(self.obj) if transform else self.obj
            line = gojson.encode({"type": event_type, "object": obj})
            self._encoded[key] = line
        return line


@dataclass(eq=False)
class Watcher:
    """A registered watch: filters store events into a bounded queue.

    When the queue overflows (a slow consumer) the watcher is closed, as a real API
    server closes a watch that cannot keep up; the client then re-watches.
    """

    key: str
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    maxsize: int
    initial_end_rv: int | None = None  # send a BOOKMARK with initial-events-end at this rv
    queue: deque[tuple[str, WatchEvent]] = field(default_factory=deque)
    closed: bool = False
    overflowed: bool = False
    on_close: Callable[[Watcher], None] | None = None
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        md = obj.get("metadata") or {}
        if self.namespace is not None and md.get("namespace") != self.namespace:
            return False
        return self.labels.matches(md.get("labels")) and self.fields.matches(obj)

    def offer(self, ev: WatchEvent) -> None:
        """Filter one store event into this watcher's queue (never blocks)."""
        if self.closed:
            return
        new_ok = self._matches(ev.obj)
        if ev.type == "ADDED":
            etype = "ADDED" if new_ok else ""
        elif ev.type == "DELETED":
            etype = "DELETED" if new_ok or self._matches(ev.old) else ""
        else:
            old_ok = self._matches(ev.old)
            etype = ("MODIFIED" if old_ok else "ADDED") if new_ok else ("DELETED" if old_ok else "")
        if not etype:
            return
        self.push(etype, ev)

    def push(self, etype: str, ev: WatchEvent) -> None:
        """Queue an event unconditionally, closing the watch on overflow."""
        if self.closed:
            return
        if len(self.queue) >= self.maxsize:
            self.overflowed = True
            self.close()
            return
        self.queue.append((etype, ev))
        self._wakeup.set()

    def close(self) -> None:
        """Stop this watch; pending events are dropped on overflow, kept otherwise."""
        if self.overflowed:
            self.queue.clear()
        self.closed = True
        self._wakeup.set()
        if self.on_close is not None:
            cb, self.on_close = self.on_close, None
            cb(self)

    async def next(self, wait: float | None = None) -> tuple[str, WatchEvent] | None:
        """The next event; None when closed, or when nothing arrived within `wait` seconds."""
        while not self.queue:
            if self.closed:
                return None
            self._wakeup.clear()
            if wait is None:
                await self._wakeup.wait()
            else:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), wait)
                except TimeoutError:
                    return None
        return self.queue.popleft()
