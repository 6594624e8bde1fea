"""The Kubernetes side against devstack: capacity, placeholder pods that participants preempt,
refusal of outsiders while the cluster is full, and reconciliation after a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio import client, config
from sqlalchemy.ext.asyncio import AsyncEngine

from hub_ext.contract import PLACEHOLDER_LABEL
from hub_ext.service.core import AdmissionCore
from hub_ext.service.kube import KubeCluster
from hub_ext.service.ledger import Grant, Refusal
from hub_ext.service.records import LeaseRecord
from tests.devstack.conftest import RunningDevstack
from tests.service.helpers import T4, lease_pod
from tests.service.kube_service import hold_for_hack, own_devstack, start_service

pytestmark = pytest.mark.integration

CLUSTER = """
name: accelhub-service-test
namespaces: [accelhub, users]
priorityClasses:
  - {name: interactive, value: 1000, description: "notebook sessions"}
nodes:
  - name: t4-1
    capacity: {cpu: "32", memory: 256Gi, ephemeral-storage: 1Ti, pods: "110"}
    allocatable: {cpu: "30", memory: 256Gi}
    labels: {accelhub.infn.it/accelerator: t4}
    gpus:
      - {model: t4, uuid: GPU-00000000-0000-0000-0000-000000000001}
      - {model: t4, uuid: GPU-00000000-0000-0000-0000-000000000002}
      - {model: t4, uuid: GPU-00000000-0000-0000-0000-000000000003}
      - {model: t4, uuid: GPU-00000000-0000-0000-0000-000000000004}
  - name: cpu-1
    capacity: {cpu: "32", memory: 128Gi, ephemeral-storage: 1Ti, pods: "110"}
    allocatable: {cpu: "30", memory: 128Gi}
"""
GROUPS = {"hack": ["h1", "h2"], "physics": ["ada", "bob", "cy", "dora"]}
QUOTAS = {
    "physics": {"t4": {"devices": 10, "per_user": 1}},
    "hack": {"t4": {"devices": 0, "per_user": 1}},
}


@pytest.fixture(scope="module")
def small_devstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    with own_devstack(tmp_path_factory, "svc-devstack", CLUSTER) as ds:
        yield ds


async def make(
    engine: AsyncEngine,
    ds: RunningDevstack,
    bind_grace_seconds: int = 3600,
    poll_seconds: float = 0.5,
) -> tuple[AdmissionCore, KubeCluster]:
    return await start_service(
        engine,
        ds,
        {"t4": T4},
        QUOTAS,
        GROUPS,
        poll_seconds=poll_seconds,
        bind_grace_seconds=bind_grace_seconds,
    )


def pod_body(lease: LeaseRecord, priority: str | None) -> dict[str, Any]:
    """A lease's pod under a fresh name (the devstack outlives each test)."""
    return lease_pod(lease, T4, priority, name=f"jupyter-{lease.user}-{uuid.uuid4().hex[:6]}")


def unadmitted(lease_id: str, user: str) -> LeaseRecord:
    """A lease the service never granted, for pods that skip admission."""
    return LeaseRecord(lease_id, user, "", "t4", 1, None, None, datetime.now(UTC))


async def wait_for(predicate: Any, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.3)
    raise AssertionError("condition not met in time")


