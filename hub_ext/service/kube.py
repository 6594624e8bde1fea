"""Kubernetes side of the service: capacity per flavor, reservation placeholders, reconciliation.

Reservations are held physically by placeholder pods: one per unclaimed reserved device, at a
PriorityClass above ordinary notebook pods (so those cannot preempt them) and below the class
given to participants' pods (which preempt them). Reconciliation makes leases match the pods
that really run: pods with a lease label and no lease are adopted, leases whose pod is gone end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from traitlets import Float, Int, List, Unicode
from traitlets.config import Configurable

from .core import AdmissionCore
from .ledger import new_id
from .records import Capacity, FlavorLike, Lease
from .shape import FLAVOR_LABEL, LEASE_LABEL, PLACEHOLDER_LABEL, RESERVATION_LABEL, USER_LABEL

log = logging.getLogger("accelhub.service")

USERNAME_ANNOTATION = "hub.jupyter.org/username"
SERVERNAME_ANNOTATION = "hub.jupyter.org/servername"
TERMINAL = ("Succeeded", "Failed")


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0


def _requests(pod: Mapping[str, Any], resource: str) -> int:
    total = 0
    for container in pod.get("spec", {}).get("containers") or []:
        res = container.get("resources") or {}
        amount = (res.get("limits") or {}).get(resource) or (res.get("requests") or {}).get(
            resource
        )
        total += _quantity(amount) if amount is not None else 0
    return total


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


class KubeCluster(Configurable):
    """Capacity, placeholders and reconciliation through kubernetes_asyncio."""

    kubeconfig = Unicode(
        "", config=True, help="Kubeconfig file ('' = in-cluster, else $KUBECONFIG)."
    )
    namespace = Unicode("accelhub", config=True, help="Namespace of the placeholder pods.")
    poll_seconds = Float(3.0, config=True, help="Interval of the cluster snapshot refresh.")
    reconcile_seconds = Float(30.0, config=True, help="Interval of lease reconciliation.")
    bind_grace_seconds = Int(
        300, config=True, help="Leases with no pod for this long after they start end."
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

    def __init__(self, flavors: Mapping[str, FlavorLike], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flavors = flavors
        self.core: AdmissionCore | None = None
        self.api: client.ApiClient | None = None
        self.snapshot: dict[str, Capacity] = {}
        self.pods: list[dict[str, Any]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    # -- life cycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self.kubeconfig:
            await config.load_kube_config(config_file=self.kubeconfig)
        else:
            try:
                config.load_incluster_config()
            except config.ConfigException:
                await config.load_kube_config()
        self.api = client.ApiClient()
        await self._ensure_priority_classes()
        await self.refresh()

    def attach(self, core: AdmissionCore) -> None:
        """Start the periodic work once the admission core exists."""
        self.core = core
        self._tasks.append(asyncio.create_task(self._loop(self.poll_seconds, self._poll)))
        self._tasks.append(asyncio.create_task(self._loop(self.reconcile_seconds, self.reconcile)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.api is not None:
            await self.api.close()

    async def _loop(self, seconds: float, job: Any) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("cluster job %s failed", job.__name__)

    async def _poll(self) -> None:
        await self.refresh()
        await self.sync_placeholders()

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

    async def refresh(self) -> None:
        """Re-read nodes and pods; recompute capacity per flavor."""
        core_api: Any = client.CoreV1Api(self.api)
        nodes = await core_api.list_node(_preload_content=False)
        pods = await core_api.list_pod_for_all_namespaces(_preload_content=False)
        node_items = json.loads(await nodes.read())["items"]
        pod_items = json.loads(await pods.read())["items"]
        self.pods = pod_items
        labels_by_node = {
            n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in node_items
        }
        snapshot: dict[str, Capacity] = {}
        for slug, flavor in self.flavors.items():
            if flavor.resource is None:
                continue
            matching = {
                n["metadata"]["name"]
                for n in node_items
                if _matches(labels_by_node[n["metadata"]["name"]], flavor.node_selector)
                and not n.get("spec", {}).get("unschedulable")
            }
            total = sum(
                _quantity((n.get("status", {}).get("allocatable") or {}).get(flavor.resource, 0))
                for n in node_items
                if n["metadata"]["name"] in matching
            )
            external = 0
            for pod in pod_items:
                labels = pod["metadata"].get("labels") or {}
                if LEASE_LABEL in labels or PLACEHOLDER_LABEL in labels:
                    continue
                if pod.get("status", {}).get("phase") in TERMINAL:
                    continue
                if pod.get("spec", {}).get("nodeName") not in matching:
                    continue
                external += _requests(pod, flavor.resource)
            snapshot[slug] = Capacity(total=total, external_used=external)
        self.snapshot = snapshot

    def capacity(self, flavor: str) -> Capacity | None:
        return self.snapshot.get(flavor)

    # -- placeholders -----------------------------------------------------------------

    def _placeholder(self, reservation_id: str, flavor: FlavorLike) -> dict[str, Any]:
        assert flavor.resource is not None
        container: dict[str, Any] = {
            "name": "hold",
            "image": self.placeholder_image,
            "resources": {
                "requests": {flavor.resource: "1", "cpu": "1m", "memory": "8Mi"},
                "limits": {flavor.resource: "1", "memory": "16Mi"},
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
                "nodeSelector": dict(flavor.node_selector),
                "tolerations": list(flavor.tolerations),
                "terminationGracePeriodSeconds": 0,
                "automountServiceAccountToken": False,
                "containers": [container],
            },
        }

    async def sync_placeholders(self) -> None:
        """One placeholder per reserved device not yet taken by a participant's running pod."""
        if self.core is None:
            return
        async with self._lock:
            core = self.core
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
            existing: dict[str, list[dict[str, Any]]] = {}
            for pod in self.pods:
                rid = (pod["metadata"].get("labels") or {}).get(PLACEHOLDER_LABEL)
                if (
                    rid
                    and not pod["metadata"].get("deletionTimestamp")
                    and pod.get("status", {}).get("phase") not in TERMINAL
                ):
                    existing.setdefault(rid, []).append(pod)
            core_api: Any = client.CoreV1Api(self.api)
            for rid in set(existing) | set(wanted):
                have = existing.get(rid, [])
                want = wanted.get(rid, 0)
                if len(have) > want:
                    # Pending ones first: they hold nothing.
                    have.sort(key=lambda p: bool(p.get("spec", {}).get("nodeName")))
                    for pod in have[: len(have) - want]:
                        with contextlib.suppress(ApiException):
                            await core_api.delete_namespaced_pod(
                                pod["metadata"]["name"],
                                pod["metadata"]["namespace"],
                                grace_period_seconds=0,
                            )
                elif len(have) < want:
                    res = core.ledger.reservations[rid]
                    flavor = self.flavors[res.flavor]
                    for _ in range(want - len(have)):
                        try:
                            await core_api.create_namespaced_pod(
                                self.namespace, self._placeholder(rid, flavor)
                            )
                        except ApiException as error:
                            log.warning("could not create a placeholder: %s", error.reason)
                            break
            if existing or wanted:
                await self.refresh()

    # -- reconciliation ---------------------------------------------------------------

    async def reconcile(self) -> None:
        """Make leases match pods: adopt unknown leased pods, end leases whose pod is gone."""
        if self.core is None:
            return
        await self.refresh()
        core = self.core
        now = core.clock()
        live: dict[str, dict[str, Any]] = {}
        for pod in self.pods:
            labels = pod["metadata"].get("labels") or {}
            lease_id = labels.get(LEASE_LABEL)
            if not lease_id or pod.get("status", {}).get("phase") in TERMINAL:
                continue
            if pod["metadata"].get("deletionTimestamp"):
                continue
            live[lease_id] = pod
        for lease_id, pod in live.items():
            lease = core.ledger.leases.get(lease_id)
            meta = pod["metadata"]
            if lease is None:
                adopted = self._lease_from_pod(lease_id, pod)
                if adopted is not None:
                    log.info("adopting lease %s of running pod %s", lease_id, meta["name"])
                    await core.adopt(adopted)
            elif not lease.pod:
                await core.bind(lease_id, meta["namespace"], meta["name"])
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

    def _lease_from_pod(self, lease_id: str, pod: dict[str, Any]) -> Lease | None:
        meta = pod["metadata"]
        labels = meta.get("labels") or {}
        annotations = meta.get("annotations") or {}
        slug = labels.get(FLAVOR_LABEL, "")
        flavor = self.flavors.get(slug)
        if flavor is None:
            return None
        count = _requests(pod, flavor.resource) if flavor.resource else 0
        created = meta.get("creationTimestamp")
        started = (
            datetime.fromisoformat(created.replace("Z", "+00:00")) if created else datetime.now(UTC)
        )
        reservation = labels.get(RESERVATION_LABEL)
        return Lease(
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
            namespace=meta.get("namespace"),
            pod=meta.get("name"),
            bound_at=started,
        )
