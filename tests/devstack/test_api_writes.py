"""Writes through the official `kubernetes` client: patches, PUT conflicts, status, dry-run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import RunningDevstack
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

MERGE = "application/merge-patch+json"


@pytest.fixture(scope="module")
def api(devstack_api: RunningDevstack) -> Iterator[client.ApiClient]:
    api_client = config.new_client_from_config(config_file=str(devstack_api.kubeconfig))
    yield api_client
    api_client.close()


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


def _pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {"name": "main", "image": "busybox:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "busybox:1"},
            ]
        },
    }


def _status(exc: ApiException) -> dict[str, Any]:
    return dict(json.loads(exc.body))


def test_strategic_merge_patch_merges_containers_by_name(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_pod(namespace, _pod("smp"))
    pod = core.patch_namespaced_pod(
        "smp", namespace, {"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}}
    )
    images = {c.name: c.image for c in pod.spec.containers}
    assert images == {"main": "busybox:1", "side": "busybox:2"}
    assert pod.metadata.generation == 2
    # Tolerations have no merge key: a strategic patch replaces the list, which drops the
    # defaulted ones and is refused; appending with a JSON patch is allowed.
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_pod(
            "smp",
            namespace,
            {"spec": {"tolerations": [{"key": "k", "operator": "Exists", "effect": "NoSchedule"}]}},
        )
    assert "existing toleration can not be modified" in _status(info.value)["message"]
    pod = core.patch_namespaced_pod(
        "smp",
        namespace,
        [{"op": "add", "path": "/spec/tolerations/-", "value": {"key": "k", "operator": "Exists"}}],
    )
    assert any(t.key == "k" for t in pod.spec.tolerations)
    # `$patch: delete` of a container is forbidden by pod immutability.
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_pod(
            "smp", namespace, {"spec": {"containers": [{"name": "side", "$patch": "delete"}]}}
        )
    assert info.value.status == 422
    assert _status(info.value)["reason"] == "Invalid"


def test_strategic_merge_directives_on_configmap_like_objects(
    core: client.CoreV1Api, namespace: str
) -> None:
    svc = {
        "metadata": {"name": "svc"},
        "spec": {"ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
    }
    core.create_namespaced_service(namespace, svc)
    # ports merge by `port` (their patch-merge-key), and `$patch: delete` removes one.
    got = core.patch_namespaced_service(
        "svc",
        namespace,
        {"spec": {"ports": [{"port": 443, "$patch": "delete"}, {"port": 8080, "name": "alt"}]}},
    )
    assert sorted(p.port for p in got.spec.ports) == [80, 8080]
    got = core.patch_namespaced_service(
        "svc",
        namespace,
        {"spec": {"ports": [{"$patch": "replace"}, {"port": 9000, "name": "only"}]}},
    )
    assert [p.port for p in got.spec.ports] == [9000]
    assert got.spec.ports[0].target_port == 9000


def test_json_patch_and_merge_patch(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "jp", "labels": {"a": "1"}}, "data": {"k": "v", "list": "x"}},
    )
    got = core.patch_namespaced_config_map(
        "jp",
        namespace,
        [
            {"op": "add", "path": "/data/new", "value": "n"},
            {"op": "remove", "path": "/data/list"},
            {"op": "replace", "path": "/metadata/labels/a", "value": "2"},
            {"op": "test", "path": "/data/k", "value": "v"},
        ],
    )
    assert got.data == {"k": "v", "new": "n"} and got.metadata.labels == {"a": "2"}
    with pytest.raises(ApiException) as info:
        core.patch_namespaced_config_map(
            "jp", namespace, [{"op": "test", "path": "/data/k", "value": "other"}]
        )
    assert info.value.status == 422
    got = core.patch_namespaced_config_map(
        "jp", namespace, {"data": {"k": None, "z": "1"}}, _content_type=MERGE
    )
    assert got.data == {"new": "n", "z": "1"}


def test_put_conflict_and_unconditional_update(core: client.CoreV1Api, namespace: str) -> None:
    cm = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "put"}, "data": {"v": "1"}}
    )
    stale = cm.metadata.resource_version
    cm.data = {"v": "2"}
    updated = core.replace_namespaced_config_map("put", namespace, cm)
    assert int(updated.metadata.resource_version) > int(stale)
    cm.data = {"v": "3"}
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("put", namespace, cm)
    status = _status(info.value)
    assert info.value.status == 409 and status["reason"] == "Conflict"
    assert status["message"] == (
        'Operation cannot be fulfilled on configmaps "put": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    cm.metadata.resource_version = None
    assert core.replace_namespaced_config_map("put", namespace, cm).data == {"v": "3"}


def test_status_subresource_is_separate(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_pod(namespace, _pod("st"))
    # The main resource ignores status changes...
    pod = core.patch_namespaced_pod(
        "st", namespace, {"status": {"phase": "Running"}, "metadata": {"labels": {"l": "1"}}}
    )
    assert pod.status.phase == "Pending" and pod.metadata.labels == {"l": "1"}
    # ...and the status subresource ignores everything but status.
    pod = core.patch_namespaced_pod_status(
        "st",
        namespace,
        {
            "status": {"phase": "Running", "podIP": "127.0.0.9"},
            "spec": {"activeDeadlineSeconds": 5},
        },
    )
    assert pod.status.phase == "Running" and pod.status.pod_ip == "127.0.0.9"
    assert pod.spec.active_deadline_seconds is None
    got = core.read_namespaced_pod_status("st", namespace)
    assert got.status.phase == "Running"


def test_dry_run_and_generate_name(core: client.CoreV1Api, namespace: str) -> None:
    body = {"metadata": {"generateName": "gen-"}, "data": {"a": "b"}}
    dry = core.create_namespaced_config_map(namespace, body, dry_run="All")
    assert dry.metadata.name.startswith("gen-") and len(dry.metadata.name) == 9
    assert core.list_namespaced_config_map(namespace).items == []
    real = core.create_namespaced_config_map(namespace, body)
    assert real.metadata.uid and real.metadata.creation_timestamp
    core.delete_namespaced_config_map(real.metadata.name, namespace, dry_run="All")
    assert core.read_namespaced_config_map(real.metadata.name, namespace).data == {"a": "b"}


def test_validation_errors(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(
            namespace, {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}
        )
    status = _status(info.value)
    assert info.value.status == 422
    assert status["message"].startswith(
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid '
        'value: "Bad_Name": a lowercase RFC 1123 subdomain'
    )
    fields = {c["field"] for c in status["details"]["causes"]}
    assert fields == {"metadata.name", "spec.containers[0].image"}
    with pytest.raises(ApiException) as info:
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": "q"},
                "spec": {
                    "containers": [
                        {"name": "c", "image": "i", "resources": {"requests": {"cpu": "lots"}}}
                    ]
                },
            },
        )
    assert "quantities must match the regular expression" in _status(info.value)["message"]
    with pytest.raises(ApiException) as info:
        core.create_namespace({"metadata": {"name": "a.b"}})
    assert "a lowercase RFC 1123 label must consist of" in _status(info.value)["message"]
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map(
            namespace, {"metadata": {"name": "l", "labels": {"bad key!": "v"}}}
        )
    assert info.value.status == 422


def test_job_defaults_and_status(api: client.ApiClient, namespace: str) -> None:
    batch = client.BatchV1Api(api)
    job = batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "j"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox", "command": ["true"]}],
                    }
                }
            },
        },
    )
    uid = job.metadata.uid
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert job.spec.template.metadata.labels["job-name"] == "j"
    assert job.spec.backoff_limit == 6
    got = batch.patch_namespaced_job_status("j", namespace, {"status": {"active": 1}})
    assert got.status.active == 1
    with pytest.raises(ApiException) as info:
        batch.create_namespaced_job(
            namespace,
            {
                "metadata": {"name": "k"},
                "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "b"}]}}},
            },
        )
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Always"'
        in _status(info.value)["message"]
    )


def test_events_through_both_apis(api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api)
    core.create_namespaced_event(
        namespace,
        {
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": namespace},
            "reason": "Testing",
            "message": "hello",
            "type": "Normal",
        },
    )
    evs = core.list_namespaced_event(
        namespace, field_selector="involvedObject.name=p,reason=Testing"
    )
    assert [e.message for e in evs.items] == ["hello"]
    ev1 = client.EventsV1Api(api).list_namespaced_event(namespace)
    assert ev1.items[0].note == "hello" and ev1.items[0].regarding.name == "p"
