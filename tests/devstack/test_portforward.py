"""`pods/portforward` over WebSocket with the official client's portforward(): an HTTP
request reaches a pod's server; RBAC asks create on pods/portforward."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import RunningDevstack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web(devstack: RunningDevstack) -> Iterator[tuple[str, str]]:
    ns = f"pf-{os.urandom(3).hex()}"
    devstack.kubectl("create", "namespace", ns)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "c",
                    "image": "python:3.12",
                    "command": [sys.executable, "-m", "http.server", "8080"],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                }
            ],
        },
    }
    devstack.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    devstack.kubectl("wait", "--for=condition=Ready", "pod/web", "-n", ns, "--timeout=60s")
    yield ns, "web"
    devstack.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_official_client_portforward(devstack: RunningDevstack, web: tuple[str, str]) -> None:
    from kubernetes import client, config
    from kubernetes.stream import portforward

    ns, pod = web
    core = client.CoreV1Api(config.new_client_from_config(str(devstack.kubeconfig)))
    pf = portforward(core.connect_get_namespaced_pod_portforward, pod, ns, ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.0 200 OK")
    assert b"Directory listing" in data
    assert pf.error(8080) is None
    pf.close()


def test_portforward_needs_create(devstack: RunningDevstack, web: tuple[str, str]) -> None:
    ns, pod = web
    devstack.kubectl("create", "serviceaccount", "viewer", "-n", ns)
    devstack.kubectl(
        "create", "rolebinding", "viewer", "--clusterrole=view",
        f"--serviceaccount={ns}:viewer", "-n", ns,
    )  # fmt: skip
    token = devstack.kubectl("create", "token", "viewer", "-n", ns).stdout.strip()
    denied = devstack.kubectl(
        "--token", token, "port-forward", f"pod/{pod}", "18080:8080", "-n", ns,
        check=False, timeout=20,
    )  # fmt: skip
    assert denied.returncode == 1
    assert (
        f'pods "{pod}" is forbidden: User "system:serviceaccount:{ns}:viewer" cannot create '
        f'resource "pods/portforward" in API group "" in the namespace "{ns}"'
    ) in denied.stderr
