"""The devstack scheduler: binds pending pods, explains failures, preempts, retries."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.meta import timestamp
from devstack.controllers.events import record_event
from devstack.controllers.informer import Informer, Obj, obj_key
from devstack.controllers.scheduling.cluster import ClusterState, Decision
from devstack.controllers.scheduling.messages import prefilter_error
from devstack.controllers.scheduling.model import PodView
from devstack.controllers.scheduling.predicates import Code
from devstack.controllers.scheduling.priority import (
    resolve_preemption_policy,
    resolve_priority,
)
from devstack.controllers.scheduling.volumes import claims_problem

log = logging.getLogger(__name__)
SCHEDULER_NAME = "default-scheduler"


@dataclass
class _Pending:
    """A pod waiting for a node, with its retry state."""

    obj: Obj
    attempts: int = 0
    not_before: float = 0.0
    parked: bool = False
    retry_nodes: frozenset[str] = field(default_factory=frozenset)
    last_message: str = ""


class Scheduler:
    """Watches pods, nodes, PriorityClasses and claims and binds pods like kube-scheduler.

    Failed pods back off (`backoff_initial` doubling up to `backoff_max` seconds) and
    wait for a cluster change that may help them (a node added or changed, a pod
    leaving a node they failed on for lack of resources); every `retry_interval`
    seconds all waiting pods are retried anyway.
    """

    def __init__(
        self,
        *,
        scheduler_name: str = SCHEDULER_NAME,
        backoff_initial: float = 1.0,
        backoff_max: float = 10.0,
        retry_interval: float = 60.0,
    ) -> None:
        self.scheduler_name = scheduler_name
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.retry_interval = retry_interval
        self.state = ClusterState()
        self.pending: dict[str, _Pending] = {}
        self.classes: dict[str, Obj] = {}
        self.store: Any = None
        self._heap: list[tuple[int, str, int, str]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._informers: list[Informer] = []
        self._storage_classes: Informer | None = None
        self._claims: Informer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self, store: Any) -> None:
        """List and watch, then start the scheduling loop."""
        self.store = store
        self._storage_classes = Informer(store, "storageclasses", self._on_claims)
        self._claims = Informer(store, "persistentvolumeclaims", self._on_claims)
        self._informers = [
            Informer(store, "priorityclasses", self._on_class),
            Informer(store, "nodes", self._on_node),
            Informer(store, "pods", self._on_pod),
            self._storage_classes,
            self._claims,
        ]
        for inf in self._informers:
            inf.start()
            await inf.synced.wait()
        self._tasks = [
            asyncio.create_task(self._loop(), name="scheduler-loop"),
            asyncio.create_task(self._periodic(), name="scheduler-retry"),
        ]

    async def stop(self) -> None:
        """Stop every task and watch."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for inf in self._informers:
            await inf.stop()

    # -- watch handlers ----------------------------------------------------------------
    def _on_class(self, etype: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            self.classes.pop(name, None)
        else:
            self.classes[name] = obj

    def _on_claims(self, etype: str, obj: Obj) -> None:
        """A claim was bound (or a class changed): pods waiting on claims may fit now."""
        if self.pending:
            self._requeue_parked(None)

    def _claims_problem(self, obj: Obj) -> str | None:
        if self._claims is None or not (obj.get("spec") or {}).get("volumes"):
            return None
        classes = self._storage_classes.objects if self._storage_classes else {}
        return claims_problem(obj, self._claims.objects, classes)

    def _on_node(self, etype: str, obj: Obj) -> None:
        name = obj["metadata"]["name"]
        if etype == "DELETED":
            self.state.remove_node(name)
            return
        before = self.state.nodes.get(name)
        snapshot = (
            None
            if before is None
            else (before.labels, before.taints, before.unschedulable, before.allocatable)
        )
        info = self.state.upsert_node(obj)
        if snapshot != (info.labels, info.taints, info.unschedulable, info.allocatable):
            self._requeue_parked(None)

    def _view(self, obj: Obj) -> PodView:
        view = PodView.from_pod(obj, resolve_priority(obj, self.classes))
        view.preemption_policy = resolve_preemption_policy(obj, self.classes)
        return view

    def _ours(self, obj: Obj) -> bool:
        spec = obj.get("spec") or {}
        return (spec.get("schedulerName") or SCHEDULER_NAME) == self.scheduler_name

    def _on_pod(self, etype: str, obj: Obj) -> None:
        key = obj_key(obj)
        spec = obj.get("spec") or {}
        if etype == "DELETED":
            self._drop_pending(key)
            was_bound = key in self.state.pod_nodes
            node = self.state.pod_nodes.get(key)
            self.state.forget_pod(key)
            if was_bound:
                self._requeue_parked(node)
            return
        if spec.get("nodeName"):
            self._drop_pending(key)
            view = self._view(obj)
            node = self.state.pod_nodes.get(key)
            self.state.account_pod(view)
            if view.terminal and node is not None:
                self._requeue_parked(node)
            return
        if not self._ours(obj) or obj["metadata"].get("deletionTimestamp"):
            self._drop_pending(key)
            return
        nominated = (obj.get("status") or {}).get("nominatedNodeName")
        if nominated and key not in self.state.nominations:
            self.state.nominate(self._view(obj), nominated)  # e.g. after a restart
        entry = self.pending.get(key)
        if entry is None:
            self.pending[key] = _Pending(obj)
            self._push(key)
        else:
            entry.obj = obj

    def _drop_pending(self, key: str) -> None:
        self.pending.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    # -- queue -------------------------------------------------------------------------
    def _push(self, key: str) -> None:
        entry = self.pending.get(key)
        if entry is None:
            return
        entry.parked = False
        delay = entry.not_before - time.monotonic()
        if delay > 0:
            if key not in self._timers:
                self._timers[key] = asyncio.get_running_loop().call_later(
                    delay, self._timer_fired, key
                )
            return
        priority = resolve_priority(entry.obj, self.classes)
        created = entry.obj["metadata"].get("creationTimestamp") or ""
        self._seq += 1
        heapq.heappush(self._heap, (-priority, created, self._seq, key))
        self._wake.set()

    def _timer_fired(self, key: str) -> None:
        self._timers.pop(key, None)
        entry = self.pending.get(key)
        if entry is not None and not entry.parked:
            self._push(key)

    def _requeue_parked(self, node: str | None) -> None:
        """Move waiting pods a change may help back to the queue."""
        for key, entry in self.pending.items():
            if entry.parked and (node is None or node in entry.retry_nodes):
                self._push(key)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.retry_interval)
            self._requeue_parked(None)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            done = 0
            while self._heap:
                _, _, _, key = heapq.heappop(self._heap)
                entry = self.pending.get(key)
                if entry is None or entry.parked or key in self._timers:
                    continue
                if entry.not_before > time.monotonic():
                    self._push(key)
                    continue
                try:
                    await self._attempt(key, entry)
                except Exception:
                    log.exception("scheduling %s failed", key)
                    self._fail_later(entry, frozenset())
                done += 1
                if done % 20 == 0:
                    await asyncio.sleep(0)

    # -- one attempt -------------------------------------------------------------------
    async def _attempt(self, key: str, entry: _Pending) -> None:
        problem = self._claims_problem(entry.obj)
        if problem is not None:
            await self._report_failure(entry, prefilter_error(len(self.state.nodes), problem))
            self._fail_later(entry, frozenset())
            return
        view = self._view(entry.obj)
        decision = self.state.schedule(view)
        if decision.node is not None:
            await self._bind(key, entry, view, decision.node)
            return
        if decision.victims and decision.nominate:
            await self._preempt(entry.obj, view, decision)
        retry = frozenset(
            name for name, status in decision.statuses.items() if status.code is Code.UNSCHEDULABLE
        )
        if decision.nominate:
            retry = retry | {decision.nominate}
        await self._report_failure(entry, decision.message)
        self._fail_later(entry, retry)

    def _fail_later(self, entry: _Pending, retry: frozenset[str]) -> None:
        entry.attempts += 1
        backoff = min(self.backoff_initial * 2 ** (entry.attempts - 1), self.backoff_max)
        entry.not_before = time.monotonic() + backoff
        entry.parked = True
        entry.retry_nodes = retry

    async def _bind(self, key: str, entry: _Pending, view: PodView, node: str) -> None:
        md = entry.obj["metadata"]
        try:
            bound = await self.store.bind_pod(md["namespace"], md["name"], node)
        except ApiError as exc:
            log.info("binding %s to %s failed: %s", key, node, exc)
            if exc.status == 404:
                self._drop_pending(key)
            else:
                self._fail_later(entry, frozenset(self.state.nodes))
            return
        self._drop_pending(key)
        view.node_name = node
        self.state.account_pod(view)
        await record_event(
            self.store,
            bound,
            "Scheduled",
            f"Successfully assigned {md['namespace']}/{md['name']} to {node}",
            source_component=self.scheduler_name,
        )

    async def _report_failure(self, entry: _Pending, message: str) -> None:
        md = entry.obj["metadata"]
        conditions = (entry.obj.get("status") or {}).get("conditions") or []
        current = next((c for c in conditions if c.get("type") == "PodScheduled"), None)
        if current is None or current.get("message") != message or current.get("status") != "False":
            cond = {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": message,
                "lastProbeTime": None,
                "lastTransitionTime": timestamp(),
            }
            others = [c for c in conditions if c.get("type") != "PodScheduled"]
            with contextlib.suppress(ApiError):
                updated = await self.store.patch(
                    "pods",
                    md["name"],
                    {"status": {"conditions": [*others, cond]}},
                    "merge",
                    namespace=md["namespace"],
                    subresource="status",
                )
                entry.obj = updated
        await record_event(
            self.store,
            entry.obj,
            "FailedScheduling",
            message,
            type="Warning",
            source_component=self.scheduler_name,
        )
        entry.last_message = message

    async def _preempt(self, obj: Obj, view: PodView, decision: Decision) -> None:
        node = decision.nominate or ""
        for victim in decision.victims:
            await self._evict(victim, view, node)
        self.state.nominate(view, node)
        md = obj["metadata"]
        with contextlib.suppress(ApiError):
            await self.store.patch(
                "pods",
                md["name"],
                {"status": {"nominatedNodeName": node}},
                "merge",
                namespace=md["namespace"],
                subresource="status",
            )

    async def _evict(self, victim: PodView, preemptor: PodView, node: str) -> None:
        try:
            current = await self.store.get("pods", victim.name, namespace=victim.namespace)
        except ApiError:
            return
        if current["metadata"].get("deletionTimestamp"):
            return
        conditions = [
            c
            for c in (current.get("status") or {}).get("conditions") or []
            if c.get("type") != "DisruptionTarget"
        ]
        conditions.append(
            {
                "type": "DisruptionTarget",
                "status": "True",
                "reason": "PreemptionByScheduler",
                "message": (
                    f"{self.scheduler_name}: preempting to accommodate a higher priority pod"
                ),
                "lastProbeTime": None,
                "lastTransitionTime": timestamp(),
            }
        )
        with contextlib.suppress(ApiError):
            await self.store.patch(
                "pods",
                victim.name,
                {"status": {"conditions": conditions}},
                "merge",
                namespace=victim.namespace,
                subresource="status",
            )
        await record_event(
            self.store,
            current,
            "Preempted",
            f"Preempted by pod {preemptor.uid} on node {node}",
            source_component=self.scheduler_name,
        )
        with contextlib.suppress(ApiError):
            await self.store.delete("pods", victim.name, namespace=victim.namespace)
