"""Container and pod status as a kubelet reports them: states, conditions, phase."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any

from devstack.apiserver.meta import timestamp
from devstack.controllers.kubelet_logs import ContainerLog

KUBELET_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady")


def image_id(image: str) -> str:
    """A stable fake image digest reference for an image name."""
    digest = hashlib.sha256(image.encode()).hexdigest()
    repo = image.split("@")[0]
    last = repo.rsplit("/", 1)[-1]
    if ":" in last:
        repo = repo[: len(repo) - len(last)] + last.split(":")[0]
    return f"docker-pullable://{repo}@sha256:{digest}"


def new_container_id() -> str:
    """`containerd://<64 hex>`."""
    return "containerd://" + secrets.token_hex(32)


@dataclass
class ContainerRecord:
    """Everything the kubelet knows about one container of a pod."""

    name: str
    image: str
    init: bool
    spec: dict[str, Any]
    restart_count: int = 0
    state: dict[str, Any] = field(
        default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}}
    )
    last_state: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    container_id: str = ""
    proc: asyncio.subprocess.Process | None = None
    logs: list[ContainerLog] = field(default_factory=list)
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    up: asyncio.Event = field(default_factory=asyncio.Event)
    oom: bool = False
    memory_limit: int = 0
    readiness: bool | None = None
    startup_ok: bool | None = None
    done: bool = False  # will never run again
    ever_ran: bool = False
    stopping: bool = False

    @property
    def running(self) -> bool:
        """True while the process runs."""
        return "running" in self.state

    @property
    def succeeded(self) -> bool:
        """True if the last run exited 0."""
        return (self.state.get("terminated") or {}).get("exitCode") == 0

    def set_waiting(self, reason: str, message: str = "") -> None:
        """Enter a waiting state."""
        waiting: dict[str, Any] = {"reason": reason}
        if message:
            waiting["message"] = message
        self.state = {"waiting": waiting}
        self.ready = False

    def set_running(self) -> None:
        """Enter the running state now."""
        self.state = {"running": {"startedAt": timestamp()}}
        self.ever_ran = True
        self.up.set()

    def set_terminated(
        self, code: int, reason: str, message: str = "", started_at: str | None = None
    ) -> None:
        """Enter the terminated state now."""
        term: dict[str, Any] = {
            "exitCode": code,
            "reason": reason,
            "startedAt": started_at or timestamp(),
            "finishedAt": timestamp(),
        }
        if message:
            term["message"] = message
        if self.container_id:
            term["containerID"] = self.container_id
        self.state = {"terminated": term}
        self.ready = False
        self.started = False

    def status(self) -> dict[str, Any]:
        """The `containerStatuses[]` entry."""
        out: dict[str, Any] = {
            "name": self.name,
            "state": self.state,
            "lastState": self.last_state,
            "ready": self.ready,
            "restartCount": self.restart_count,
            "image": self.image,
            "imageID": image_id(self.image) if self.ever_ran else "",
            "started": self.started,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out


class Conditions:
    """Pod conditions with stable lastTransitionTime across updates."""

    def __init__(self) -> None:
        self._current: dict[str, dict[str, Any]] = {}

    def set(self, ctype: str, ok: bool, reason: str = "", message: str = "") -> None:
        """Set one condition, keeping its transition time if the status didn't change."""
        status = "True" if ok else "False"
        old = self._current.get(ctype)
        when = old["lastTransitionTime"] if old and old["status"] == status else timestamp()
        cond: dict[str, Any] = {
            "type": ctype,
            "status": status,
            "lastProbeTime": None,
            "lastTransitionTime": when,
        }
        if reason:
            cond["reason"] = reason
        if message:
            cond["message"] = message
        self._current[ctype] = cond

    def merged(self, existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Kubelet conditions in kubelet order, then the others (PodScheduled...) kept."""
        mine = [self._current[t] for t in KUBELET_CONDITIONS if t in self._current]
        others = [c for c in existing if c.get("type") not in KUBELET_CONDITIONS]
        return mine + others


def not_ready_message(names: list[str]) -> str:
    """`containers with unready status: [a b]`."""
    return f"containers with unready status: [{' '.join(names)}]"


def incomplete_message(names: list[str]) -> str:
    """`containers with incomplete status: [init]`."""
    return f"containers with incomplete status: [{' '.join(names)}]"
