"""The devstack cluster file: nodes with GPUs (MIG), FPGAs and InterLink sites, as API objects.

A cluster file is YAML::

    name: ai-infn
    namespaces: [accelhub]
    priorityClasses: [{name: interactive, value: 1000}]
    storageClasses:                     # default: one default class `standard` (Delete)
      - {name: standard, default: true, reclaimPolicy: Delete, volumeBindingMode: Immediate}
    nodes:
      - name: a100-1
        capacity: {cpu: "64", memory: 512Gi}
        labels: {topology.kubernetes.io/zone: infn-cnaf}
        taints: [{key: k, value: v, effect: NoSchedule}]
        migStrategy: single            # none | single | mixed
        gpus:
          - model: a100-80gb-pcie       # a100-80gb-pcie | t4 | rtx5000
            uuid: GPU-...
            mig: [{profile: 1g.10gb, uuid: MIG-...}]
        fpgas: [{resource: amd.com/xilinx_u55c_gen3x16_xdma_base_3-0, serial: ...}]
        virtual: {site: infn-cloud, queueDelaySeconds: 2, failureRate: 0.0}  # InterLink node
                                       # (its local plugin: queue delay, share refused)

Every GPU and MIG device carries a stable UUID; the node annotation
`devstack.accelhub/devices` lists them for the kubelet and the simulated NVML.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from devstack.apiserver.storage_kinds import DEFAULT_CLASS_ANNOTATION

DEVICES_ANNOTATION = "devstack.accelhub/devices"
# The storage controller provisions claims of classes naming this provisioner.
PROVISIONER = "devstack.accelhub/local-path"
DEFAULT_STORAGE_CLASSES: tuple[dict[str, Any], ...] = (
    {"name": "standard", "default": True, "reclaimPolicy": "Delete"},
)
VIRTUAL_TAINT = {
    "key": "virtual-node.interlink/no-schedule",
    "value": "true",
    "effect": "NoSchedule",
}
KUBELET_VERSION = "v1.37.0"


@dataclass(frozen=True)
class GpuModelInfo:
    """What GPU Feature Discovery reports for a model."""

    product: str
    memory_mib: int
    family: str
    compute: tuple[int, int]
    multiprocessors: int
    mig_capable: bool


GPU_MODELS: dict[str, GpuModelInfo] = {
    "a100-80gb-pcie": GpuModelInfo("NVIDIA-A100-80GB-PCIe", 81920, "ampere", (8, 0), 108, True),
    "t4": GpuModelInfo("Tesla-T4", 15360, "turing", (7, 5), 40, False),
    "rtx5000": GpuModelInfo("Quadro-RTX-5000", 16384, "turing", (7, 5), 48, False),
}


@dataclass(frozen=True)
class MigProfileInfo:
    """GFD facts about an A100 80GB MIG profile."""

    gi: int
    memory_mib: int
    multiprocessors: int
    copy_engines: int
    decoders: int


MIG_PROFILES: dict[str, MigProfileInfo] = {
    "1g.10gb": MigProfileInfo(1, 9728, 14, 1, 0),
    "2g.20gb": MigProfileInfo(2, 19968, 28, 2, 1),
    "3g.40gb": MigProfileInfo(3, 40192, 42, 3, 2),
    "4g.40gb": MigProfileInfo(4, 40192, 56, 4, 2),
    "7g.80gb": MigProfileInfo(7, 80896, 98, 7, 5),
}


class ClusterError(ValueError):
    """A cluster file that cannot be used, with a sentence saying why."""


@dataclass
class MigDevice:
    """One MIG slice of a GPU."""

    profile: str
    uuid: str


@dataclass
class Gpu:
    """One physical GPU, possibly partitioned."""

    model: str
    uuid: str
    mig: list[MigDevice] = field(default_factory=list)


@dataclass
class Fpga:
    """One FPGA card exposed as an extended resource."""

    resource: str
    serial: str = ""


@dataclass
class NodeSpec:
    """A node as declared in the cluster file."""

    name: str
    capacity: dict[str, str]
    allocatable: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    mig_strategy: str = "none"
    gpus: list[Gpu] = field(default_factory=list)
    fpgas: list[Fpga] = field(default_factory=list)
    virtual: dict[str, Any] | None = None
    unschedulable: bool = False

    def devices(self) -> list[dict[str, str]]:
        """Devices the kubelet can assign: full GPUs, MIG slices and FPGAs."""
        out: list[dict[str, str]] = []
        for gpu in self.gpus:
            info = GPU_MODELS[gpu.model]
            if not gpu.mig:
                out.append(
                    {
                        "uuid": gpu.uuid,
                        "kind": "gpu",
                        "model": gpu.model,
                        "product": info.product,
                        "resource": "nvidia.com/gpu",
                    }
                )
            for mig in gpu.mig:
                resource = (
                    "nvidia.com/gpu"
                    if self.mig_strategy == "single"
                    else f"nvidia.com/mig-{mig.profile}"
                )
                out.append(
                    {
                        "uuid": mig.uuid,
                        "kind": "mig",
                        "model": gpu.model,
                        "profile": mig.profile,
                        "parent": gpu.uuid,
                        "product": f"{info.product}-MIG-{mig.profile}",
                        "resource": resource,
                    }
                )
        for i, fpga in enumerate(self.fpgas):
            out.append(
                {
                    "uuid": fpga.serial or f"{self.name}-fpga-{i}",
                    "kind": "fpga",
                    "model": fpga.resource.split("/", 1)[-1],
                    "resource": fpga.resource,
                }
            )
        return out

    def extended_resources(self) -> dict[str, int]:
        """Extended resource counts from the devices."""
        return dict(Counter(d["resource"] for d in self.devices()))

    def gfd_labels(self) -> dict[str, str]:
        """GPU Feature Discovery labels for this node's GPUs."""
        if not self.gpus:
            return {}
        models = {g.model for g in self.gpus}
        if len(models) != 1:
            raise ClusterError(f"node {self.name}: all GPUs of a node must be the same model")
        info = GPU_MODELS[self.gpus[0].model]
        labels = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.family": info.family,
            "nvidia.com/gpu.compute.major": str(info.compute[0]),
            "nvidia.com/gpu.compute.minor": str(info.compute[1]),
            "nvidia.com/cuda.driver.major": "580",
            "nvidia.com/cuda.driver.minor": "82",
            "nvidia.com/cuda.driver.rev": "07",
            "nvidia.com/cuda.runtime.major": "13",
            "nvidia.com/cuda.runtime.minor": "0",
            "nvidia.com/gpu.replicas": "1",
            "nvidia.com/gpu.sharing-strategy": "none",
            "nvidia.com/mig.capable": "true" if info.mig_capable else "false",
            "nvidia.com/mig.strategy": self.mig_strategy,
            "nvidia.com/gfd.timestamp": "1767225600",
        }
        migs = [m for g in self.gpus for m in g.mig]
        whole = [g for g in self.gpus if not g.mig]
        if self.mig_strategy == "single" and migs:
            profile = migs[0].profile
            p = MIG_PROFILES[profile]
            labels.update(
                {
                    "nvidia.com/gpu.product": f"{info.product}-MIG-{profile}",
                    "nvidia.com/gpu.count": str(len(migs)),
                    "nvidia.com/gpu.memory": str(p.memory_mib),
                    "nvidia.com/gpu.multiprocessors": str(p.multiprocessors),
                    "nvidia.com/gpu.slices.gi": str(p.gi),
                    "nvidia.com/gpu.slices.ci": str(p.gi),
                    "nvidia.com/gpu.engines.copy": str(p.copy_engines),
                    "nvidia.com/gpu.engines.decoder": str(p.decoders),
                    "nvidia.com/gpu.engines.encoder": "0",
                    "nvidia.com/gpu.engines.jpeg": "0",
                    "nvidia.com/gpu.engines.ofa": "0",
                }
            )
            return labels
        labels.update(
            {
                "nvidia.com/gpu.product": info.product,
                "nvidia.com/gpu.count": str(len(whole) if migs else len(self.gpus)),
                "nvidia.com/gpu.memory": str(info.memory_mib),
            }
        )
        for profile, count in sorted(Counter(m.profile for m in migs).items()):
            p = MIG_PROFILES[profile]
            prefix = f"nvidia.com/mig-{profile}"
            labels.update(
                {
                    f"{prefix}.count": str(count),
                    f"{prefix}.memory": str(p.memory_mib),
                    f"{prefix}.product": f"{info.product}-MIG-{profile}",
                    f"{prefix}.multiprocessors": str(p.multiprocessors),
                    f"{prefix}.slices.gi": str(p.gi),
                    f"{prefix}.slices.ci": str(p.gi),
                    f"{prefix}.engines.copy": str(p.copy_engines),
                    f"{prefix}.engines.decoder": str(p.decoders),
                    f"{prefix}.engines.encoder": "0",
                    f"{prefix}.engines.jpeg": "0",
                    f"{prefix}.engines.ofa": "0",
                }
            )
        return labels

    def to_node(self, kubelet_version: str = KUBELET_VERSION) -> dict[str, Any]:
        """The core/v1 Node object for this node."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": "amd64",
        }
        labels.update(self.gfd_labels())
        taints = [dict(t) for t in self.taints]
        annotations = dict(self.annotations)
        if self.virtual is not None:
            labels.update(
                {
                    "type": "virtual-kubelet",
                    "virtual-node.interlink/type": "virtual-kubelet",
                    "kubernetes.io/role": "agent",
                    "virtual-node.interlink/site": str(self.virtual.get("site", self.name)),
                }
            )
            if not any(t.get("key") == VIRTUAL_TAINT["key"] for t in taints):
                taints.append(dict(VIRTUAL_TAINT))
            annotations["devstack.accelhub/interlink"] = json.dumps(self.virtual, sort_keys=True)
        if self.fpgas:
            labels["amd.com/fpga.present"] = "true"
        labels.update(self.labels)
        devices = self.devices()
        if devices:
            annotations[DEVICES_ANNOTATION] = json.dumps(devices, separators=(",", ":"))
        capacity = {
            "pods": "110",
            "ephemeral-storage": "500Gi",
            "hugepages-1Gi": "0",
            "hugepages-2Mi": "0",
        }
        capacity.update({k: str(v) for k, v in self.capacity.items()})
        for resource, count in self.extended_resources().items():
            capacity.setdefault(resource, str(count))
        allocatable = dict(capacity)
        allocatable.update({k: str(v) for k, v in self.allocatable.items()})
        spec: dict[str, Any] = {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]}
        if taints:
            spec["taints"] = taints
        if self.unschedulable:
            spec["unschedulable"] = True
        now = "2026-01-01T00:00:00Z"
        conditions = [
            {
                "type": t,
                "status": "False",
                "reason": f"Kubelet{r}",
                "message": m,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
            for t, r, m in (
                ("MemoryPressure", "HasSufficientMemory", "kubelet has sufficient memory"),
                ("DiskPressure", "HasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "HasSufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        conditions.append(
            {
                "type": "Ready",
                "status": "True",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
            }
        )
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels, "annotations": annotations},
            "spec": spec,
            "status": {
                "capacity": capacity,
                "allocatable": allocatable,
                "conditions": conditions,
                "addresses": [
                    {"type": "InternalIP", "address": "127.0.0.1"},
                    {"type": "Hostname", "address": self.name},
                ],
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": self.name,
                    "systemUUID": self.name,
                    "bootID": self.name,
                    "kernelVersion": "6.8.0-devstack",
                    "osImage": "devstack",
                    "containerRuntimeVersion": (
                        "interlink://devstack" if self.virtual else "devstack://1.0"
                    ),
                    "kubeletVersion": kubelet_version,
                    "kubeProxyVersion": kubelet_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
                "phase": "Running",
            },
        }


@dataclass
class Cluster:
    """A parsed cluster file."""

    name: str
    nodes: list[NodeSpec]
    namespaces: list[str] = field(default_factory=list)
    priority_classes: list[dict[str, Any]] = field(default_factory=list)
    storage_classes: list[dict[str, Any]] = field(
        default_factory=lambda: [dict(c) for c in DEFAULT_STORAGE_CLASSES]
    )
    source: Path | None = None

    def node(self, name: str) -> NodeSpec:
        """A node by name (KeyError if absent)."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def all_devices(self) -> dict[str, list[dict[str, str]]]:
        """Devices by node name."""
        return {n.name: n.devices() for n in self.nodes}


