"""Polling until a condition holds, shared by the integration suites."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol


class Until(Protocol):
    def __call__(
        self, check: Callable[[], Any], timeout: float | None = None, interval: float | None = None
    ) -> Any: ...


def until(
    check: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.2,
    tolerate: tuple[type[BaseException], ...] = (),
) -> Any:
    """Call ``check`` until it returns something truthy and return that; an exception in
    ``tolerate`` counts as not yet. Fails naming the last value seen after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except tolerate as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


def waiter(
    timeout: float = 20.0, interval: float = 0.2, tolerate: tuple[type[BaseException], ...] = ()
) -> Until:
    """An ``until`` with a module's own defaults."""

    def wait(
        check: Callable[[], Any], timeout: float | None = None, interval: float | None = None
    ) -> Any:
        return until(
            check,
            default_timeout if timeout is None else timeout,
            default_interval if interval is None else interval,
            tolerate,
        )

    default_timeout, default_interval = timeout, interval
    return wait


def server_settled(
    api: Callable[[str, str], Any],
    user: str,
    server: str,
    timeout: float,
    interval: float = 0.5,
    context: Callable[[], str] = str,
) -> dict[str, Any]:
    """Poll the hub's model of ``user`` (``api("GET", path)`` answers it) until the named
    server is ready or gone; return its model ({} when gone). Fails with the last model seen
    and ``context()`` (a hub's log, say)."""

    def settled() -> tuple[dict[str, Any]] | None:
        srv = (api("GET", f"/users/{user}").json().get("servers") or {}).get(server)
        return (srv or {},) if srv is None or srv.get("ready") else None

    try:
        return dict(until(settled, timeout, interval)[0])
    except AssertionError:
        last = api("GET", f"/users/{user}").json()
        raise TimeoutError(f"{user}/{server} not ready: {last}\n{context()}") from None
