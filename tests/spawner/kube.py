"""Small helpers that put device-holding pods into devstack with kubectl."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.devstack.conftest import RunningDevstack


def hold_devices(
    ds: RunningDevstack,
    namespace: str,
    name: str,
    resource: str,
    count: int,
    node_selector: dict[str, str] | None = None,
    priority_class: str = "interactive",
) -> None:
    """Create a sleeping pod that holds ``count`` of ``resource`` (at notebook priority, so
    notebooks do not preempt it)."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"test": "holder"}},
        "spec": {
            "restartPolicy": "Never",
            "priorityClassName": priority_class,
            "nodeSelector": node_selector or {},
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sleep", "3600"],
                    "resources": {
                        "limits": {resource: str(count)},
                        "requests": {resource: str(count)},
                    },
                }
            ],
        },
    }
    ds.kubectl("apply", "-f", "-", input=json.dumps(pod))


def release(ds: RunningDevstack, namespace: str, name: str) -> None:
    """Delete a holder pod at once."""
    ds.kubectl(
        "delete", "pod", "-n", namespace, name, "--grace-period=0", "--wait=false", check=False
    )


def get_pod(ds: RunningDevstack, namespace: str, name: str) -> dict[str, Any]:
    """A pod as JSON."""
    out = ds.kubectl("get", "pod", "-n", namespace, name, "-o", "json").stdout
    data: dict[str, Any] = json.loads(out)
    return data


def wait_phase(
    ds: RunningDevstack, namespace: str, name: str, phase: str, timeout: float = 30
) -> dict[str, Any]:
    """Wait until a pod reaches ``phase``."""
    deadline = time.monotonic() + timeout
    pod: dict[str, Any] = {}
    while time.monotonic() < deadline:
        pod = get_pod(ds, namespace, name)
        if (pod.get("status") or {}).get("phase") == phase:
            return pod
        time.sleep(0.3)
    raise TimeoutError(f"{namespace}/{name} is not {phase}: {pod.get('status')}")
