"""The cluster inventory: one watch-fed view of nodes and pods per process (hub and service)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from traitlets import Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from .cluster_state import FlavorCounts, InventoryState, PodView
from .flavors import Flavor

__all__ = ["ClusterInventory", "FlavorCounts", "InventoryState", "PodView"]

ApiFactory = Callable[[], Any]
#: Told of every change: ("nodes" | "pods", "ADDED" | "MODIFIED" | "DELETED" | "RELISTED", obj).
Listener = Callable[[str, str, Mapping[str, Any]], None]


class ClusterInventory(LoggingConfigurable):
    """One list+watch of nodes and pods per process, feeding an InventoryState.

    The hub shares one per catalog and cluster (``shared``); the hub service keeps its own, with
    its lease and placeholder labels indexed. Nothing lists the cluster again after a relist.
    """

    namespaces = List(
        Unicode(),
        [],
        config=True,
        help="Namespaces whose pods are counted; empty means every namespace (recommended: "
        "batch, offload and placeholder pods elsewhere hold devices too).",
    )
    watch_timeout = Int(
        300, config=True, help="Seconds a single watch request lasts before it is renewed."
    )
    backoff_max = Float(
        30.0, config=True, help="Longest pause, in seconds, before re-watching after an error."
    )
    request_timeout = Float(
        60.0, config=True, help="Seconds a list request may take before it is retried."
    )

    _shared: ClassVar[dict[tuple[Any, ...], ClusterInventory]] = {}

    def __init__(
        self,
        flavors: Iterable[Flavor],
        api_factory: ApiFactory,
        managed_labels: Iterable[str] = (),
        indexed_labels: Iterable[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.state = InventoryState(flavors, managed_labels, indexed_labels)
        self.listeners: list[Listener] = []
        self._api_factory = api_factory
        self._tasks: list[asyncio.Task[None]] = []
        self._synced = {"nodes": asyncio.Event(), "pods": asyncio.Event()}
        self.relists = 0
        self.last_error: str | None = None
        self.updated_at = 0.0

    @classmethod
    def shared(
        cls,
        flavors: Sequence[Flavor],
        api_factory: ApiFactory,
        key: Any = None,
        **kwargs: Any,
    ) -> ClusterInventory:
        """The process-wide instance for this catalog and cluster, started on first use."""
        loop = asyncio.get_running_loop()
        ns = tuple(kwargs.get("namespaces") or ())
        cache_key = (id(loop), key, tuple(flavors), ns)
        inventory = cls._shared.get(cache_key)
        if inventory is None:
            inventory = cls(flavors, api_factory, **kwargs)
            cls._shared[cache_key] = inventory
            inventory.start()
        return inventory

    @property
    def synced(self) -> bool:
        """True once nodes and pods have been listed at least once."""
        return all(e.is_set() for e in self._synced.values())

    async def wait_synced(self, seconds: float | None = None) -> bool:
        """Wait for the first full list; False on timeout."""
        try:
            async with asyncio.timeout(seconds):
                for event in self._synced.values():
                    await event.wait()
        except TimeoutError:
            return False
        return True

    def start(self) -> None:
        """Start the node and pod loops (idempotent)."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._loop("nodes"), name="accelhub-inventory-nodes"),
            asyncio.create_task(self._loop("pods"), name="accelhub-inventory-pods"),
        ]

    async def stop(self) -> None:
        """Stop watching and drop this instance from the shared cache."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        for key, value in list(self._shared.items()):
            if value is self:
                del self._shared[key]

    def counts(self, slug: str) -> FlavorCounts:
        """Counts of one flavor, from memory."""
        return self.state.counts(slug)

    def all_counts(self) -> dict[str, FlavorCounts]:
        """Counts of every flavor, from memory."""
        return self.state.all_counts()

    # -- list + watch ---------------------------------------------------------------------------

    def _calls(self, kind: str) -> list[Callable[..., Awaitable[Any]]]:
        api = self._api_factory()
        if kind == "nodes":
            return [api.list_node]
        if not self.namespaces:
            return [api.list_pod_for_all_namespaces]
        return [lambda ns=ns, **kw: api.list_namespaced_pod(ns, **kw) for ns in self.namespaces]

    async def _loop(self, kind: str) -> None:
        failures = 0
        while True:
            try:
                await self._list_and_watch(kind)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as err:  # any watch failure: back off, relist, resume
                while isinstance(err, ExceptionGroup) and err.exceptions:
                    err = err.exceptions[0]  # one namespace's watch failed: name its reason
                failures += 1
                self.last_error = f"{kind}: {err!r}"
                delay = min(self.backoff_max, 0.2 * 2 ** min(failures, 8))
                delay *= 0.5 + random.random() / 2
                self.log.warning(
                    "inventory %s watch failed (%s); retrying in %.1fs", kind, err, delay
                )
                await asyncio.sleep(delay)

    async def _list_and_watch(self, kind: str) -> None:
        calls = self._calls(kind)
        versions: list[str] = []
        items: list[dict[str, Any]] = []
        for call in calls:
            data = await self._read_json(
                await call(_preload_content=False, _request_timeout=self.request_timeout)
            )
            items.extend(data.get("items") or [])
            versions.append((data.get("metadata") or {}).get("resourceVersion", ""))
        if kind == "nodes":
            self.state.replace_nodes(items)
        else:
            self.state.replace_pods(items)
        self.relists += 1
        self.updated_at = time.monotonic()
        self._synced[kind].set()
        self._tell(kind, "RELISTED", {})
        async with asyncio.TaskGroup() as group:
            for call, rv in zip(calls, versions, strict=True):
                group.create_task(self._watch(kind, call, rv))

    async def _watch(self, kind: str, call: Callable[..., Awaitable[Any]], rv: str) -> None:
        """Follow one watch stream from ``rv``, renewing it; returns only to force a relist."""
        while True:
            response = await call(
                watch=True,
                resource_version=rv,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_timeout,
                _preload_content=False,
                _request_timeout=self.watch_timeout + 30,
            )
            try:
                if response.status == 410:
                    raise _Gone("watch resource version too old")
                if response.status >= 400:
                    raise RuntimeError(f"watch failed: HTTP {response.status}")
                while True:
                    line = await response.content.readline()
                    if not line:
                        break  # the server closed the stream: resume from rv
                    event = json.loads(line)
                    etype, obj = event.get("type"), event.get("object") or {}
                    if etype == "ERROR":
                        if obj.get("code") == 410:
                            raise _Gone(obj.get("message", "resource version too old"))
                        raise RuntimeError(obj.get("message") or "watch error")
                    rv = (obj.get("metadata") or {}).get("resourceVersion", rv)
                    if etype != "BOOKMARK":
                        self._apply(kind, etype, obj)
            finally:
                response.release()

    def _apply(self, kind: str, etype: str | None, obj: Mapping[str, Any]) -> None:
        if kind == "nodes":
            if etype == "DELETED":
                self.state.delete_node((obj.get("metadata") or {}).get("name", ""))
            else:
                self.state.set_node(obj)
        elif etype == "DELETED":
            self.state.delete_pod(obj)
        else:
            self.state.set_pod(obj)
        self.updated_at = time.monotonic()
        self._tell(kind, etype or "MODIFIED", obj)

    def _tell(self, kind: str, etype: str, obj: Mapping[str, Any]) -> None:
        for listener in self.listeners:
            try:
                listener(kind, etype, obj)
            except Exception:  # a listener's bug must not stop the watch
                self.log.exception("inventory listener failed")

    @staticmethod
    async def _read_json(response: Any) -> dict[str, Any]:
        try:
            if response.status == 410:
                raise _Gone("list resource version too old")
            if response.status >= 400:
                raise RuntimeError(f"list failed: HTTP {response.status}")
            data = json.loads(await response.read())
        finally:
            response.release()
        return data if isinstance(data, dict) else {}


class _Gone(Exception):
    """HTTP 410: our resourceVersion is too old; relist."""
