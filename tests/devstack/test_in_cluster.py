"""What a real cluster adds for pods that talk to the API: the root CA ConfigMap, the
ServiceAccount token volume (in-cluster config), TokenRequest, and `get svc -o wide`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
import yaml
from conftest import RunningDevstack, scratch_namespace

from tests.helpers.waiting import waiter

pytestmark = pytest.mark.integration


@pytest.fixture
def ns(devstack: RunningDevstack) -> Iterator[str]:
    with scratch_namespace(devstack, "ic") as name:
        yield name


until = waiter(20.0, 0.1)


def _root_ca(ds: RunningDevstack, ns: str) -> str | None:
    got = ds.kubectl("get", "configmap", "kube-root-ca.crt", "-n", ns, "-o", "json", check=False)
    return json.loads(got.stdout)["data"]["ca.crt"] if got.returncode == 0 else None


def test_root_ca_configmap_in_every_namespace(devstack: RunningDevstack, ns: str) -> None:
    ca = devstack.ca_path.read_text()
    assert until(lambda: _root_ca(devstack, ns)) == ca
    assert _root_ca(devstack, "default") == ca
    devstack.kubectl("delete", "configmap", "kube-root-ca.crt", "-n", ns)
    assert until(lambda: _root_ca(devstack, ns)) == ca  # the publisher puts it back


IN_CLUSTER = """
from kubernetes import client, config
config.load_incluster_config()
ns = open(config.incluster_config.SERVICE_TOKEN_FILENAME[:-5] + "namespace").read()
names = [c.metadata.name for c in client.CoreV1Api().list_namespaced_config_map(ns).items]
print(ns, sorted(names))
"""


def _let_default_view(ds: RunningDevstack, ns: str) -> None:
    ds.kubectl(
        "create", "rolebinding", "default-view", "--clusterrole=view",
        f"--serviceaccount={ns}:default", "-n", ns,
    )  # fmt: skip


def test_pod_uses_in_cluster_config(devstack: RunningDevstack, ns: str) -> None:
    _let_default_view(devstack, ns)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "client"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {"name": "c", "image": "python", "command": [sys.executable, "-c", IN_CLUSTER]}
            ],
        },
    }
    devstack.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(pod))
    spec = json.loads(devstack.kubectl("get", "pod", "client", "-n", ns, "-o", "json").stdout)
    volume = spec["spec"]["volumes"][0]
    assert volume["name"].startswith("kube-api-access-")
    sources = [next(iter(s)) for s in volume["projected"]["sources"]]
    assert sources == ["serviceAccountToken", "configMap", "downwardAPI"]
    assert spec["spec"]["containers"][0]["volumeMounts"] == [
        {
            "name": volume["name"],
            "readOnly": True,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
        }
    ]

    def done() -> str:
        got = devstack.kubectl("get", "pod", "client", "-n", ns, "-o", "json")
        return str(json.loads(got.stdout)["status"].get("phase") in ("Succeeded", "Failed"))

    until(lambda: done() == "True", 30)
    logs = devstack.kubectl("logs", "client", "-n", ns).stdout
    assert logs == f"{ns} ['kube-root-ca.crt']\n"


def test_opting_out_of_the_token_volume(devstack: RunningDevstack, ns: str) -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "quiet"}}
    sa["automountServiceAccountToken"] = False
    pods = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                **extra,
                "containers": [{"name": "c", "image": "x", "command": ["true"]}],
            },
        }
        for name, extra in (
            ("by-pod", {"automountServiceAccountToken": False}),
            ("by-sa", {"serviceAccountName": "quiet"}),
        )
    ]
    devstack.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all([sa, *pods]))
    for name in ("by-pod", "by-sa"):
        got = json.loads(devstack.kubectl("get", "pod", name, "-n", ns, "-o", "json").stdout)
        assert "volumes" not in got["spec"]


def test_token_request_and_kubectl_token(devstack: RunningDevstack, ns: str) -> None:
    _let_default_view(devstack, ns)
    token = devstack.kubectl("create", "token", "default", "-n", ns).stdout.strip()
    assert token.count(".") == 2
    got = devstack.kubectl("--token", token, "get", "serviceaccounts", "-n", ns, "-o", "name")
    assert got.stdout == "serviceaccount/default\n"
    who = devstack.kubectl("--token", token, "auth", "whoami", "-o", "json", check=False)
    if who.returncode == 0:
        info = json.loads(who.stdout)["status"]["userInfo"]
        assert info["username"] == f"system:serviceaccount:{ns}:default"
    bad = devstack.kubectl("--token", token[:-2] + "xx", "get", "pods", "-n", ns, check=False)
    assert bad.returncode == 1
    assert "error: You must be logged in to the server (Unauthorized)" in bad.stderr
    # A token outlives nothing: deleting its ServiceAccount revokes it.
    devstack.kubectl("delete", "serviceaccount", "default", "-n", ns)
    gone = devstack.kubectl("--token", token, "get", "pods", "-n", ns, check=False)
    assert "Unauthorized" in gone.stderr


def test_service_wide_columns(devstack: RunningDevstack, ns: str) -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"app": "web", "tier": "front"},
            "ports": [{"port": 80, "targetPort": 8080}, {"port": 53, "protocol": "UDP"}],
        },
    }
    devstack.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(svc))
    out = devstack.kubectl("get", "svc", "web", "-n", ns, "-o", "wide").stdout.splitlines()
    assert out[0].split() == [
        "NAME",
        "TYPE",
        "CLUSTER-IP",
        "EXTERNAL-IP",
        "PORT(S)",
        "AGE",
        "SELECTOR",
    ]
    row = out[1].split()
    assert row[:2] == ["web", "ClusterIP"]
    assert row[3:5] == ["<none>", "80/TCP,53/UDP"]
    assert row[6] == "app=web,tier=front"
    narrow = devstack.kubectl("get", "svc", "web", "-n", ns).stdout.splitlines()[0].split()
    assert narrow == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
