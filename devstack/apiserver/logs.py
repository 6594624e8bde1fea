"""The hook through which a kubelet serves pod logs to the API server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol, runtime_checkable


@runtime_checkable
class LogSource(Protocol):
    """What a kubelet registers with `ObjectStore.register_log_source` to serve `pods/log`.

    `read_logs` yields raw log bytes (whole lines, each ending in `\\n`). With
    `timestamps=True` every line starts with an RFC 3339 nano timestamp and a space.
    With `follow=True` it keeps yielding until the container ends or the caller stops
    iterating (the API server closes the iterator when the client goes away).
    It raises `devstack.apiserver.errors.ApiError` (usually 400 BadRequest, e.g.
    `container "x" in pod "y" is waiting to start: ContainerCreating`) when no logs exist,
    or returns `None` from `has_pod` to decline pods it does not run.
    """

    def has_pod(self, namespace: str, pod: str) -> bool:
        """Whether this source runs (or ran) that pod."""
        ...

    def read_logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """Yield the container's log bytes (an async generator)."""
        ...
