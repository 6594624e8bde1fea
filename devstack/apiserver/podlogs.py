"""`GET .../pods/NAME/log`: parameter checks, then streaming from a registered LogSource."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from tornado.iostream import StreamClosedError

from devstack.apiserver import bodies
from devstack.apiserver.errors import ApiError, bad_request

if TYPE_CHECKING:
    from devstack.apiserver.handlers import ResourceHandler


def _waiting_reason(pod: dict[str, Any], container: str) -> str:
    status = pod.get("status") or {}
    for cs in (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or []):
        if cs.get("name") == container:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                return str(waiting.get("reason") or "ContainerCreating")
    return "ContainerCreating"


async def serve_logs(handler: ResourceHandler, namespace: str, name: str) -> None:
    """Answer a pod log request, following if asked."""
    store = handler.store
    pod = store.get_raw("pods", name, namespace)
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in spec.get("containers") or []]
    init_names = [c.get("name") for c in spec.get("initContainers") or []]
    container = handler.arg("container")
    if not container:
        if len(names) != 1:
            raise bad_request(
                f"a container name must be specified for pod {name}, choose one "
                f"of: [{' '.join(str(n) for n in names)}]"
                + (
                    f" or one of the init containers: [{' '.join(map(str, init_names))}]"
                    if init_names
                    else ""
                )
            )
        container = str(names[0])
    elif container not in names and container not in init_names:
        raise bad_request(f"container {container} is not valid for pod {name}")
    follow = bodies.parse_bool(handler.arg("follow"))
    tail = bodies.parse_int(handler.arg("tailLines"), "tailLines")
    since = bodies.parse_int(handler.arg("sinceSeconds"), "sinceSeconds")
    limit = bodies.parse_int(handler.arg("limitBytes"), "limitBytes")
    if since is not None and since < 1:
        raise ApiError(
            422,
            "Invalid",
            f'PodLogOptions "{name}" is invalid: sinceSeconds: '
            f"Invalid value: {since}: must be greater than 0",
        )
    if tail is not None and tail < 0:
        raise ApiError(
            422,
            "Invalid",
            f'PodLogOptions "{name}" is invalid: tailLines: '
            f"Invalid value: {tail}: must be greater than or equal to 0",
        )
    timestamps = bodies.parse_bool(handler.arg("timestamps"))
    previous = bodies.parse_bool(handler.arg("previous"))
    source = None
    for candidate in store.log_sources:
        has_pod = getattr(candidate, "has_pod", None)
        if has_pod is None or has_pod(namespace, name):
            source = candidate
            break
    if source is None or not spec.get("nodeName"):
        if previous:
            raise bad_request(
                f'previous terminated container "{container}" in pod "{name}" not found'
            )
        raise bad_request(
            f'container "{container}" in pod "{name}" is waiting to start: '
            f"{_waiting_reason(pod, container)}"
        )
    stream = source.read_logs(
        namespace,
        name,
        container,
        follow=follow,
        tail_lines=tail,
        since_seconds=since,
        timestamps=timestamps,
        previous=previous,
        limit_bytes=limit,
    )
    started = False
    sent = 0
    try:
        async for chunk in stream:
            if not started:
                handler.set_status(200)
                handler.set_header("Content-Type", "text/plain")
                started = True
            if limit is not None:
                chunk = chunk[: max(0, limit - sent)]
            sent += len(chunk)
            handler.write(chunk)
            await handler.flush()
            if limit is not None and sent >= limit:
                break
    except ApiError:
        if started:
            return
        raise
    except StreamClosedError:
        return
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()
    if not started:
        handler.set_status(200)
        handler.set_header("Content-Type", "text/plain")
    with contextlib.suppress(StreamClosedError):
        handler.finish()
