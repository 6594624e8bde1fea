"""`pods/exec` over WebSocket: kubectl exec, the official client's stream(),
kubernetes_asyncio's WsApiClient, and RBAC on pods/exec."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import RunningDevstack, scratch_namespace

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(devstack: RunningDevstack) -> Iterator[tuple[str, str]]:
    with scratch_namespace(devstack, "ex") as ns:
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "box"},
            "spec": {
                "terminationGracePeriodSeconds": 1,
                "containers": [
                    {
                        "name": "c",
                        "image": "python:3.12",
                        "command": [sys.executable, "-c", "import time; time.sleep(3600)"],
                        "env": [{"name": "GREETING", "value": "hello"}],
                    }
                ],
            },
        }
        devstack.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
        deadline = time.monotonic() + 30
        while "Running" not in devstack.kubectl("get", "pod", "box", "-n", ns).stdout:
            assert time.monotonic() < deadline, "pod did not start"
            time.sleep(0.2)
        yield ns, "box"


def test_kubectl_exec(devstack: RunningDevstack, running: tuple[str, str]) -> None:
    ns, pod = running
    got = devstack.kubectl(
        "exec", pod, "-n", ns, "--", "sh", "-c", "echo $GREETING; echo oops >&2; pwd"
    )
    lines = got.stdout.splitlines()
    assert lines[0] == "hello" and lines[1].endswith("/rootfs")  # the container's env and cwd
    assert got.stderr == "oops\n"
    failed = devstack.kubectl("exec", pod, "-n", ns, "--", "sh", "-c", "exit 3", check=False)
    assert failed.returncode == 3
    assert failed.stderr == "command terminated with exit code 3\n"
    piped = devstack.kubectl("exec", "-i", pod, "-n", ns, "--", "cat", input="through stdin\n")
    assert piped.stdout == "through stdin\n"
    missing = devstack.kubectl("exec", pod, "-n", ns, "--", "no-such-tool", check=False)
    assert missing.returncode != 0
    assert 'exec: "no-such-tool": executable file not found in $PATH' in missing.stderr


def test_official_client_stream(devstack: RunningDevstack, running: tuple[str, str]) -> None:
    from kubernetes import client, config
    from kubernetes.stream import stream

    ns, pod = running
    api = config.new_client_from_config(str(devstack.kubeconfig))
    core = client.CoreV1Api(api)
    out = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        ns,
        command=["sh", "-c", "echo $GREETING from stream"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert out == "hello from stream\n"


async def test_kubernetes_asyncio_ws_client(
    devstack: RunningDevstack, running: tuple[str, str]
) -> None:
    from kubernetes_asyncio import client, config
    from kubernetes_asyncio.stream import WsApiClient

    ns, pod = running
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(devstack.kubeconfig), client_configuration=cfg)
    async with WsApiClient(configuration=cfg) as ws:
        out = await client.CoreV1Api(api_client=ws).connect_get_namespaced_pod_exec(
            pod, ns, command=["echo", "async"], stderr=True, stdin=False, stdout=True, tty=False
        )
    assert out == "async\n"


def test_exec_needs_create_on_pods_exec(
    devstack: RunningDevstack, running: tuple[str, str]
) -> None:
    ns, pod = running
    devstack.kubectl("create", "serviceaccount", "viewer", "-n", ns)
    devstack.kubectl(
        "create", "rolebinding", "viewer", "--clusterrole=view",
        f"--serviceaccount={ns}:viewer", "-n", ns,
    )  # fmt: skip
    token = devstack.kubectl("create", "token", "viewer", "-n", ns).stdout.strip()
    denied = devstack.kubectl("--token", token, "exec", pod, "-n", ns, "--", "true", check=False)
    assert denied.returncode == 1
    assert (
        f'pods "{pod}" is forbidden: User "system:serviceaccount:{ns}:viewer" cannot create '
        f'resource "pods/exec" in API group "" in the namespace "{ns}"'
    ) in denied.stderr


def test_kubectl_attach_follows_new_output(devstack: RunningDevstack) -> None:
    ns = f"at-{os.urandom(3).hex()}"
    devstack.kubectl("create", "namespace", ns)
    script = (
        "import time\nfor i in range(6):\n    print('tick', i, flush=True)\n    time.sleep(0.5)\n"
    )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ticker"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "x", "command": [sys.executable, "-c", script]}],
        },
    }
    try:
        devstack.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
        devstack.kubectl("wait", "--for=condition=Ready", "pod/ticker", "-n", ns, "--timeout=30s")
        time.sleep(1)  # a tick or two go by before attaching
        got = devstack.kubectl("attach", "ticker", "-n", ns, timeout=30)
        ticks = got.stdout.splitlines()
        assert ticks and ticks[-1] == "tick 5"  # followed to the end
        assert len(ticks) < 6  # from the moment of attaching, not the whole log
    finally:
        devstack.kubectl("delete", "namespace", ns, "--wait=false", check=False)