async def admin_client(ds: RunningDevstack) -> client.ApiClient:
    """The devstack admin's client: the tests play the hub's part (user pods in `users`)."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(ds.kubeconfig), client_configuration=cfg)
    return client.ApiClient(cfg)


async def pods(cluster: KubeCluster, selector: str, namespace: str | None = None) -> list[Any]:
    api: Any = client.CoreV1Api(cluster.api)
    if namespace:
        return list((await api.list_namespaced_pod(namespace, label_selector=selector)).items)
    return list((await api.list_pod_for_all_namespaces(label_selector=selector)).items)


async def test_placeholders_follow_a_reservation_extended_and_shrunk(
    small_devstack: RunningDevstack, store: AsyncEngine
) -> None:
    """No sync is called here and the periodic one is an hour away: the change itself wakes it."""
    core, cluster = await make(store, small_devstack, poll_seconds=3600)
    now = datetime.now(UTC)
    try:
        res = await core.create_reservation(
            "grow", "hack", "t4", 1, False, now, now + timedelta(hours=1), "org"
        )

        def holding(count: int) -> Any:
            async def check() -> bool:
                held = await pods(cluster, f"{PLACEHOLDER_LABEL}={res.id}", "accelhub")
                live = [p for p in held if p.metadata.deletion_timestamp is None]
                return len(live) == count

            return check

        await wait_for(holding(1))
        await core.update_reservation(res.id, count=3, end=now + timedelta(hours=2), by="org")
        await wait_for(holding(3))
        await core.update_reservation(res.id, count=2, by="org")
        await wait_for(holding(2))
        # not open yet
        await core.update_reservation(res.id, start=now + timedelta(hours=1), by="org")
        await wait_for(holding(0))
        await core.delete_reservation(res.id, by="org")
    finally:
        await cluster.stop()


async def test_reservation_held_by_placeholders_participant_preempts_outsider_refused(
    small_devstack: RunningDevstack, store: AsyncEngine
) -> None:
    core, cluster = await make(store, small_devstack)
    admin = await admin_client(small_devstack)
    api: Any = client.CoreV1Api(admin)
    try:
        assert cluster.capacity("t4").total == 4  # type: ignore[union-attr]
        res = await hold_for_hack(core, cluster, "t4")

        async def two_holding() -> bool:
            held = await pods(cluster, f"{PLACEHOLDER_LABEL}={res.id}", "accelhub")
            return sum(1 for p in held if p.status.phase == "Running") == 2

        await wait_for(two_holding)
        # Two devices are free for everyone else: ada and bob take them with real pods.
        for user in ("ada", "bob"):
            granted = await core.admit(user, "", "t4", 1)
            assert isinstance(granted, Grant)
            body = pod_body(granted.lease, "interactive")
            await api.create_namespaced_pod("users", body)
            await core.bind(granted.lease.id, "users", body["metadata"]["name"])
        # The cluster is now full: an outsider is refused, naming the reservation.
        outsider = await core.admit("cy", "", "t4", 1)
        assert isinstance(outsider, Refusal) and outsider.reason == "reservation"
        # An outsider's pod that skips admission cannot preempt the placeholders either.
        sneaky = pod_body(unadmitted("x" * 32, "cy"), "interactive")
        sneaky["metadata"]["labels"] = {"app": "sneaky"}
        await api.create_namespaced_pod("users", sneaky)
        # A participant is granted and their pod preempts a placeholder.
        granted = await core.admit("h1", "", "t4", 1)
        assert isinstance(granted, Grant) and granted.lease.reservation_id == res.id
        body = pod_body(granted.lease, "accelhub-reserved")
        await api.create_namespaced_pod("users", body)

        async def participant_running() -> bool:
            pod = await api.read_namespaced_pod(body["metadata"]["name"], "users")
            return pod.status.phase == "Running"

        await wait_for(participant_running, 45)
        await core.bind(granted.lease.id, "users", body["metadata"]["name"])
        sneaky_pod = await api.read_namespaced_pod(sneaky["metadata"]["name"], "users")
        assert sneaky_pod.status.phase == "Pending"
        await cluster.sync_placeholders()
        held = [
            p
            for p in await pods(cluster, f"{PLACEHOLDER_LABEL}={res.id}", "accelhub")
            if p.metadata.deletion_timestamp is None and p.status.phase == "Running"
        ]
        assert len(held) == 1
        # The reservation ends: its placeholders go away.
        await core.delete_reservation(res.id, by="org")
        await cluster.sync_placeholders()

        async def none_holding() -> bool:
            held = await pods(cluster, f"{PLACEHOLDER_LABEL}={res.id}", "accelhub")
            return not [p for p in held if p.metadata.deletion_timestamp is None]

        await wait_for(none_holding)
        await api.delete_namespaced_pod(sneaky["metadata"]["name"], "users", grace_period_seconds=0)
    finally:
        await cluster.stop()
        await admin.close()


async def test_restart_reconciles_leases_with_running_pods(
    small_devstack: RunningDevstack, store: AsyncEngine
) -> None:
    core, cluster = await make(store, small_devstack)
    admin = await admin_client(small_devstack)
    api: Any = client.CoreV1Api(admin)
    kept = await core.admit("ada", "kept", "t4", 1)
    gone = await core.admit("bob", "gone", "t4", 1)
    assert isinstance(kept, Grant) and isinstance(gone, Grant)
    kept_pod = pod_body(kept.lease, None)
    gone_pod = pod_body(gone.lease, None)
    for body in (kept_pod, gone_pod):
        await api.create_namespaced_pod("users", body)
    await core.bind(kept.lease.id, "users", kept_pod["metadata"]["name"])
    await core.bind(gone.lease.id, "users", gone_pod["metadata"]["name"])
    await cluster.stop()
    # While the service is down: one server stops, and a pod appears whose lease is unknown.
    await api.delete_namespaced_pod(gone_pod["metadata"]["name"], "users", grace_period_seconds=0)
    orphan = pod_body(unadmitted(uuid.uuid4().hex, "cy"), None)
    await api.create_namespaced_pod("users", orphan)

    async def gone_deleted() -> bool:
        names = {p.metadata.name for p in await pods(cluster2_probe, "accelhub.io/lease")}
        return gone_pod["metadata"]["name"] not in names

    reborn, cluster2_probe = await make(store, small_devstack)
    try:
        await wait_for(gone_deleted)
        await reborn.load()
        await cluster2_probe.reconcile()
        active = {(lease.user, lease.server) for lease in reborn.ledger.leases.values()}
        assert ("ada", "kept") in active
        assert ("bob", "gone") not in active
        assert ("cy", "") in active  # adopted from the running pod
        ended = await reborn.find_lease(gone.lease.id)
        assert ended is not None and ended.end_reason == "server_stopped"
    finally:
        for body in (kept_pod, orphan):
            await api.delete_namespaced_pod(
                body["metadata"]["name"], "users", grace_period_seconds=0
            )
        await cluster2_probe.stop()
        await admin.close()


def test_unbound_leases_end_after_a_minute_by_default() -> None:
    assert KubeCluster(flavors={}).bind_grace_seconds == 60


async def test_a_lease_no_pod_claims_ends_after_the_bind_grace(
    small_devstack: RunningDevstack, store: AsyncEngine
) -> None:
    """The service's half of a spawn that dies between grant and pod (issue 18 item 3).

    Its user holds nothing else: the module's store and cluster outlive each test, and an
    earlier test's lease may still be ending when this one starts."""
    core, cluster = await make(store, small_devstack, bind_grace_seconds=1)
    try:
        orphan = await core.admit("dora", "orphan", "t4", 1)
        assert isinstance(orphan, Grant)
        await cluster.reconcile()
        assert orphan.lease.id in core.ledger.leases  # still inside its grace
        await asyncio.sleep(1.5)
        await cluster.reconcile()
        assert orphan.lease.id not in core.ledger.leases
        ended = await core.find_lease(orphan.lease.id)
        assert ended is not None and ended.end_reason == "unclaimed"
        again = await core.admit("dora", "next", "t4", 1)  # per_user 1: the device is back
        assert isinstance(again, Grant), again
        await core.release(again.lease.id, "test", "done")
    finally:
        await cluster.stop()