def _parse_node(raw: dict[str, Any]) -> NodeSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ClusterError("every node needs a name")
    gpus = []
    for g in raw.get("gpus") or []:
        model = g.get("model")
        if model not in GPU_MODELS:
            raise ClusterError(
                f"node {name}: unknown GPU model {model!r} (known: {', '.join(GPU_MODELS)})"
            )
        uuid = str(g.get("uuid") or "")
        if not uuid.startswith("GPU-"):
            raise ClusterError(f"node {name}: every GPU needs a uuid starting with GPU-")
        migs = []
        for m in g.get("mig") or []:
            if m.get("profile") not in MIG_PROFILES:
                raise ClusterError(f"node {name}: unknown MIG profile {m.get('profile')!r}")
            if not str(m.get("uuid") or "").startswith("MIG-"):
                raise ClusterError(f"node {name}: every MIG device needs a uuid starting with MIG-")
            migs.append(MigDevice(m["profile"], m["uuid"]))
        if migs and not GPU_MODELS[model].mig_capable:
            raise ClusterError(f"node {name}: {model} does not support MIG")
        if sum(MIG_PROFILES[m.profile].gi for m in migs) > 7:
            raise ClusterError(f"node {name}: MIG slices of {uuid} exceed the seven available")
        gpus.append(Gpu(model, uuid, migs))
    strategy = str(raw.get("migStrategy") or ("mixed" if any(g.mig for g in gpus) else "none"))
    if strategy not in ("none", "single", "mixed"):
        raise ClusterError(f"node {name}: migStrategy must be none, single or mixed")
    if strategy == "single":
        profiles = {m.profile for g in gpus for m in g.mig}
        if len(profiles) > 1 or any(not g.mig for g in gpus):
            raise ClusterError(
                f"node {name}: the single MIG strategy needs every GPU partitioned into one profile"
            )
    fpgas = [Fpga(str(f["resource"]), str(f.get("serial") or "")) for f in raw.get("fpgas") or []]
    return NodeSpec(
        name=name,
        capacity={k: str(v) for k, v in (raw.get("capacity") or {}).items()},
        allocatable={k: str(v) for k, v in (raw.get("allocatable") or {}).items()},
        labels={k: str(v) for k, v in (raw.get("labels") or {}).items()},
        annotations={k: str(v) for k, v in (raw.get("annotations") or {}).items()},
        taints=[{k: str(v) for k, v in t.items()} for t in raw.get("taints") or []],
        mig_strategy=strategy,
        gpus=gpus,
        fpgas=fpgas,
        virtual=raw.get("virtual"),
        unschedulable=bool(raw.get("unschedulable", False)),
    )


