"""Lists and watches through kubernetes_asyncio: resume, 410 recovery, selectors, bookmarks."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from conftest import RunningDevstack, start_devstack, stop_devstack
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException


def _pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "w"}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


@pytest.fixture
async def core(devstack_api: RunningDevstack) -> AsyncIterator[client.CoreV1Api]:
    cfg = client.Configuration()
    await config.load_kube_config(
        config_file=str(devstack_api.kubeconfig), client_configuration=cfg
    )
    async with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


async def _collect(
    core: client.CoreV1Api,
    namespace: str,
    n: int,
    **kw: Any,
) -> list[tuple[str, str, str]]:
    """The first n events as (type, name, resourceVersion)."""
    out: list[tuple[str, str, str]] = []
    w = watch.Watch()
    async with asyncio.timeout(10):
        async for ev in w.stream(core.list_namespaced_pod, namespace, **kw):
            raw = ev["raw_object"]
            out.append(
                (ev["type"], raw["metadata"].get("name", ""), raw["metadata"]["resourceVersion"])
            )
            if len(out) >= n:
                w.stop()
                break
    return out


async def test_list_is_typed_and_versioned(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(3):
        await core.create_namespaced_pod(namespace, _pod(f"p{i}", {"i": str(i)}))
    pods = await core.list_namespaced_pod(namespace)
    assert [p.metadata.name for p in pods.items] == ["p0", "p1", "p2"]
    assert int(pods.metadata.resource_version) >= int(pods.items[-1].metadata.resource_version)
    page = await core.list_namespaced_pod(namespace, limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = await core.list_namespaced_pod(namespace, limit=2, _continue=page.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["p2"]
    assert rest.metadata._continue is None
    sel = await core.list_pod_for_all_namespaces(
        label_selector="i notin (0,1)", field_selector=f"metadata.namespace={namespace}"
    )
    assert [p.metadata.name for p in sel.items] == ["p2"]


async def test_watch_initial_then_live(core: client.CoreV1Api, namespace: str) -> None:
    await core.create_namespaced_pod(namespace, _pod("a"))
    task = asyncio.create_task(_collect(core, namespace, 3, resource_version="0"))
    await asyncio.sleep(0.3)
    await core.create_namespaced_pod(namespace, _pod("b"))
    await core.delete_namespaced_pod("a", namespace)
    events = await task
    assert [(t, n) for t, n, _ in events] == [("ADDED", "a"), ("ADDED", "b"), ("DELETED", "a")]


async def test_watch_resumes_from_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    pods = await core.list_namespaced_pod(namespace)
    rv = pods.metadata.resource_version
    await core.create_namespaced_pod(namespace, _pod("r1"))
    await core.patch_namespaced_pod("r1", namespace, {"metadata": {"labels": {"x": "1"}}})
    await core.create_namespaced_pod(namespace, _pod("r2"))
    events = await _collect(core, namespace, 3, resource_version=rv)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "r1"), ("MODIFIED", "r1"), ("ADDED", "r2")]
    rvs = [int(r) for _, _, r in events]
    assert rvs == sorted(rvs) and rvs[0] > int(rv)
    # Resuming from the middle replays only what came after.
    later = await _collect(core, namespace, 1, resource_version=str(rvs[1]))
    assert later[0][:2] == ("ADDED", "r2")


@pytest.fixture(scope="module")
def small_history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """A devstack that keeps only 20 watch events per resource."""
    ds = start_devstack(
        tmp_path_factory.mktemp("small") / "state",
        "none",
        None,
        "--history-size",
        "20",
        "--bookmark-interval",
        "0.3",
    )
    yield ds
    stop_devstack(ds)


@pytest.fixture
async def small_core(small_history: RunningDevstack) -> AsyncIterator[client.CoreV1Api]:
    cfg = client.Configuration()
    await config.load_kube_config(
        config_file=str(small_history.kubeconfig), client_configuration=cfg
    )
    async with client.ApiClient(cfg) as api:
        yield client.CoreV1Api(api)


async def test_too_old_resource_version_is_410(small_core: client.CoreV1Api) -> None:
    core, namespace = small_core, "default"
    await core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "churn"}, "data": {"n": "0"}}
    )
    first = await core.read_namespaced_config_map("churn", namespace)
    old_rv = first.metadata.resource_version
    for i in range(30):
        await core.patch_namespaced_config_map("churn", namespace, {"data": {"n": str(i)}})
    w = watch.Watch()
    with pytest.raises(ApiException) as info:
        async with asyncio.timeout(10):
            async for _ev in w.stream(
                core.list_namespaced_config_map, namespace, resource_version=old_rv
            ):
                pass
    assert info.value.status == 410
    assert "too old resource version" in str(info.value.reason)
    # Recovery as reflectors do it: re-list, then watch from the list's version.
    fresh = await core.list_namespaced_config_map(namespace)
    assert fresh.items[0].data["n"] == "29"
    task = asyncio.create_task(
        asyncio.wait_for(
            _first_event(
                core.list_namespaced_config_map, namespace, fresh.metadata.resource_version
            ),
            10,
        )
    )
    await asyncio.sleep(0.2)
    await core.patch_namespaced_config_map("churn", namespace, {"data": {"n": "again"}})
    ev = await task
    assert ev["type"] == "MODIFIED" and ev["raw_object"]["data"]["n"] == "again"


async def _first_event(fn: Any, namespace: str, rv: str) -> dict[str, Any]:
    w = watch.Watch()
    async for ev in w.stream(fn, namespace, resource_version=rv):
        w.stop()
        return dict(ev)
    raise AssertionError("watch ended without events")


async def test_selector_transitions(core: client.CoreV1Api, namespace: str) -> None:
    pods = await core.list_namespaced_pod(namespace)
    task = asyncio.create_task(
        _collect(
            core,
            namespace,
            3,
            label_selector="role=gpu",
            resource_version=pods.metadata.resource_version,
        )
    )
    await asyncio.sleep(0.3)
    await core.create_namespaced_pod(namespace, _pod("s1", {"role": "cpu"}))
    await core.patch_namespaced_pod("s1", namespace, {"metadata": {"labels": {"role": "gpu"}}})
    await core.patch_namespaced_pod("s1", namespace, {"metadata": {"labels": {"x": "y"}}})
    await core.patch_namespaced_pod("s1", namespace, {"metadata": {"labels": {"role": "cpu"}}})
    events = await task
    # Entering the selection is ADDED, leaving it is DELETED, like a real server.
    assert [t for t, _, _ in events] == ["ADDED", "MODIFIED", "DELETED"]


async def test_field_selector_watch_on_node_name(core: client.CoreV1Api, namespace: str) -> None:
    pods = await core.list_namespaced_pod(namespace)
    task = asyncio.create_task(
        _collect(
            core,
            namespace,
            1,
            field_selector="spec.nodeName=cpu-1",
            resource_version=pods.metadata.resource_version,
        )
    )
    await asyncio.sleep(0.3)
    await core.create_namespaced_pod(namespace, _pod("f1"))
    await core.create_namespaced_pod_binding(
        "f1",
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": "f1"},
            "target": {"apiVersion": "v1", "kind": "Node", "name": "cpu-1"},
        },
        _preload_content=False,
    )
    events = await task
    assert events[0][:2] == ("ADDED", "f1")
    pod = await core.read_namespaced_pod("f1", namespace)
    assert pod.spec.node_name == "cpu-1"
    assert any(c.type == "PodScheduled" and c.status == "True" for c in pod.status.conditions)


async def test_timeout_and_bookmarks(small_core: client.CoreV1Api) -> None:
    pods = await small_core.list_namespaced_pod("default")
    resp = await small_core.list_namespaced_pod(
        "default",
        watch=True,
        timeout_seconds=1,
        allow_watch_bookmarks=True,
        resource_version=pods.metadata.resource_version,
        _preload_content=False,
    )
    async with asyncio.timeout(5):
        lines = (await resp.read()).decode().strip().split("\n")
    # Bookmarks every 0.3 s, and the server ends the watch after timeoutSeconds.
    events = [json.loads(line) for line in lines]
    assert 2 <= len(events) <= 4
    assert {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["kind"] == "Pod"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(
        pods.metadata.resource_version
    )


async def test_send_initial_events(core: client.CoreV1Api, namespace: str) -> None:
    await core.create_namespaced_pod(namespace, _pod("i1"))
    resp = await core.list_namespaced_pod(
        namespace,
        watch=True,
        timeout_seconds=1,
        send_initial_events=True,
        allow_watch_bookmarks=True,
        resource_version_match="NotOlderThan",
        _preload_content=False,
    )
    async with asyncio.timeout(5):
        lines = (await resp.read()).decode().strip().split("\n")
    events = [json.loads(line) for line in lines]
    assert events[0]["type"] == "ADDED"
    assert events[1]["type"] == "BOOKMARK"
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_error_event_bytes(small_history: RunningDevstack) -> None:
    """The 410 ERROR event is Go's encoding of the Status, one line with its newline."""
    ctx = ssl.create_default_context(cafile=small_history.ca_path)
    headers = {"Authorization": f"Bearer {small_history.token}"}
    with httpx.Client(base_url=small_history.url, verify=ctx, headers=headers) as http:
        path = "/api/v1/namespaces/default/secrets"
        for i in range(25):
            http.post(path, json={"metadata": {"name": f"old-{i}"}}).raise_for_status()
        resp = http.get(path, params={"watch": "1", "resourceVersion": "1"})
    assert resp.status_code == 200
    line = resp.content
    floor = json.loads(line)["object"]["message"].rsplit("(", 1)[1].rstrip(")")
    assert (
        line
        == (
            '{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},'
            f'"status":"Failure","message":"too old resource version: 1 ({floor})",'
            '"reason":"Expired","code":410}}\n'
        ).encode()
    )
