"""Loopback ports and readiness waits for the servers tests start."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_http(
    url: str,
    timeout: float = 60.0,
    ok_statuses: tuple[int, ...] = (),
    alive: Callable[[], bool] | None = None,
) -> int:
    """Poll ``url`` until it answers with a status in ``ok_statuses`` (any status when
    empty); return that status.

    ``alive`` is asked before each try: when it says the server died, polling stops with
    a ``RuntimeError`` at once instead of waiting out the timeout.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise RuntimeError(f"the server behind {url} exited before it answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                status = int(response.status)
        except urllib.error.HTTPError as error:
            status = int(error.code)
            last_error = error
        except OSError as error:
            last_error = error
            time.sleep(0.2)
            continue
        if not ok_statuses or status in ok_statuses:
            return status
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s: {last_error}")
