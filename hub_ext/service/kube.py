"""Kubernetes side of the service: capacity per flavor, reservation placeholders, reconciliation.

The cluster is seen through the same watch-fed inventory the hub uses (``hub_ext.inventory``):
taints, init containers and every namespace are counted the same way on both sides, and nothing
lists the cluster periodically. Placeholder sync runs when a lease or placeholder pod changes,
when a reservation is created, changed or cancelled, and every ``poll_seconds`` from memory (for
windows opening and closing); reconciliation runs every ``reconcile_seconds`` from memory.

Reservations are held physically by placeholder pods: one per unclaimed reserved device, at a
PriorityClass above ordinary notebook pods (so those cannot preempt them) and below the class
given to participants' pods (which preempt them). Reconciliation makes leases match the pods
that really run: pods with a lease label and no lease are adopted, leases whose pod is gone end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Float, Int, List, Unicode, default
from traitlets.config import Configurable

from ..cluster_state import PodView
from ..contract import (
    FLAVOR_LABEL,
    JOB_LABEL,
    LEASE_LABEL,
    PLACEHOLDER_LABEL,
    RESERVATION_LABEL,
    USER_LABEL,
)
from ..flavors import Flavor
from ..inventory import ClusterInventory
from .core import AdmissionCore
from .ledger import new_id
from .records import Capacity, LeaseRecord

log = logging.getLogger("accelhub.service")

USERNAME_ANNOTATION = "hub.jupyter.org/username"
SERVERNAME_ANNOTATION = "hub.jupyter.org/servername"
MANAGED_LABELS = (LEASE_LABEL, PLACEHOLDER_LABEL)


class KubeCluster(Configurable):
    """Capacity, placeholders and reconciliation, from a watch-fed ClusterInventory."""

    kubeconfig = Unicode(
        "", config=True, help="Kubeconfig file ('' = in-cluster, else $KUBECONFIG)."
    )
    namespace = Unicode(
        config=True,
        help="Namespace of the placeholder and offload pods (default: $POD_NAMESPACE, the "
        "hub pod's under z2jh, else accelhub).",
    )

    @default("namespace")
    def _default_namespace(self) -> str:
        return os.environ.get("POD_NAMESPACE") or "accelhub"

    poll_seconds = Float(
        3.0,
        config=True,
        help="Longest pause between placeholder syncs (from memory; lease and placeholder pod "
        "events and reservation changes start one at once).",
    )
    reconcile_seconds = Float(30.0, config=True, help="Interval of lease reconciliation.")
    sync_timeout = Float(
        60.0, config=True, help="Seconds start-up waits for the inventory's first list."
    )
    bind_grace_seconds = Int(
        60,
        config=True,
        help="Leases with no pod for this long after they start end (at the next reconcile). "
        "The spawner creates the pod seconds after the grant and releases a lease it no "
        "longer needs, so this only ends leases whose spawner died or lost the grant.",
    )
    placeholder_priority_class = Unicode(
        "accelhub-hold", config=True, help="PriorityClass of reservation placeholders."
    )
    placeholder_priority = Int(
        5000, config=True, help="Its value: above ordinary notebook pods, below participants."
    )
    reserved_priority = Int(
        10000, config=True, help="Value of the participants' PriorityClass if it is created."
    )
    placeholder_image = Unicode("busybox:1.36", config=True, help="Image of placeholder pods.")
    placeholder_command = List(
        Unicode(), ["sleep", "2147483647"], config=True, help="Command of placeholder pods."
    )

    def __init__(self, flavors: Mapping[str, Flavor], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flavors = flavors
        self.core: AdmissionCore | None = None
        self.api: client.ApiClient | None = None
        self.inventory: ClusterInventory | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        """Connect, ensure the PriorityClasses, and wait for the inventory's first list."""
        if self.kubeconfig:
            await config.load_kube_config(config_file=self.kubeconfig)
        else:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                await config.load_kube_config()
        self.api = client.ApiClient()
        await self._ensure_priority_classes()
        api = client.CoreV1Api(self.api)
        self.inventory = ClusterInventory(
            self.flavors.values(),
            lambda: api,
            managed_labels=(*MANAGED_LABELS, JOB_LABEL),
            indexed_labels=MANAGED_LABELS,
            parent=self,
        )
        self.inventory.listeners.append(self._on_change)
        self.inventory.start()
        if not await self.inventory.wait_synced(self.sync_timeout):
            raise RuntimeError(
                f"the cluster inventory did not list nodes and pods in {self.sync_timeout:g}s "
                f"({self.inventory.last_error or 'no answer'})"
            )

    def attach(self, core: AdmissionCore) -> None:
        """Start placeholder sync and reconciliation once the admission core exists."""
        self.core = core
        core.on_reservation_change.append(lambda _: self._wake.set())
        self._tasks.append(asyncio.create_task(self._placeholder_loop()))
        self._tasks.append(asyncio.create_task(self._loop(self.reconcile_seconds, self.reconcile)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.inventory is not None:
            await self.inventory.stop()
        if self.api is not None:
            await self.api.close()

    def _on_change(self, kind: str, etype: str, obj: Mapping[str, Any]) -> None:
        """Wake the placeholder sync when a lease or placeholder pod changes, or after a relist."""
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if etype == "RELISTED" or any(k in labels for k in MANAGED_LABELS):
            self._wake.set()

    async def _placeholder_loop(self) -> None:
        while True:
            woken = asyncio.ensure_future(self._wake.wait())
            try:  # not wait_for: on Python 3.11 it swallows a stop() that comes with a wake
                await asyncio.wait([woken], timeout=self.poll_seconds)
            finally:
                woken.cancel()
            if self._wake.is_set():
                await asyncio.sleep(0.1)  # one sync for a burst of events
            self._wake.clear()
            try:
                await self.sync_placeholders()
            except Exception:
                log.exception("placeholder sync failed")

    async def _loop(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("cluster job %s failed", job.__name__)

    async def _ensure_priority_classes(self) -> None:
        api: Any = client.SchedulingV1Api(self.api)
        reserved = getattr(self.parent, "reserved_priority_class", "accelhub-reserved")
        wanted = [
            (
                self.placeholder_priority_class,
                self.placeholder_priority,
                "Never",
                "accelhub reservation placeholders",
            ),
            (
                reserved,
                self.reserved_priority,
                "PreemptLowerPriority",
                "pods of hackathon participants (preempt placeholders)",
            ),
        ]
        for name, value, policy, description in wanted:
            if not name:
                continue
            body = {
                "apiVersion": "scheduling.k8s.io/v1",
                "kind": "PriorityClass",
                "metadata": {"name": name},
                "value": value,
                "preemptionPolicy": policy,
                "description": description,
            }
            try:
                await api.create_priority_class(body)
            except ApiException as error:
                if error.status != 409:
                    log.warning("could not create PriorityClass %s: %s", name, error.reason)

    # -- capacity ---------------------------------------------------------------------

    def capacity(self, flavor: str) -> Capacity | None:
        """Devices of an accelerated flavor where its pods can run (labels, taints, cordons),
        and those held by pods that are neither leased nor placeholders; None for cpu flavors."""
        spec = self.flavors.get(flavor)
        if self.inventory is None or spec is None or spec.resource is None:
            return None
        counts = self.inventory.counts(flavor)
        return Capacity(total=counts.capacity, external_used=counts.external)

    def _pods(self, label: str) -> list[PodView]:
        return self.inventory.state.labelled(label) if self.inventory is not None else []

    # -- placeholders -----------------------------------------------------------------

    def _placeholder(self, reservation_id: str, flavor: Flavor) -> dict[str, Any]:
        state = self.inventory.state if self.inventory is not None else None
        placement = state.choose_placement(flavor, 1) if state else flavor.placements[0]
        resource = placement.resource
        assert resource is not None
        container: dict[str, Any] = {
            "name": "hold",
            "image": self.placeholder_image,
            "resources": {
                "requests": {resource: "1", "cpu": "1m", "memory": "8Mi"},
                "limits": {resource: "1", "memory": "16Mi"},
            },
        }
        if self.placeholder_command:
            container["command"] = list(self.placeholder_command)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"accelhub-hold-{reservation_id[-10:]}-{new_id()[-8:]}",
                "labels": {PLACEHOLDER_LABEL: reservation_id, FLAVOR_LABEL: flavor.slug},
            },
            "spec": {
                "priorityClassName": self.placeholder_priority_class,
                "nodeSelector": dict(placement.node_selector),
                "tolerations": list(flavor.tolerations),
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": False,
                "containers": [container],
            },
        }

    async def sync_placeholders(self) -> None:
        """One placeholder per reserved device not yet taken by a participant's running pod.

        Reads the inventory; what it creates or deletes is applied to the inventory at once, so
        the next sync does not act twice before the watch reports it.
        """
        if self.core is None or self.inventory is None:
            return
        async with self._lock:
            core, state = self.core, self.inventory.state
            now = core.clock()
            wanted: dict[str, int] = {}
            for res in core.ledger.reservations.values():
                flavor = self.flavors.get(res.flavor)
                if not res.active(now) or flavor is None or flavor.resource is None:
                    continue
                size = await core.reservation_size(res)
                bound = sum(
                    lease.count
                    for lease in core.ledger.leases.values()
                    if lease.reservation_id == res.id and lease.pod
                )
                wanted[res.id] = max(size - bound, 0)
            existing: dict[str, list[PodView]] = {}
            for pod in self._pods(PLACEHOLDER_LABEL):
                if pod.live:
                    existing.setdefault((pod.labels or {})[PLACEHOLDER_LABEL], []).append(pod)
            core_api: Any = client.CoreV1Api(self.api)
            for rid in set(existing) | set(wanted):
                have = existing.get(rid, [])
                want = wanted.get(rid, 0)
                if len(have) > want:
                    have.sort(key=lambda p: p.node is not None)  # pending ones hold nothing
                    for pod in have[: len(have) - want]:
                        with contextlib.suppress(ApiException):
                            await core_api.delete_namespaced_pod(
                                pod.name, pod.namespace, grace_period_seconds=0
                            )
                        state.delete_pod(pod.key)
                elif len(have) < want:
                    flavor = self.flavors[core.ledger.reservations[rid].flavor]
                    for _ in range(want - len(have)):
                        try:
                            created = await core_api.create_namespaced_pod(
                                self.namespace, self._placeholder(rid, flavor)
                            )
                        except ApiException as error:
                            log.warning("could not create a placeholder: %s", error.reason)
                            break
                        obj = self.api.sanitize_for_serialization(created) if self.api else {}
                        key = f"{created.metadata.namespace}/{created.metadata.name}"
                        if key not in state.pods:
                            state.set_pod(obj)

    # -- reconciliation ---------------------------------------------------------------

    async def reconcile(self) -> None:
        """Make leases match pods: adopt unknown leased pods, end leases whose pod is gone."""
        if self.core is None:
            return
        core = self.core
        now = core.clock()
        live: dict[str, PodView] = {}
        for pod in self._pods(LEASE_LABEL):
            if pod.live:
                live[(pod.labels or {})[LEASE_LABEL]] = pod
        for lease_id, pod in live.items():
            lease = core.ledger.leases.get(lease_id)
            if lease is None:
                adopted = self._lease_from_pod(lease_id, pod)
                if adopted is not None:
                    log.info("adopting lease %s of running pod %s", lease_id, pod.name)
                    await core.adopt(adopted)
            elif not lease.pod:
                await core.bind(lease_id, pod.namespace, pod.name)
        grace = timedelta(seconds=self.bind_grace_seconds)
        for lease in list(core.ledger.leases.values()):
            if lease.id in live:
                continue
            if lease.pod:
                await core.release(
                    lease.id, "server_stopped", "The server's pod is no longer running."
                )
            elif lease.expires_at is None and now - lease.started_at > grace:
                await core.release(lease.id, "unclaimed", "No pod claimed the lease in time.")

    def _lease_from_pod(self, lease_id: str, pod: PodView) -> LeaseRecord | None:
        labels, annotations = pod.labels or {}, pod.annotations or {}
        slug = labels.get(FLAVOR_LABEL, "")
        flavor = self.flavors.get(slug)
        if flavor is None:
            return None
        count = max(pod.requests.get(p.resource, 0) if p.resource else 0 for p in flavor.placements)
        started = (
            datetime.fromisoformat(pod.created.replace("Z", "+00:00"))
            if pod.created
            else datetime.now(UTC)
        )
        reservation = labels.get(RESERVATION_LABEL)
        return LeaseRecord(
            id=lease_id,
            user=annotations.get(USERNAME_ANNOTATION) or labels.get(USER_LABEL, ""),
            server=annotations.get(SERVERNAME_ANNOTATION, ""),
            flavor=slug,
            count=max(count, 1) if flavor.resource else count,
            group=None,
            reservation_id=reservation
            if reservation in (self.core.ledger.reservations if self.core else {})
            else None,
            started_at=started,
            namespace=pod.namespace,
            pod=pod.name,
            bound_at=started,
        )
