"""What every pod worker of the process kubelet shares: settings, store, pools."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.controllers.kubelet_devices import DeviceManager
from devstack.controllers.kubelet_ips import IpPool

Obj = dict[str, Any]
COMPONENT = "kubelet"


@dataclass
class KubeletSettings:
    """Knobs shared by every pod worker."""

    state_dir: Path
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    config_retry: float = 2.0
    gpu_env: dict[str, str] = field(default_factory=dict)
    ld_library_path: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)
    bind_shim: Path | None = None
    host_path: str = ""


@dataclass
class KubeletServices:
    """What the workers share: the store, pools and the node lookup."""

    store: Any
    settings: KubeletSettings
    ips: IpPool
    devices: DeviceManager
    node: Callable[[str], Obj | None]


def pod_label(pod: Mapping[str, Any]) -> str:
    """`name_namespace(uid)`, the kubelet's way of naming a pod in messages."""
    md = pod.get("metadata") or {}
    return f"{md.get('name')}_{md.get('namespace')}({md.get('uid')})"
