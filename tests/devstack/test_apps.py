"""apps/v1 through kubectl: a Deployment makes a ReplicaSet that makes pods; rollout status,
scale, a new template, cascading deletion; ReplicationController and APIService."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import RunningDevstack, scratch_namespace

from tests.helpers.waiting import waiter

pytestmark = pytest.mark.integration
SLEEP = [sys.executable, "-c", "import time; time.sleep(3600)"]


@pytest.fixture
def ns(devstack: RunningDevstack) -> Iterator[str]:
    with scratch_namespace(devstack, "ap") as name:
        yield name


until = waiter(30.0, 0.2)


def _json(ds: RunningDevstack, *args: str) -> Any:
    return json.loads(ds.kubectl("get", *args, "-o", "json").stdout)


def _manifest(ns: str) -> str:
    container = {"name": "web", "image": "python:3.12", "command": SLEEP}
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      serviceAccountName: web
      terminationGracePeriodSeconds: 1
      containers: [{json.dumps(container)}]
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: {ns}}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: web, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: web, namespace: {ns}}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: web, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: web}}
subjects: [{{kind: ServiceAccount, name: web, namespace: {ns}}}]
"""


def _web_pods(ds: RunningDevstack, ns: str) -> list[dict[str, Any]]:
    items = _json(ds, "pods", "-n", ns, "-l", "app=web")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def test_deployment_rollout_scale_update_delete(devstack: RunningDevstack, ns: str) -> None:
    ds = devstack
    out = ds.kubectl("apply", "-f", "-", input=_manifest(ns)).stdout
    for line in (
        "deployment.apps/web created",
        "service/web created",
        "role.rbac.authorization.k8s.io/web created",
        "rolebinding.rbac.authorization.k8s.io/web created",
    ):
        assert line in out
    rollout = ds.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    assert 'deployment "web" successfully rolled out' in rollout.stdout
    [rs] = _json(ds, "replicasets", "-n", ns)["items"]
    digest = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"web-{digest}"
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    pods = _web_pods(ds, ns)
    assert len(pods) == 2
    assert all(p["metadata"]["name"].startswith(f"web-{digest}-") for p in pods)
    table = ds.kubectl("get", "deployment", "web", "-n", ns).stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "2/2", "2", "2"]
    # The pods' ServiceAccount may do what its RoleBinding grants.
    token = ds.kubectl("create", "token", "web", "-n", ns).stdout.strip()
    listed = ds.kubectl("--token", token, "get", "pods", "-n", ns, "-o", "name").stdout
    assert len(listed.split()) >= 2

    assert "scaled" in ds.kubectl("scale", "deployment/web", "--replicas=3", "-n", ns).stdout
    ds.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    assert len(_web_pods(ds, ns)) == 3
    scale = json.loads(
        ds.kubectl("get", "--raw", f"/apis/apps/v1/namespaces/{ns}/deployments/web/scale").stdout
    )
    assert scale["kind"] == "Scale" and scale["spec"]["replicas"] == 3
    assert scale["status"] == {"replicas": 3, "selector": "app=web"}

    # A new template: a new ReplicaSet takes over, the old one goes to zero.
    ds.kubectl("set", "env", "deployment/web", "COLOR=blue", "-n", ns)
    ds.kubectl("rollout", "status", "deployment/web", "-n", ns, "--timeout=60s")
    sets = {
        r["metadata"]["name"]: r["spec"]["replicas"]
        for r in _json(ds, "replicasets", "-n", ns)["items"]
    }
    assert len(sets) == 2 and sets[f"web-{digest}"] == 0 and sorted(sets.values()) == [0, 3]
    until(lambda: len(_web_pods(ds, ns)) == 3 and all(
        "COLOR" in json.dumps(p["spec"]) for p in _web_pods(ds, ns)
    ))  # fmt: skip

    ds.kubectl("delete", "deployment", "web", "-n", ns)
    until(lambda: not _json(ds, "replicasets", "-n", ns)["items"])
    until(lambda: not _web_pods(ds, ns))


