"""The scheduler controller against the real in-process ObjectStore (no HTTP, no kubelet)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from devstack.apiserver.store import ObjectStore
from devstack.controllers.scheduler import Scheduler


def node(
    name: str,
    capacity: dict[str, str],
    taints: list[dict[str, str]] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    cap = {"cpu": "8", "memory": "32Gi", "pods": "110", **capacity}
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": {"taints": taints or []},
        "status": {"capacity": cap, "allocatable": cap},
    }


def pod(name: str, requests: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "c", "image": "busybox", "resources": {"requests": requests or {}}}
            ],
            **spec,
        },
    }


@pytest.fixture
async def cluster() -> AsyncIterator[tuple[ObjectStore, Scheduler]]:
    store = ObjectStore()
    for n in (
        node("gpu-a", {"nvidia.com/gpu": "1"}),
        node("gpu-b", {"nvidia.com/gpu": "1"}),
        node(
            "vk",
            {"nvidia.com/gpu": "4"},
            [
                {
                    "key": "virtual-node.interlink/no-schedule",
                    "value": "true",
                    "effect": "NoSchedule",
                }
            ],
            {"type": "virtual-kubelet"},
        ),
    ):
        await store.create("nodes", n)
    sched = Scheduler(backoff_initial=0.05, backoff_max=0.2, retry_interval=5)
    await sched.start(store)
    yield store, sched
    await sched.stop()
    store.close()


async def until(check: Callable[[], Any], limit: float = 5.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit
    while True:
        value = check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def node_of(store: ObjectStore, name: str) -> str | None:
    return (store.get_raw("pods", name, "default").get("spec") or {}).get("nodeName")


def events(store: ObjectStore, name: str, reason: str) -> list[dict[str, Any]]:
    items, _ = store.list("events", "default")
    return [e for e in items if e["involvedObject"]["name"] == name and e["reason"] == reason]


async def test_binds_and_reports(cluster: tuple[ObjectStore, Scheduler]) -> None:
    store, _ = cluster
    await store.create("pods", pod("p1", {"nvidia.com/gpu": "1"}))
    await store.create("pods", pod("p2", {"nvidia.com/gpu": "1"}))
    await until(lambda: node_of(store, "p1") and node_of(store, "p2"))
    assert {node_of(store, "p1"), node_of(store, "p2")} == {"gpu-a", "gpu-b"}
    scheduled = events(store, "p1", "Scheduled")
    assert scheduled[0]["message"] == f"Successfully assigned default/p1 to {node_of(store, 'p1')}"
    assert scheduled[0]["source"]["component"] == "default-scheduler"

    await store.create("pods", pod("p3", {"nvidia.com/gpu": "1"}))
    failed = await until(lambda: events(store, "p3", "FailedScheduling"))
    assert failed[0]["type"] == "Warning"
    assert failed[0]["message"] == (
        "0/3 nodes are available: 1 node(s) had untolerated taint "
        "{virtual-node.interlink/no-schedule: true}, 2 Insufficient nvidia.com/gpu. "
        "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, "
        "2 No preemption victims found for incoming pod."
    )
    cond = await until(
        lambda: [
            c
            for c in store.get_raw("pods", "p3", "default")["status"].get("conditions", [])
            if c["type"] == "PodScheduled"
        ]
    )
    assert cond[0]["status"] == "False" and cond[0]["reason"] == "Unschedulable"

    # Capacity frees up: p1 completes, p3 gets its node.
    freed = node_of(store, "p1")
    await store.patch(
        "pods",
        "p1",
        {"status": {"phase": "Succeeded"}},
        "merge",
        namespace="default",
        subresource="status",
    )
    await until(lambda: node_of(store, "p3"))
    assert node_of(store, "p3") == freed
    # Retries back off: a handful of identical events aggregated into one, not a flood.
    assert len(events(store, "p3", "FailedScheduling")) == 1
    assert events(store, "p3", "FailedScheduling")[0]["count"] < 20


async def test_preemption(cluster: tuple[ObjectStore, Scheduler]) -> None:
    store, _ = cluster
    await store.create("priorityclasses", {"metadata": {"name": "high"}, "value": 1000})
    await store.create(
        "priorityclasses",
        {"metadata": {"name": "never"}, "value": 1000, "preemptionPolicy": "Never"},
    )
    for name in ("low-1", "low-2"):
        await store.create("pods", pod(name, {"nvidia.com/gpu": "1"}))
    await until(lambda: node_of(store, "low-1") and node_of(store, "low-2"))
    await store.create("pods", pod("polite", {"nvidia.com/gpu": "1"}, priorityClassName="never"))
    msg = await until(lambda: events(store, "polite", "FailedScheduling"))
    assert msg[0]["message"].endswith("preemption: not eligible due to preemptionPolicy=Never.")

    await store.create("pods", pod("vip", {"nvidia.com/gpu": "1"}, priorityClassName="high"))
    victim = await until(
        lambda: [
            n
            for n in ("low-1", "low-2")
            if store.get_raw("pods", n, "default")["metadata"].get("deletionTimestamp")
        ]
    )
    assert len(victim) == 1
    vobj = store.get_raw("pods", victim[0], "default")
    assert any(
        c["type"] == "DisruptionTarget" and c["reason"] == "PreemptionByScheduler"
        for c in vobj["status"]["conditions"]
    )
    pre = events(store, victim[0], "Preempted")
    vip_uid = store.get_raw("pods", "vip", "default")["metadata"]["uid"]
    assert pre[0]["message"] == f"Preempted by pod {vip_uid} on node {vobj['spec']['nodeName']}"
    nominated = await until(
        lambda: store.get_raw("pods", "vip", "default")["status"].get("nominatedNodeName")
    )
    assert nominated == vobj["spec"]["nodeName"]
    # The kubelet would confirm the deletion; do it here.
    await store.delete("pods", victim[0], namespace="default", grace_period_seconds=0)
    await until(lambda: node_of(store, "vip"))
    assert node_of(store, "vip") == nominated
    assert node_of(store, "polite") is None


async def test_many_pods(cluster: tuple[ObjectStore, Scheduler]) -> None:
    store, sched = cluster
    await store.create("nodes", node("big", {"cpu": "4000", "pods": "5000"}))
    for i in range(2000):
        await store.create("pods", pod(f"m{i}", {"cpu": "1"}))
    await until(
        lambda: not store.list_raw("pods", "default", field_selector="spec.nodeName=")[0], limit=60
    )
    assert not sched.pending
    used = sum(n.requested.get("cpu", 0) for n in sched.state.nodes.values())
    assert used == 2_000_000
