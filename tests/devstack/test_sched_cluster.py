"""The scheduler on the default AI_INFN cluster, through kubectl: words, preemption, retries."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.devstack.conftest import RunningDevstack, start_devstack, stop_devstack
from tests.helpers.waiting import waiter

pytestmark = pytest.mark.integration
TAINT = "2 node(s) had untolerated taint {virtual-node.interlink/no-schedule: true}"
FPGA = "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0"


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDevstack]:
    """Our own devstack: GPU occupancy must not depend on other suites."""
    running = start_devstack(tmp_path_factory.mktemp("sched") / "state")
    yield running
    stop_devstack(running)


@pytest.fixture
def ns(ds: RunningDevstack) -> Iterator[str]:
    name = f"s-{os.urandom(3).hex()}"
    ds.kubectl("create", "namespace", name)
    yield name
    ds.kubectl("delete", "pods", "--all", "-n", name, "--grace-period=0", "--force", check=False)
    ds.kubectl("delete", "namespace", name, "--wait=false", check=False)


until = waiter(20.0, 0.2, (subprocess.CalledProcessError, KeyError, IndexError, StopIteration))


def pod(name: str, resources: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": ["python", "-c", "import time; time.sleep(300)"],
                    "resources": {"limits": resources or {}},
                }
            ],
            **spec,
        },
    }


def create(ds: RunningDevstack, ns: str, *objs: dict[str, Any]) -> None:
    ds.kubectl("create", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def get_pod(ds: RunningDevstack, ns: str, name: str) -> dict[str, Any]:
    return dict(json.loads(ds.kubectl("get", "-n", ns, "pod", name, "-o", "json").stdout))


def events(ds: RunningDevstack, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    out = ds.kubectl(
        "get",
        "events",
        "-n",
        ns,
        "--field-selector",
        f"involvedObject.name={name},reason={reason}",
        "-o",
        "json",
    ).stdout
    return list(json.loads(out)["items"])


def failed_message(ds: RunningDevstack, ns: str, name: str) -> str:
    found = until(lambda: events(ds, ns, name, "FailedScheduling"))
    assert found[0]["type"] == "Warning"
    assert found[0]["source"]["component"] == "default-scheduler"
    return str(found[-1]["message"])


def node_of(ds: RunningDevstack, ns: str, name: str) -> str:
    return str(get_pod(ds, ns, name)["spec"].get("nodeName") or "")


def test_gpu_request_nobody_can_satisfy(ds: RunningDevstack, ns: str) -> None:
    create(ds, ns, pod("huge", {"nvidia.com/gpu": "100"}))
    assert failed_message(ds, ns, "huge") == (
        f"0/12 nodes are available: 10 Insufficient nvidia.com/gpu, {TAINT}. "
        "preemption: 0/12 nodes are available: 12 Preemption is not helpful for scheduling."
    )
    cond = next(
        c for c in get_pod(ds, ns, "huge")["status"]["conditions"] if c["type"] == "PodScheduled"
    )
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable"
    assert cond["message"].startswith("0/12 nodes are available: 10 Insufficient")


def test_mig_and_fpga_exhaustion(ds: RunningDevstack, ns: str) -> None:
    create(ds, ns, pod("mig-a", {"nvidia.com/mig-3g.40gb": "1"}), pod("fpga-a", {FPGA: "1"}))
    until(lambda: node_of(ds, ns, "mig-a") == "a100-2" and node_of(ds, ns, "fpga-a"))
    assert node_of(ds, ns, "fpga-a") == "fpga-u55c-1"
    create(ds, ns, pod("mig-b", {"nvidia.com/mig-3g.40gb": "1"}), pod("fpga-b", {FPGA: "1"}))
    assert failed_message(ds, ns, "mig-b") == (
        f"0/12 nodes are available: 10 Insufficient nvidia.com/mig-3g.40gb, {TAINT}. "
        "preemption: 0/12 nodes are available: 1 No preemption victims found for incoming "
        "pod, 11 Preemption is not helpful for scheduling."
    )
    assert failed_message(ds, ns, "fpga-b") == (
        f"0/12 nodes are available: 10 Insufficient {FPGA}, {TAINT}. "
        "preemption: 0/12 nodes are available: 1 No preemption victims found for incoming "
        "pod, 11 Preemption is not helpful for scheduling."
    )
    # Capacity frees up: the waiting pods are retried and bound.
    ds.kubectl("delete", "-n", ns, "pod", "mig-a", "fpga-a", timeout=30)
    until(lambda: node_of(ds, ns, "mig-b") == "a100-2" and node_of(ds, ns, "fpga-b"))
    scheduled = events(ds, ns, "mig-b", "Scheduled")
    assert scheduled[0]["message"] == f"Successfully assigned {ns}/mig-b to a100-2"


def test_affinity_selector_and_tolerations(ds: RunningDevstack, ns: str) -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {
                                "key": "accelhub.infn.it/accelerator",
                                "operator": "In",
                                "values": ["t4"],
                            }
                        ]
                    }
                ]
            }
        }
    }
    create(
        ds,
        ns,
        pod("t4-many", {"nvidia.com/gpu": "5"}, affinity=affinity),
        pod("nowhere", nodeSelector={"accelhub.infn.it/accelerator": "tpu"}),
        pod(
            "remote",
            {"nvidia.com/gpu": "1"},
            nodeSelector={"topology.kubernetes.io/region": "leonardo-cineca"},
            tolerations=[{"key": "virtual-node.interlink/no-schedule", "operator": "Exists"}],
        ),
    )
    assert failed_message(ds, ns, "t4-many") == (
        f"0/12 nodes are available: 1 Insufficient nvidia.com/gpu, {TAINT}, 9 node(s) didn't "
        "match Pod's node affinity/selector. preemption: 0/12 nodes are available: 12 "
        "Preemption is not helpful for scheduling."
    )
    assert failed_message(ds, ns, "nowhere") == (
        f"0/12 nodes are available: 10 node(s) didn't match Pod's node affinity/selector, "
        f"{TAINT}. preemption: 0/12 nodes are available: 12 Preemption is not helpful for "
        "scheduling."
    )
    until(lambda: node_of(ds, ns, "remote") == "vk-leonardo-cineca")


def test_cordoned_node(ds: RunningDevstack, ns: str) -> None:
    ds.kubectl("cordon", "t4-1")
    try:
        create(ds, ns, pod("cordoned", nodeSelector={"kubernetes.io/hostname": "t4-1"}))
        assert failed_message(ds, ns, "cordoned") == (
            f"0/12 nodes are available: 1 node(s) were unschedulable, {TAINT}, 9 node(s) "
            "didn't match Pod's node affinity/selector. preemption: 0/12 nodes are available: "
            "12 Preemption is not helpful for scheduling."
        )
    finally:
        ds.kubectl("uncordon", "t4-1")
    until(lambda: node_of(ds, ns, "cordoned") == "t4-1")


def test_preemption_with_priority_classes(ds: RunningDevstack, ns: str) -> None:
    on_t4 = {"nodeSelector": {"kubernetes.io/hostname": "t4-1"}}
    create(
        ds,
        ns,
        pod("batch-1", {"nvidia.com/gpu": "1"}, priorityClassName="batch-low", **on_t4),
        pod("batch-2", {"nvidia.com/gpu": "1"}, priorityClassName="batch-low", **on_t4),
    )
    until(lambda: node_of(ds, ns, "batch-1") and node_of(ds, ns, "batch-2"))
    create(ds, ns, pod("batch-3", {"nvidia.com/gpu": "1"}, priorityClassName="batch-low", **on_t4))
    assert failed_message(ds, ns, "batch-3") == (
        f"0/12 nodes are available: 1 Insufficient nvidia.com/gpu, {TAINT}, 9 node(s) didn't "
        "match Pod's node affinity/selector. preemption: not eligible due to "
        "preemptionPolicy=Never."
    )

    create(
        ds, ns, pod("notebook", {"nvidia.com/gpu": "1"}, priorityClassName="interactive", **on_t4)
    )
    nb = get_pod(ds, ns, "notebook")
    assert nb["spec"]["priority"] == 1000
    until(lambda: node_of(ds, ns, "notebook") == "t4-1")
    nb = get_pod(ds, ns, "notebook")
    assert nb["status"].get("nominatedNodeName") in ("t4-1", None)
    victims = [n for n in ("batch-1", "batch-2") if events(ds, ns, n, "Preempted")]
    assert len(victims) == 1
    assert events(ds, ns, victims[0], "Preempted")[0]["message"] == (
        f"Preempted by pod {nb['metadata']['uid']} on node t4-1"
    )
    # The victim is gone; the Never-preempting batch pod still waits.
    assert node_of(ds, ns, "batch-3") == ""
    ds.kubectl("delete", "-n", ns, "pod", "notebook", timeout=30)
    until(lambda: node_of(ds, ns, "batch-3") == "t4-1")
