"""GPU pods on devstack see exactly the devices the kubelet assigned, through real pynvml."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator

import pytest

from tests.devstack.conftest import RunningDevstack
from tests.devstack.test_kubelet_pods import apply, get, until

pytestmark = pytest.mark.integration

PROBE = textwrap.dedent(
    """
    import json, os, pynvml as N
    N.nvmlInit()
    seen = []
    for i in range(N.nvmlDeviceGetCount()):
        h = N.nvmlDeviceGetHandleByIndex(i)
        entry = {"uuid": N.nvmlDeviceGetUUID(h), "name": N.nvmlDeviceGetName(h), "migs": []}
        try:
            current, _ = N.nvmlDeviceGetMigMode(h)
        except N.NVMLError:
            current = 0
        if current:
            for j in range(N.nvmlDeviceGetMaxMigDeviceCount(h)):
                try:
                    m = N.nvmlDeviceGetMigDeviceHandleByIndex(h, j)
                except N.NVMLError:
                    continue
                entry["migs"].append(N.nvmlDeviceGetUUID(m))
        seen.append(entry)
    print("NVML=" + json.dumps({"visible": os.environ.get("NVIDIA_VISIBLE_DEVICES"), "seen": seen}))
    """
)


@pytest.fixture
def gpu_ns(devstack: RunningDevstack) -> Iterator[str]:
    name = f"gpu-{os.urandom(3).hex()}"
    devstack.kubectl("create", "namespace", name)
    yield name
    devstack.kubectl("delete", "namespace", name, "--wait=false", check=False)


def run_probe(
    devstack: RunningDevstack,
    ns: str,
    name: str,
    resource: str,
    node_selector: dict[str, str] | None = None,
) -> dict[str, object]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": node_selector or {},
            "containers": [
                {
                    "name": "probe",
                    "image": "python:3.11",
                    "command": [sys.executable, "-c", PROBE],
                    "resources": {"limits": {resource: "1"}},
                }
            ],
        },
    }
    apply(devstack, ns, pod)
    until(lambda: get(devstack, ns, "pod", name)["status"].get("phase") == "Succeeded", 60)
    logs = devstack.kubectl("logs", "-n", ns, name).stdout
    line = next(line for line in logs.splitlines() if line.startswith("NVML="))
    result: dict[str, object] = json.loads(line[len("NVML=") :])
    return result


def test_mig_pod_sees_only_its_slice(devstack: RunningDevstack, gpu_ns: str) -> None:
    result = run_probe(devstack, gpu_ns, "mig-probe", "nvidia.com/mig-1g.10gb")
    visible = str(result["visible"])
    assert visible.startswith("MIG-") and "," not in visible
    seen = result["seen"]
    assert isinstance(seen, list) and len(seen) == 1
    assert "A100" in seen[0]["name"]
    assert seen[0]["migs"] == [visible]


def test_t4_pod_sees_one_t4(devstack: RunningDevstack, gpu_ns: str) -> None:
    result = run_probe(
        devstack, gpu_ns, "gpu-probe", "nvidia.com/gpu", {"nvidia.com/gpu.product": "Tesla-T4"}
    )
    visible = str(result["visible"])
    seen = result["seen"]
    assert isinstance(seen, list) and len(seen) == 1
    assert seen[0]["uuid"] == visible
    assert visible.startswith("GPU-")
    assert seen[0]["name"] == "Tesla T4"


def test_single_strategy_gpu_is_a_mig_slice(devstack: RunningDevstack, gpu_ns: str) -> None:
    """Under the `single` MIG strategy, `nvidia.com/gpu` on an A100 node is one MIG slice."""
    result = run_probe(
        devstack,
        gpu_ns,
        "single-probe",
        "nvidia.com/gpu",
        {"nvidia.com/gpu.product": "NVIDIA-A100-80GB-PCIe-MIG-1g.10gb"},
    )
    visible = str(result["visible"])
    seen = result["seen"]
    assert visible.startswith("MIG-")
    assert isinstance(seen, list) and [entry["migs"] for entry in seen] == [[visible]]
