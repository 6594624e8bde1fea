"""The cluster inventory: a watch-driven view of nodes and pods, counted per accelerator flavor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from traitlets import Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from .flavors import Flavor
from .quantity import amount

CPU_KEY = "cpu"
TERMINAL_PHASES = ("Succeeded", "Failed")
# Taint effects that keep a pod off a node unless tolerated.
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class FlavorCounts:
    """Devices (or, for cpu flavors, whole cores) of one flavor in the cluster right now."""

    capacity: int
    allocated: int
    free: int
    pending: int
    nodes: int

    @property
    def in_use(self) -> int:
        """Devices held by pods (never more than the capacity)."""
        return min(self.allocated, self.capacity)


def tolerates(tolerations: Sequence[Mapping[str, Any]], taint: Mapping[str, Any]) -> bool:
    """Kubernetes' toleration matching, for one taint."""
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator", "Equal") == "Exists":
            if not tol.get("key") or tol.get("key") == taint.get("key"):
                return True
        elif tol.get("key") == taint.get("key") and tol.get("value", "") == taint.get("value", ""):
            return True
    return False


@dataclass
class _Node:
    name: str
    labels: dict[str, str]
    allocatable: dict[str, int]
    taints: list[dict[str, Any]]
    unschedulable: bool


@dataclass
class _Pod:
    key: str
    node: str | None
    phase: str
    requests: dict[str, int]
    node_selector: dict[str, str]


def _node_from(obj: Mapping[str, Any]) -> _Node:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    allocatable: dict[str, int] = {}
    for name, value in (status.get("allocatable") or {}).items():
        with contextlib.suppress(ValueError):
            allocatable[name] = amount(name, value)
    return _Node(
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        allocatable=allocatable,
        taints=[dict(t) for t in spec.get("taints") or []],
        unschedulable=bool(spec.get("unschedulable")),
    )


def _pod_requests(spec: Mapping[str, Any]) -> dict[str, int]:
    """Effective requests: sum over containers, max with each init container (Kubernetes rule)."""
    total: dict[str, int] = defaultdict(int)
    for container in spec.get("containers") or []:
        for name, value in _container_requests(container).items():
            total[name] += value
    for container in spec.get("initContainers") or []:
        for name, value in _container_requests(container).items():
            total[name] = max(total[name], value)
    return dict(total)


def _container_requests(container: Mapping[str, Any]) -> dict[str, int]:
    resources = container.get("resources") or {}
    merged = dict(resources.get("limits") or {})  # limits imply requests when none are given
    merged.update(resources.get("requests") or {})
    out: dict[str, int] = {}
    for name, value in merged.items():
        with contextlib.suppress(ValueError):
            out[name] = amount(name, value)
    return out


def _pod_from(obj: Mapping[str, Any]) -> _Pod:
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    return _Pod(
        key=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
        node=spec.get("nodeName") or None,
        phase=status.get("phase") or "Pending",
        requests=_pod_requests(spec),
        node_selector=dict(spec.get("nodeSelector") or {}),
    )


