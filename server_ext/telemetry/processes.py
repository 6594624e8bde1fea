"""Who runs each GPU process: user name, command name, and whether it is this server's own."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from typing import Any

import psutil


def own_process_tree() -> set[int]:
    """PIDs of this server and every process it started (kernels, terminals, ...)."""
    me = psutil.Process(os.getpid())
    pids = {me.pid}
    with contextlib.suppress(psutil.Error):
        pids.update(child.pid for child in me.children(recursive=True))
    return pids


def _describe(pid: int) -> tuple[str | None, str | None]:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            return proc.username(), proc.name()
    except (psutil.Error, KeyError):  # KeyError: a uid with no passwd entry
        return None, None


def annotate(devices: Iterable[dict[str, Any]]) -> None:
    """Add ``user``, ``command`` and ``own`` to every process of every device (and MIG device)."""
    procs: list[dict[str, Any]] = []
    for device in devices:
        procs.extend(device.get("processes") or ())
        for mig in (device.get("mig") or {}).get("devices", ()):
            procs.extend(mig.get("processes") or ())
    if not procs:
        return
    own = own_process_tree()
    cache: dict[int, tuple[str | None, str | None]] = {}
    for proc in procs:
        pid = proc["pid"]
        if pid not in cache:
            cache[pid] = _describe(pid)
        proc["user"], proc["command"] = cache[pid]
        proc["own"] = pid in own