def test_selector_must_match_template(devstack: RunningDevstack, ns: str) -> None:
    bad = (
        _manifest(ns)
        .split("---")[0]
        .replace("{matchLabels: {app: web}}", "{matchLabels: {app: x}}")
    )
    got = devstack.kubectl("apply", "-f", "-", input=bad, check=False)
    assert got.returncode == 1
    assert (
        'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`'
    ) in got.stderr


def test_replication_controller_and_apiservice(devstack: RunningDevstack, ns: str) -> None:
    rc = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "old", "namespace": ns},
        "spec": {
            "replicas": 2,
            "template": {
                "metadata": {"labels": {"app": "old"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "x", "command": SLEEP}],
                },
            },
        },
    }
    devstack.kubectl("apply", "-f", "-", input=json.dumps(rc))
    until(lambda: _json(devstack, "rc", "old", "-n", ns)["status"].get("readyReplicas") == 2)
    assert _json(devstack, "rc", "old", "-n", ns)["spec"]["selector"] == {"app": "old"}
    svc = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": f"v1beta1.{ns}.example.com"},
        "spec": {
            "group": f"{ns}.example.com",
            "version": "v1beta1",
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
            "service": {"name": "api", "namespace": ns},
        },
    }
    devstack.kubectl("apply", "-f", "-", input=json.dumps(svc))
    got = _json(devstack, "apiservice", f"v1beta1.{ns}.example.com")
    assert got["spec"]["service"] == {"name": "api", "namespace": ns}
    devstack.kubectl("delete", "apiservice", f"v1beta1.{ns}.example.com")


def _fitting_nodes(ds: RunningDevstack) -> set[str]:
    names = set()
    for node in _json(ds, "nodes")["items"]:
        taints = (node.get("spec") or {}).get("taints") or []
        if not [t for t in taints if t.get("effect") in ("NoSchedule", "NoExecute")]:
            names.add(node["metadata"]["name"])
    return names


def test_daemonset_one_pod_per_fitting_node(devstack: RunningDevstack, ns: str) -> None:
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "x", "command": SLEEP}],
                },
            },
        },
    }
    devstack.kubectl("apply", "-f", "-", input=json.dumps(ds))
    done = devstack.kubectl("rollout", "status", "daemonset/agent", "-n", ns, "--timeout=90s")
    assert 'daemon set "agent" successfully rolled out' in done.stdout
    pods = _json(devstack, "pods", "-n", ns, "-l", "app=agent")["items"]
    placed = [p["spec"]["nodeName"] for p in pods]
    assert sorted(placed) == sorted(_fitting_nodes(devstack))  # one each, none on tainted nodes
    status = _json(devstack, "daemonset", "agent", "-n", ns)["status"]
    assert status["desiredNumberScheduled"] == status["numberReady"] == len(placed)


def test_statefulset_ordinals_in_order_and_scale_down(devstack: RunningDevstack, ns: str) -> None:
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": ns},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{"name": "c", "image": "x", "command": SLEEP}],
                },
            },
        },
    }
    devstack.kubectl("apply", "-f", "-", input=json.dumps(sts))
    devstack.kubectl("rollout", "status", "statefulset/db", "-n", ns, "--timeout=90s")
    pods = _json(devstack, "pods", "-n", ns, "-l", "app=db")["items"]
    assert sorted(p["metadata"]["name"] for p in pods) == ["db-0", "db-1", "db-2"]
    started = {
        p["metadata"]["name"]: p["status"]["containerStatuses"][0]["state"]["running"]["startedAt"]
        for p in pods
    }
    assert started["db-0"] <= started["db-1"] <= started["db-2"]  # one after another
    assert {p["spec"]["hostname"] for p in pods} == {"db-0", "db-1", "db-2"}
    devstack.kubectl("scale", "statefulset/db", "--replicas=1", "-n", ns)

    def left() -> list[str]:
        items = _json(devstack, "pods", "-n", ns, "-l", "app=db")["items"]
        return sorted(p["metadata"]["name"] for p in items)

    until(lambda: left() == ["db-0"], 60)