class InventoryState:
    """Pure accounting: nodes and pods in, per-flavor counts out, updated incrementally.

    Every event costs O(flavors); reading all counts costs O(flavors).
    """

    def __init__(self, flavors: Iterable[Flavor]) -> None:
        self.flavors: dict[str, Flavor] = {f.slug: f for f in flavors}
        self.nodes: dict[str, _Node] = {}
        self.pods: dict[str, _Pod] = {}
        self._pods_on: dict[str, set[str]] = defaultdict(set)
        self._node_part: dict[str, dict[str, tuple[int, int]]] = {}  # node -> slug -> (cap, nodes)
        self._pod_part: dict[str, dict[str, tuple[int, int]]] = {}  # pod -> slug -> (alloc, pend)
        self._used: dict[str, dict[str, int]] = defaultdict(dict)  # node -> slug -> allocated
        self._capacity: dict[str, int] = defaultdict(int)
        self._nodes: dict[str, int] = defaultdict(int)
        self._allocated: dict[str, int] = defaultdict(int)
        self._pending: dict[str, int] = defaultdict(int)
        self._free: dict[str, int] = defaultdict(int)
        self.generation = 0

    @staticmethod
    def resource_of(flavor: Flavor) -> str:
        """The resource counted for a flavor: its extended resource, or cpu."""
        return flavor.resource or CPU_KEY

    def node_matches(self, flavor: Flavor, node: _Node) -> bool:
        """Whether a pod of this flavor could land on the node (labels, taints, cordon)."""
        if node.unschedulable:
            return False
        if any(node.labels.get(k) != v for k, v in flavor.node_selector.items()):
            return False
        if self.resource_of(flavor) not in node.allocatable:
            return False
        return all(
            tolerates(flavor.tolerations, taint)
            for taint in node.taints
            if taint.get("effect") in BLOCKING_EFFECTS
        )

    @staticmethod
    def pending_matches(flavor: Flavor, pod: _Pod) -> bool:
        """Whether an unbound pod competes for this flavor's devices."""
        return all(flavor.node_selector.get(k, v) == v for k, v in pod.node_selector.items())

    # -- nodes ---------------------------------------------------------------------------------

    def set_node(self, obj: Mapping[str, Any]) -> None:
        """Add or update a node from its API object."""
        node = _node_from(obj)
        pods = self._detach_node(node.name)
        self.nodes[node.name] = node
        part: dict[str, tuple[int, int]] = {}
        for slug, flavor in self.flavors.items():
            if self.node_matches(flavor, node):
                part[slug] = (node.allocatable.get(self.resource_of(flavor), 0), 1)
        self._node_part[node.name] = part
        for slug, (cap, count) in part.items():
            self._capacity[slug] += cap
            self._nodes[slug] += count
            self._free[slug] += cap
        for pod in pods:
            self._apply_pod(pod)
        self.generation += 1

    def delete_node(self, name: str) -> None:
        """Forget a node (its pods stay, counted nowhere, until they go)."""
        pods = self._detach_node(name)
        self.nodes.pop(name, None)
        for pod in pods:
            self._apply_pod(pod)
        self.generation += 1

    def _detach_node(self, name: str) -> list[_Pod]:
        """Take a node and its pods out of the totals; return the pods to re-apply."""
        pods = [self.pods[k] for k in list(self._pods_on.get(name, ())) if k in self.pods]
        for pod in pods:
            self._retract_pod(pod)
        for slug, (cap, count) in self._node_part.pop(name, {}).items():
            self._capacity[slug] -= cap
            self._nodes[slug] -= count
            self._free[slug] -= cap
        self._used.pop(name, None)
        return pods

    def _node_cap(self, node: str, slug: str) -> int:
        return self._node_part.get(node, {}).get(slug, (0, 0))[0]

    # -- pods ----------------------------------------------------------------------------------

    def set_pod(self, obj: Mapping[str, Any]) -> None:
        """Add or update a pod from its API object."""
        self._apply_pod(_pod_from(obj))
        self.generation += 1

    def delete_pod(self, obj_or_key: Mapping[str, Any] | str) -> None:
        """Forget a pod (by API object or ``namespace/name``)."""
        key = obj_or_key if isinstance(obj_or_key, str) else _pod_from(obj_or_key).key
        old = self.pods.pop(key, None)
        if old is not None:
            self._retract_pod(old)
        self.generation += 1

    def _apply_pod(self, pod: _Pod) -> None:
        old = self.pods.get(pod.key)
        if old is not None:
            self._retract_pod(old)
        self.pods[pod.key] = pod
        part: dict[str, tuple[int, int]] = {}
        if pod.phase not in TERMINAL_PHASES:
            for slug, flavor in self.flavors.items():
                amount = pod.requests.get(self.resource_of(flavor), 0)
                if amount <= 0:
                    continue
                if pod.node is not None:
                    if slug in self._node_part.get(pod.node, {}):
                        part[slug] = (amount, 0)
                elif self.pending_matches(flavor, pod):
                    part[slug] = (0, amount)
        self._pod_part[pod.key] = part
        if pod.node is not None:
            self._pods_on[pod.node].add(pod.key)
        for slug, (alloc, pend) in part.items():
            self._allocated[slug] += alloc
            self._pending[slug] += pend
            if alloc and pod.node is not None:
                self._add_used(pod.node, slug, alloc)

    def _retract_pod(self, pod: _Pod) -> None:
        for slug, (alloc, pend) in self._pod_part.pop(pod.key, {}).items():
            self._allocated[slug] -= alloc
            self._pending[slug] -= pend
            if alloc and pod.node is not None:
                self._add_used(pod.node, slug, -alloc)
        if pod.node is not None:
            self._pods_on[pod.node].discard(pod.key)

    def _add_used(self, node: str, slug: str, delta: int) -> None:
        used_by_slug = self._used.setdefault(node, {})
        before = used_by_slug.get(slug, 0)
        cap = self._node_cap(node, slug)
        self._free[slug] -= max(cap - before, 0)
        used_by_slug[slug] = before + delta
        self._free[slug] += max(cap - before - delta, 0)

    # -- bulk ----------------------------------------------------------------------------------

    def replace_nodes(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every node (after a list)."""
        fresh = {(o.get("metadata") or {}).get("name", ""): o for o in objs}
        for name in list(self.nodes):
            if name not in fresh:
                self.delete_node(name)
        for obj in fresh.values():
            self.set_node(obj)

    def replace_pods(self, objs: Iterable[Mapping[str, Any]]) -> None:
        """Replace every pod (after a list)."""
        fresh = {_pod_from(o).key: o for o in objs}
        for key in list(self.pods):
            if key not in fresh:
                self.delete_pod(key)
        for obj in fresh.values():
            self.set_pod(obj)

    # -- reads ---------------------------------------------------------------------------------

    def counts(self, slug: str) -> FlavorCounts:
        """Capacity, allocated, free and pending demand of one flavor (cpu: whole cores)."""
        flavor = self.flavors.get(slug)
        scale = 1000 if flavor is not None and flavor.resource is None else 1
        return FlavorCounts(
            capacity=self._capacity[slug] // scale,
            allocated=self._allocated[slug] // scale,
            free=self._free[slug] // scale,
            pending=self._pending[slug] // scale,
            nodes=self._nodes[slug],
        )

    def all_counts(self) -> dict[str, FlavorCounts]:
        """Counts of every flavor."""
        return {slug: self.counts(slug) for slug in self.flavors}


ApiFactory = Callable[[], Any]


class ClusterInventory(LoggingConfigurable):
    """One shared list+watch of nodes and pods per hub process, feeding an InventoryState."""

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

    def __init__(self, flavors: Iterable[Flavor], api_factory: ApiFactory, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.state = InventoryState(flavors)
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
            await asyncio.wait_for(
                asyncio.gather(*(e.wait() for e in self._synced.values())), seconds
            )
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
