"""Unit tests of the kubelet's pure helpers: IPs, devices, env expansion, status words."""

from __future__ import annotations

import json
from typing import Any

import pytest

from devstack.controllers.kubelet_container import duration as _duration
from devstack.controllers.kubelet_devices import (
    DEVICES_ANNOTATION,
    AllocationError,
    DeviceManager,
    device_env,
)
from devstack.controllers.kubelet_env import expand, field_value
from devstack.controllers.kubelet_ips import IpPool
from devstack.controllers.kubelet_status import image_id


def test_ip_pool_unique_and_released() -> None:
    pool = IpPool("127.9.0.0/16")
    a, b = pool.allocate("a"), pool.allocate("b")
    assert a != b and a.startswith("127.9.") and pool.allocate("a") == a
    pool.release("a")
    assert pool.get("a") is None
    ips = {pool.allocate(f"p{i}") for i in range(600)}
    assert len(ips) == 600 and not any(ip.endswith((".0", ".255")) for ip in ips)
    with pytest.raises(ValueError):
        IpPool("10.0.0.0/16")


def node(name: str, devices: list[dict[str, str]]) -> dict[str, Any]:
    return {"metadata": {"name": name, "annotations": {DEVICES_ANNOTATION: json.dumps(devices)}}}


def gpu_pod(resource: str, n: int) -> dict[str, Any]:
    return {"spec": {"containers": [{"name": "c", "resources": {"limits": {resource: str(n)}}}]}}


def test_devices_never_overlap_and_release() -> None:
    mgr = DeviceManager()
    mig = [{"uuid": f"MIG-{i}", "kind": "mig", "resource": "nvidia.com/gpu"} for i in range(3)]
    mgr.set_node(node("a100-1", mig))
    first = mgr.allocate("p1", "a100-1", gpu_pod("nvidia.com/gpu", 2))
    second = mgr.allocate("p2", "a100-1", gpu_pod("nvidia.com/gpu", 1))
    assert {d.id for d in first} | {d.id for d in second} == {"MIG-0", "MIG-1", "MIG-2"}
    assert not {d.id for d in first} & {d.id for d in second}
    with pytest.raises(AllocationError):
        mgr.allocate("p3", "a100-1", gpu_pod("nvidia.com/gpu", 1))
    mgr.release("p1")
    third = mgr.allocate("p3", "a100-1", gpu_pod("nvidia.com/gpu", 2))
    assert {d.id for d in third} == {d.id for d in first}
    assert device_env(third) == {"NVIDIA_VISIBLE_DEVICES": ",".join(d.id for d in third)}


def test_mixed_mig_and_fpga_env() -> None:
    mgr = DeviceManager()
    mgr.set_node(
        node(
            "n",
            [
                {"uuid": "MIG-a", "kind": "mig", "resource": "nvidia.com/mig-1g.10gb"},
                {"uuid": "MIG-b", "kind": "mig", "resource": "nvidia.com/mig-3g.40gb"},
                {
                    "uuid": "XFL1",
                    "kind": "fpga",
                    "resource": "amd.com/xilinx_u55c_gen3x16_xdma_base_3-0",
                },
            ],
        )
    )
    got = mgr.allocate("p", "n", gpu_pod("nvidia.com/mig-3g.40gb", 1))
    assert device_env(got) == {"NVIDIA_VISIBLE_DEVICES": "MIG-b"}
    fpga = mgr.allocate("f", "n", gpu_pod("amd.com/xilinx_u55c_gen3x16_xdma_base_3-0", 1))
    assert device_env(fpga) == {"DEVSTACK_FPGA_DEVICES": "XFL1"}
    assert mgr.allocate("cpu", "n", gpu_pod("cpu", 1)) == []


def test_expand_and_fields() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)-$(C)-$$(A)", env) == "1-two-$(C)-$(A)"
    pod = {
        "metadata": {"name": "p", "labels": {"app": "x"}, "annotations": {}},
        "spec": {},
        "status": {"podIP": "127.1.0.1"},
    }
    assert field_value(pod, "metadata.labels['app']") == "x"
    assert field_value(pod, "metadata.annotations['missing']") == ""
    assert field_value(pod, "status.podIP") == "127.1.0.1"


def test_status_words() -> None:
    assert _duration(10) == "10s" and _duration(80) == "1m20s" and _duration(300) == "5m0s"
    assert _duration(0.2) == "200ms"
    assert image_id("python:3.11").startswith("docker-pullable://python@sha256:")
    assert image_id("ghcr.io/x/y:1").startswith("docker-pullable://ghcr.io/x/y@sha256:")
