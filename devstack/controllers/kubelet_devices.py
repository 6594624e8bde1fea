"""Simulated device plugins: GPU, MIG and FPGA devices assigned to pods without overlap.

Devices come from each node's `devstack.accelhub/devices` annotation: a JSON list of
`{uuid, kind, resource, ...}`. A pod requesting `n` of an extended resource gets `n`
free devices whose `resource` matches, and the environment variables the real plugin
would give its containers: `NVIDIA_VISIBLE_DEVICES` (the NVIDIA plugin's `envvar`
strategy, UUIDs, also for MIG slices under the single and mixed strategies). The Xilinx
plugin gives containers device nodes, not variables; since devstack cannot mount
devices it exports `DEVSTACK_FPGA_DEVICES` (the plugin's device ids, PCI addresses)
and `DEVSTACK_FPGA_DEVICE_NODES` (the `/dev` paths the plugin would have mounted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub_ext.quantity import parse_quantity

DEVICES_ANNOTATION = "devstack.accelhub/devices"
NVIDIA_PREFIX = "nvidia.com/"


@dataclass(frozen=True)
class Device:
    """One schedulable device on a node."""

    id: str
    resource: str
    kind: str
    info: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)


class AllocationError(Exception):
    """A pod asks for more devices than its node has free (a scheduler/kubelet mismatch)."""


def node_devices(node: Mapping[str, Any]) -> list[Device]:
    """Parse the devices annotation of a node object (empty when absent or malformed)."""
    raw = ((node.get("metadata") or {}).get("annotations") or {}).get(DEVICES_ANNOTATION)
    if not raw:
        return []
    try:
        entries = json.loads(raw)
    except ValueError:
        return []
    out = []
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        dev_id = entry.get("uuid") or entry.get("id") or entry.get("dbdf")
        resource = entry.get("resource")
        if dev_id and resource:
            out.append(Device(str(dev_id), str(resource), str(entry.get("kind") or ""), entry))
    return out


def device_requests(pod: Mapping[str, Any], resources: set[str]) -> dict[str, int]:
    """How many of each device resource the pod's containers ask for (limits win)."""
    spec = pod.get("spec") or {}
    total: dict[str, int] = {}
    for c in spec.get("containers") or []:
        res = c.get("resources") or {}
        merged = {**(res.get("requests") or {}), **(res.get("limits") or {})}
        for name, value in merged.items():
            if name in resources:
                total[name] = total.get(name, 0) + int(parse_quantity(value))
    return total


class DeviceManager:
    """Tracks which pod holds which device on every node."""

    def __init__(self) -> None:
        self._devices: dict[str, list[Device]] = {}
        self._owner: dict[tuple[str, str], str] = {}  # (node, device id) -> pod key
        self._by_pod: dict[str, tuple[str, list[Device]]] = {}

    def set_node(self, node: Mapping[str, Any]) -> None:
        """Learn (or refresh) a node's devices."""
        name = (node.get("metadata") or {}).get("name", "")
        self._devices[name] = node_devices(node)

    def allocate(self, pod_key: str, node: str, pod: Mapping[str, Any]) -> list[Device]:
        """Assign devices to a pod (idempotent); AllocationError if not enough are free."""
        if pod_key in self._by_pod:
            return self._by_pod[pod_key][1]
        devices = self._devices.get(node, [])
        wanted = device_requests(pod, {d.resource for d in devices})
        chosen: list[Device] = []
        for resource, count in sorted(wanted.items()):
            free = [
                d for d in devices if d.resource == resource and (node, d.id) not in self._owner
            ]
            if len(free) < count:
                raise AllocationError(
                    f"Requested number of devices unavailable for {resource}. "
                    f"Requested: {count}, Available: {len(free)}"
                )
            chosen.extend(free[:count])
        for d in chosen:
            self._owner[(node, d.id)] = pod_key
        self._by_pod[pod_key] = (node, chosen)
        return chosen

    def release(self, pod_key: str) -> None:
        """Free a pod's devices."""
        node, devices = self._by_pod.pop(pod_key, ("", []))
        for d in devices:
            self._owner.pop((node, d.id), None)

    def assigned(self, pod_key: str) -> list[Device]:
        """The devices a pod holds."""
        return self._by_pod.get(pod_key, ("", []))[1]


def device_env(devices: list[Device]) -> dict[str, str]:
    """The variables device plugins would give a container holding `devices`."""
    env: dict[str, str] = {}
    nvidia = [d.id for d in devices if d.resource.startswith(NVIDIA_PREFIX)]
    if nvidia:
        env["NVIDIA_VISIBLE_DEVICES"] = ",".join(nvidia)
    fpgas = [d for d in devices if d.kind == "fpga" or "xilinx" in d.resource]
    if fpgas:
        env["DEVSTACK_FPGA_DEVICES"] = ",".join(d.id for d in fpgas)
        nodes: list[str] = []
        for d in fpgas:
            for key in ("mgmt", "user", "qdma"):
                path = d.info.get(key)
                if path:
                    nodes.append(str(path))
        if nodes:
            env["DEVSTACK_FPGA_DEVICE_NODES"] = ",".join(nodes)
    return env