def parse_cluster(data: dict[str, Any], source: Path | None = None) -> Cluster:
    """Build a Cluster from decoded YAML."""
    if not isinstance(data, dict):
        raise ClusterError("a cluster file must be a YAML mapping")
    nodes = [_parse_node(n) for n in data.get("nodes") or []]
    names = [n.name for n in nodes]
    if len(set(names)) != len(names):
        raise ClusterError("node names must be unique")
    uuids = [d["uuid"] for n in nodes for d in n.devices()]
    if len(set(uuids)) != len(uuids):
        raise ClusterError("device UUIDs must be unique across the cluster")
    return Cluster(
        name=str(data.get("name") or "devstack"),
        nodes=nodes,
        namespaces=[str(n) for n in data.get("namespaces") or []],
        priority_classes=list(data.get("priorityClasses") or []),
        storage_classes=list(data.get("storageClasses") or DEFAULT_STORAGE_CLASSES),
        source=source,
    )


def default_cluster_path() -> Path:
    """The shipped AI_INFN-like cluster file."""
    return Path(str(resources.files("devstack.clusters").joinpath("ai_infn.yaml")))


def load_cluster(path: str | Path | None = None) -> Cluster:
    """Load a cluster file (the default AI_INFN one when `path` is None)."""
    p = Path(path) if path else default_cluster_path()
    try:
        data = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise ClusterError(f"cannot read the cluster file {p}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ClusterError(f"the cluster file {p} is not valid YAML: {exc}") from None
    return parse_cluster(data, p)


def cluster_objects(cluster: Cluster) -> list[tuple[str, dict[str, Any]]]:
    """(resource, object) pairs to create: namespaces, priority and storage classes, nodes."""
    out: list[tuple[str, dict[str, Any]]] = []
    for ns in cluster.namespaces:
        out.append(("namespaces", {"metadata": {"name": ns}}))
    for pc in cluster.priority_classes:
        obj = {"metadata": {"name": pc["name"]}, "value": int(pc["value"])}
        for key in ("description", "globalDefault", "preemptionPolicy"):
            if key in pc:
                obj[key] = pc[key]
        out.append(("priorityclasses", obj))
    for sc in cluster.storage_classes:
        out.append(("storageclasses", storage_class_object(sc)))
    for node in cluster.nodes:
        out.append(("nodes", node.to_node()))
    return out


def storage_class_object(entry: dict[str, Any]) -> dict[str, Any]:
    """A StorageClass from a cluster file entry (`default: true` marks the default class)."""
    md: dict[str, Any] = {"name": str(entry["name"])}
    if entry.get("default"):
        md["annotations"] = {DEFAULT_CLASS_ANNOTATION: "true"}
    obj: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": md,
        "provisioner": str(entry.get("provisioner") or PROVISIONER),
    }
    for key in ("reclaimPolicy", "volumeBindingMode", "allowVolumeExpansion", "parameters"):
        if key in entry:
            obj[key] = entry[key]
    return obj
