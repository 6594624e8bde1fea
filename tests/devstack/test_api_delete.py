"""Deletion: graceful pods, finalizers, owner-reference GC, namespaces, deletecollection."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import RunningDevstack
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException


@pytest.fixture(scope="module")
def core(devstack_api: RunningDevstack) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(devstack_api.kubeconfig))
    yield client.CoreV1Api(api_client)
    api_client.close()


def _wait(pred: Callable[[], bool], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def _gone(fn: Callable[..., Any], *args: Any) -> bool:
    try:
        fn(*args)
    except ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def _owned_pod(name: str, owner: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": owner.metadata.name,
                    "uid": owner.metadata.uid,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


def test_graceful_pod_deletion(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(
        namespace,
        {
            "metadata": {"name": "g"},
            "spec": {
                "nodeName": "cpu-1",
                "terminationGracePeriodSeconds": 20,
                "containers": [{"name": "c", "image": "busybox"}],
            },
        },
    )
    pod = core.delete_namespaced_pod("g", namespace)
    assert pod.metadata.deletion_timestamp is not None
    assert pod.metadata.deletion_grace_period_seconds == 20
    still = core.read_namespaced_pod("g", namespace)
    assert still.metadata.deletion_grace_period_seconds == 20
    # A shorter grace period wins; 0 is the kubelet's confirmation.
    core.delete_namespaced_pod("g", namespace, grace_period_seconds=5)
    assert core.read_namespaced_pod("g", namespace).metadata.deletion_grace_period_seconds == 5
    core.delete_namespaced_pod("g", namespace, body=client.V1DeleteOptions(grace_period_seconds=0))
    assert _gone(core.read_namespaced_pod, "g", namespace)
    # Unscheduled pods go at once.
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "u"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
    )
    core.delete_namespaced_pod("u", namespace)
    assert _gone(core.read_namespaced_pod, "u", namespace)


def test_finalizers_hold_objects(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "fin", "finalizers": ["example.com/hold"]}}
    )
    core.delete_namespaced_config_map("fin", namespace)
    held = core.read_namespaced_config_map("fin", namespace)
    assert held.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map(
            "fin", namespace, {"metadata": {"finalizers": ["example.com/hold", "example.com/more"]}}
        )
    assert info.value.status == 422
    core.patch_namespaced_config_map(
        "fin",
        namespace,
        {"metadata": {"finalizers": None}},
        _content_type="application/merge-patch+json",
    )
    assert _gone(core.read_namespaced_config_map, "fin", namespace)


def test_owner_reference_gc_background(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner-bg"}})
    for i in range(3):
        core.create_namespaced_pod(namespace, _owned_pod(f"dep-bg-{i}", owner))
    core.delete_namespaced_config_map("owner-bg", namespace, propagation_policy="Background")
    _wait(lambda: not core.list_namespaced_pod(namespace).items)


def test_owner_reference_gc_foreground(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner-fg"}})
    core.create_namespaced_pod(
        namespace,
        {
            **_owned_pod("dep-fg", owner),
            "spec": {"nodeName": "cpu-2", "containers": [{"name": "c", "image": "busybox"}]},
        },
    )
    core.delete_namespaced_config_map("owner-fg", namespace, propagation_policy="Foreground")
    held = core.read_namespaced_config_map("owner-fg", namespace)
    assert "foregroundDeletion" in held.metadata.finalizers
    dep = core.read_namespaced_pod("dep-fg", namespace)
    assert dep.metadata.deletion_timestamp is not None
    # The "kubelet" confirms; then the owner goes too.
    core.delete_namespaced_pod("dep-fg", namespace, grace_period_seconds=0)
    _wait(lambda: _gone(core.read_namespaced_config_map, "owner-fg", namespace))


def test_owner_reference_orphan(core: client.CoreV1Api, namespace: str) -> None:
    owner = core.create_namespaced_config_map(namespace, {"metadata": {"name": "owner-or"}})
    core.create_namespaced_pod(namespace, _owned_pod("dep-or", owner))
    core.delete_namespaced_config_map("owner-or", namespace, propagation_policy="Orphan")
    time.sleep(0.2)
    dep = core.read_namespaced_pod("dep-or", namespace)
    assert dep.metadata.owner_references is None


def test_namespace_deletion_cascades(core: client.CoreV1Api) -> None:
    ns = f"casc-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": ns}})
    assert core.read_namespace(ns).metadata.labels == {"kubernetes.io/metadata.name": ns}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a"}})
    core.create_namespaced_config_map(
        ns, {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    )
    core.create_namespaced_pod(
        ns, {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    )
    core.delete_namespace(ns)
    assert core.read_namespace(ns).status.phase == "Terminating"
    _wait(lambda: [c.metadata.name for c in core.list_namespaced_config_map(ns).items] == ["held"])
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "late"}})
    assert info.value.status == 403
    assert json.loads(info.value.body)["message"] == (
        f'configmaps "late" is forbidden: unable to create new content in namespace {ns} '
        f"because it is being terminated"
    )
    core.patch_namespaced_config_map(
        "held", ns, {"metadata": {"finalizers": None}}, _content_type="application/merge-patch+json"
    )
    _wait(lambda: _gone(core.read_namespace, ns))
    with pytest.raises(ApiException) as info:
        core.delete_namespace("default")
    assert info.value.status == 403


def test_delete_collection(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(4):
        core.create_namespaced_config_map(
            namespace,
            {"metadata": {"name": f"c{i}", "labels": {"batch": "odd" if i % 2 else "even"}}},
        )
    core.delete_collection_namespaced_config_map(namespace, label_selector="batch=odd")
    names = [c.metadata.name for c in core.list_namespaced_config_map(namespace).items]
    assert names == ["c0", "c2"]


def test_delete_preconditions(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "pre"}})
    with pytest.raises(ApiException) as info:
        core.delete_namespaced_config_map(
            "pre",
            namespace,
            body=client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid")),
        )
    assert info.value.status == 409
    assert (
        "Precondition failed: UID in precondition: not-the-uid"
        in json.loads(info.value.body)["message"]
    )
