"""`pods/portforward` over WebSocket with the official client's portforward() and with
`kubectl port-forward` (SPDY/3.1 tunnelled in the WebSocket): an HTTP request reaches a
pod's server; RBAC asks create on pods/portforward."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from conftest import RunningDevstack, kubectl_path, scratch_namespace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def web(devstack: RunningDevstack) -> Iterator[tuple[str, str]]:
    with scratch_namespace(devstack, "pf") as ns:
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_kubectl_port_forward(devstack: RunningDevstack, web: tuple[str, str]) -> None:
    ns, pod = web
    local = free_port()
    proc = subprocess.Popen(
        [kubectl_path(), "port-forward", f"pod/{pod}", f"{local}:8080", "-n", ns],
        env=devstack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == f"Forwarding from 127.0.0.1:{local} -> 8080\n"
        for path in ("/", "/?again"):  # one connection each: two request ids in one session
            with urllib.request.urlopen(f"http://127.0.0.1:{local}{path}", timeout=10) as resp:
                assert resp.status == 200
                assert b"Directory listing" in resp.read()
        assert proc.poll() is None
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert "error" not in err.lower(), err


def test_kubectl_port_forward_closed_port(devstack: RunningDevstack, web: tuple[str, str]) -> None:
    """Nothing listens on the pod's port 9: the dial error reaches kubectl on the error stream."""
    ns, pod = web
    local = free_port()
    proc = subprocess.Popen(
        [kubectl_path(), "port-forward", f"pod/{pod}", f"{local}:9", "-n", ns],
        env=devstack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == f"Forwarding from 127.0.0.1:{local} -> 9\n"
        with socket.create_connection(("127.0.0.1", local), timeout=10) as sock:
            assert sock.recv(1024) == b""
        time.sleep(0.5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    ip = devstack.kubectl("get", "pod", pod, "-n", ns, "-o", "jsonpath={.status.podIP}").stdout
    assert f"error forwarding port 9 to pod: dial tcp {ip}:9: connect: connection refused" in err
    assert "lost connection to pod" in err


def test_kubectl_plain_spdy_refused(devstack: RunningDevstack, web: tuple[str, str]) -> None:
    """Without the WebSocket tunnel kubectl upgrades to SPDY directly: refused in words."""
    ns, pod = web
    env = {**devstack.env, "KUBECTL_PORT_FORWARD_WEBSOCKETS": "false"}
    done = subprocess.run(
        [kubectl_path(), "port-forward", f"pod/{pod}", f"{free_port()}:8080", "-n", ns],
        env=env, capture_output=True, text=True, timeout=20, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "devstack serves pods/portforward over WebSocket only" in done.stderr, done.stderr
