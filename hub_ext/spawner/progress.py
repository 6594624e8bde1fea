"""The spawn's progress: what it waits for in plain words, then the pod's events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .pending import availability, in_line, pod_waiting

if TYPE_CHECKING:
    from .options import Selection
    from .spawner import AcceleratorSpawner
    from .waiting import LeaseRequest


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


def waiting_for(
    spawner: AcceleratorSpawner,
    selection: Selection | None,
    phase: str,
    request: LeaseRequest | None,
) -> str | None:
    """What a spawn of ``selection`` in ``phase`` (admission: asking ``request``'s service;
    then the pod) waits for right now, in plain words."""
    if selection is None:
        return None
    flavor = selection.flavor
    if phase == "admission":
        refused = request.refusal if request else None
        if refused is not None and request is not None and request.in_line:
            return in_line(flavor, refused)
        if refused is not None:
            return availability(flavor, _counts(spawner, flavor.slug), refused.queue_position)
        return f"Asking for {selection.count} x {flavor.display_name}"
    pod = spawner._pod()
    if pod is None:
        return None
    counts = _counts(spawner, flavor.slug) if flavor.resource else None
    events = []
    with contextlib.suppress(Exception):
        events = list(spawner.events)
    return pod_waiting(pod, flavor, selection.count, counts, events)


def _counts(spawner: AcceleratorSpawner, slug: str) -> Any:
    try:
        inventory = spawner.inventory()
    except Exception:
        return None
    return inventory.counts(slug) if inventory.synced else None
