"""The spawn's progress stream: plain-words status, then the pod's events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .spawner import AcceleratorSpawner


async def spawn_progress(spawner: AcceleratorSpawner) -> AsyncIterator[dict[str, Any]]:
    """Admission, queue, scheduler, node, then the pod's events, until the start ends."""
    seen_events = 0
    last = None
    percent = 0
    while True:
        future = getattr(spawner, "_start_future", None)
        done = future is not None and future.done()
        status = spawner.pending_status()
        if status and status != last:
            last = status
            spawner.note_status(status)
            percent += (80 - percent) // 3
            yield {"progress": percent, "message": status}
        with contextlib.suppress(Exception):
            events = list(spawner.events)
            for event in events[seen_events:]:
                if event.get("reason") == "FailedScheduling":
                    continue
                percent += (90 - percent) // 3
                yield {
                    "progress": percent,
                    "raw_event": event,
                    "message": f"[{event.get('type')}] {event.get('message')}",
                }
            seen_events = len(events)
        if done:
            return
        await asyncio.sleep(spawner.progress_interval)
