"""One virtual node's bridge to its site's plugin: create, status, logs, delete and ping."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp

from devstack.apiserver.errors import ApiError
from devstack.apiserver.meta import object_ref, timestamp
from devstack.apiserver.serviceaccounts import TOKEN_VOLUME_PREFIX
from devstack.controllers.events import record_event
from devstack.controllers.interlink_status import (
    TERMINAL,
    pod_status_from,
    provider_failed,
    status_differs,
    volume_objects,
)
from devstack.controllers.kubelet_logs import bad_request
from devstack.interlink import protocol

if TYPE_CHECKING:
    from devstack.controllers.interlink import InterLinkBridge

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "virtual-kubelet"
HEARTBEAT = 10.0  # seconds between node heartbeats when nothing else changes


class SiteError(Exception):
    """The plugin answered with an error (its body is the message) or not at all."""


class SiteBridge:
    """The bridge of one virtual node."""

    def __init__(self, owner: InterLinkBridge, node: str, url: str) -> None:
        self.owner = owner
        self.node = node
        self.url = url
        self.pods: dict[str, Obj] = {}  # by uid, every pod bound here
        self.jobs: dict[str, str] = {}  # uid -> the site's job id
        self.deleting: set[str] = set()
        self.ready: bool | None = None
        self.capacity: dict[str, str] = {}
        self.last_heartbeat = 0.0
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def store(self) -> Any:
        return self.owner.store

    def start(self) -> None:
        """Begin pinging and polling."""
        self._spawn(self._ping_loop())
        self._spawn(self._status_loop())

    async def stop(self) -> None:
        """Stop every loop and request."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def find(self, namespace: str, name: str) -> Obj | None:
        """A pod bound to this node, by namespace and name."""
        for pod in self.pods.values():
            md = pod["metadata"]
            if md["name"] == name and md.get("namespace") == namespace:
                return pod
        return None

    # -- HTTP --------------------------------------------------------------------------
    async def _call(self, method: str, path: str, body: Any) -> bytes:
        assert self.owner.http is not None
        try:
            async with asyncio.timeout(self.owner.timeout):
                async with self.owner.http.request(
                    method,
                    self.url + path,
                    data=json.dumps(body),
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    data = await resp.read()
                    if resp.status >= 400:
                        text = data.decode(errors="replace").strip()
                        raise SiteError(text or f"the site answered HTTP {resp.status}")
                    return data
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SiteError(
                f"the site's plugin at {self.url} does not answer: {exc or type(exc).__name__}"
            ) from None

    # -- pods --------------------------------------------------------------------------
    def on_pod(self, etype: str, pod: Obj) -> None:
        """A pod bound to this node changed."""
        uid = pod["metadata"]["uid"]
        if etype == "DELETED":
            self.pods.pop(uid, None)
            if uid in self.jobs and uid not in self.deleting:
                self.deleting.add(uid)
                self._spawn(self._delete(pod, confirm=False))
            return
        known = uid in self.pods
        self.pods[uid] = pod
        if pod["metadata"].get("deletionTimestamp"):
            if uid not in self.deleting:
                self.deleting.add(uid)
                self._spawn(self._delete(pod, confirm=True))
            return
        if not known and (pod.get("status") or {}).get("phase") not in TERMINAL:
            self._spawn(self._create(pod))

    async def _volume_data(self, pod: Obj) -> list[Obj]:
        spec = pod.get("spec") or {}
        ns = pod["metadata"].get("namespace", "default")
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        out = []
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            found: dict[str, list[Obj]] = {"configmaps": [], "secrets": []}
            empty = []
            for mount in c.get("volumeMounts") or []:
                vol = volumes.get(mount.get("name"))
                if vol is None or vol["name"].startswith(TOKEN_VOLUME_PREFIX):
                    continue  # a site's job gets no ServiceAccount token
                if "emptyDir" in vol:
                    empty.append(vol["name"])
                for kind, name in volume_objects(vol):
                    with contextlib.suppress(ApiError):
                        found[kind].append(await self.store.get(kind, name, namespace=ns))
            out.append(
                protocol.retrieved_container(
                    c["name"], found["configmaps"], found["secrets"], empty_dirs=empty
                )
            )
        return out

    async def _create(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        body = protocol.create_request(pod, await self._volume_data(pod))
        try:
            reply = json.loads(await self._call("POST", protocol.CREATE, body))
            self.jobs[uid] = protocol.parse_create_reply(reply)
        except (SiteError, ValueError) as exc:
            message = str(exc)
            log.info("site %s refused %s: %s", self.node, pod["metadata"]["name"], message)
            await self._write_status(pod, provider_failed(pod, message))
            await self._event(pod, "ProviderFailed", message, "Warning")
            return
        self._wake.set()

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        md = pod["metadata"]
        try:
            new = await self.store.patch(
                "pods",
                md["name"],
                {"status": status},
                "merge",
                namespace=md.get("namespace"),
                subresource="status",
            )
        except ApiError as exc:
            if exc.status != 404:
                log.warning("status of %s/%s: %s", md.get("namespace"), md["name"], exc)
            return
        if md["uid"] in self.pods:
            self.pods[md["uid"]] = new

    async def _event(self, pod: Obj, reason: str, message: str, type: str = "Normal") -> None:
        with contextlib.suppress(ApiError):
            await record_event(
                self.store,
                object_ref(pod),
                reason,
                message,
                type=type,
                source_component=COMPONENT,
                source_host=self.node,
            )

    async def _delete(self, pod: Obj, confirm: bool) -> None:
        uid = pod["metadata"]["uid"]
        if uid in self.jobs:
            try:
                await self._call("POST", protocol.DELETE, pod)
            except SiteError as exc:
                log.warning("site %s could not delete %s: %s", self.node, uid, exc)
            self.jobs.pop(uid, None)
        if confirm:
            with contextlib.suppress(ApiError):
                await self.store.delete(
                    "pods",
                    pod["metadata"]["name"],
                    namespace=pod["metadata"].get("namespace"),
                    grace_period_seconds=0,
                    preconditions={"uid": uid},
                )
        self.deleting.discard(uid)

    # -- status polling ----------------------------------------------------------------
    async def _status_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.owner.status_period):
                    await self._wake.wait()
            self._wake.clear()
            live = [
                self.pods[uid]
                for uid in list(self.jobs)
                if uid in self.pods
                and uid not in self.deleting
                and (self.pods[uid].get("status") or {}).get("phase") not in TERMINAL
            ]
            if not live:
                continue
            try:
                entries = protocol.parse_status_reply(
                    json.loads(await self._call("GET", protocol.STATUS, live))
                )
            except (SiteError, ValueError) as exc:
                log.debug("status from %s failed: %s", self.node, exc)
                continue
            for pod in live:
                entry = entries.get(pod["metadata"]["uid"])
                if entry is None:
                    continue
                status = pod_status_from(pod, entry)
                if status_differs(pod.get("status") or {}, status):
                    await self._write_status(pod, status)

    # -- logs ----------------------------------------------------------------------------
    async def logs(
        self, namespace: str, name: str, container: str, **opts: Any
    ) -> AsyncIterator[bytes]:
        """Stream `/getLogs` (errors become the kubelet's 400 with the site's words)."""
        pod = self.find(namespace, name)
        if pod is None:
            raise bad_request(f'pods "{name}" not found')
        status = pod.get("status") or {}
        if status.get("reason") == "ProviderFailed":
            yield (str(status.get("message", "")) + "\n").encode()
            return
        body = protocol.log_request(namespace, pod["metadata"]["uid"], name, container, **opts)
        assert self.owner.http is not None
        try:
            async with self.owner.http.request(
                "GET",
                self.url + protocol.LOGS,
                data=json.dumps(body),
                headers={"Content-Type": "application/json"},
            ) as resp:
                if resp.status >= 400:
                    raise bad_request((await resp.text()).strip() or f"HTTP {resp.status}")
                async for chunk in resp.content.iter_any():
                    yield chunk
        except (aiohttp.ClientError, OSError) as exc:
            raise bad_request(f"the site's plugin at {self.url} does not answer: {exc}") from None

    # -- ping ------------------------------------------------------------------------------
    async def _ping_loop(self) -> None:
        while True:
            try:
                raw = await self._call("GET", protocol.STATUS, [])
                try:
                    capacity = protocol.parse_ping_reply(json.loads(raw))
                except ValueError:
                    capacity = {}
                await self._set_node(True, "KubeletReady", "the site's plugin answers", capacity)
            except SiteError as exc:
                await self._set_node(False, "KubeletNotReady", str(exc), {})
            await asyncio.sleep(self.owner.ping_period)

    async def _set_node(
        self, ready: bool, reason: str, message: str, capacity: dict[str, str]
    ) -> None:
        now = time.monotonic()
        merged = {**self.capacity, **capacity}
        if (
            ready == self.ready
            and merged == self.capacity
            and now - self.last_heartbeat < HEARTBEAT
        ):
            return
        try:
            node = await self.store.get("nodes", self.node)
        except ApiError:
            return
        stamp = timestamp()
        conditions = []
        for cond in (node.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Ready":
                changed = cond.get("status") != ("True" if ready else "False")
                cond = {
                    **cond,
                    "status": "True" if ready else "False",
                    "reason": reason,
                    "message": message,
                    "lastHeartbeatTime": stamp,
                    "lastTransitionTime": stamp if changed else cond.get("lastTransitionTime"),
                }
            conditions.append(cond)
        status: Obj = {"conditions": conditions}
        if capacity:
            status["capacity"] = capacity
            status["allocatable"] = capacity
        with contextlib.suppress(ApiError):
            await self.store.patch(
                "nodes", self.node, {"status": status}, "merge", subresource="status"
            )
        self.ready, self.capacity, self.last_heartbeat = ready, merged, now
