"""Devstack: the store, the HTTPS API server, the cluster's nodes and the controllers, together.

    async with Devstack(cluster=None, port=0, state_dir=tmp) as ds:
        ds.url, ds.kubeconfig_path, ds.store

Controllers are objects with `async start(store)` and `async stop()`; by default the
scheduler, process kubelet and job controller are imported lazily from
`devstack.controllers` when those modules exist.
"""

from __future__ import annotations

import base64
import importlib
import importlib.util
import json
import logging
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import yaml

from devstack.apiserver.server import ApiServer
from devstack.apiserver.store import ObjectStore
from devstack.cluster import Cluster, cluster_objects, load_cluster

log = logging.getLogger("devstack")

STATE_FILE = "devstack.json"
BOOTSTRAP_RBAC = Path(__file__).parent / "apiserver" / "bootstrap_rbac.yaml"
KUBECONFIG_FILE = "kubeconfig"
# name -> (module, class, whether it takes state_dir)
CONTROLLERS: dict[str, tuple[str, str, bool]] = {
    "scheduler": ("devstack.controllers.scheduler", "Scheduler", False),
    "kubelet": ("devstack.controllers.kubelet", "ProcessKubelet", True),
    "jobs": ("devstack.controllers.jobs", "JobController", False),
    "apps": ("devstack.controllers.apps", "AppsController", False),
    "storage": ("devstack.controllers.storage", "StorageController", True),
    "interlink": ("devstack.controllers.interlink", "InterLinkBridge", True),
}
DEFAULT_CONTROLLERS = ("scheduler", "storage", "kubelet", "jobs", "apps", "interlink")


class Controller(Protocol):
    """What Devstack runs next to the API server."""

    async def start(self, store: ObjectStore) -> None:
        """Begin work (watches, loops) on the running event loop; return promptly."""
        ...

    async def stop(self) -> None:
        """Stop all work and release resources."""
        ...


def default_state_dir() -> Path:
    """`$XDG_STATE_HOME/accelhub/devstack` (or ~/.local/state/...)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "accelhub" / "devstack"


@dataclass
class DevstackSettings:
    """How a Devstack is assembled."""

    cluster: str | Path | Cluster | None = None
    port: int = 0
    state_dir: Path = field(default_factory=default_state_dir)
    controllers: Sequence[str | Controller] | None = None  # None: every available default
    controller_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    token: str | None = None  # None: a random token
    tls: bool = True
    bookmark_interval: float = 10.0
    history_size: int = 5000
    simulate_nvml: bool = True  # GPU pods see the simulated libnvidia-ml.so.1


def available_controllers() -> list[str]:
    """Default controllers whose modules exist."""
    out = []
    for name in DEFAULT_CONTROLLERS:
        module = CONTROLLERS[name][0]
        try:
            if importlib.util.find_spec(module) is not None:
                out.append(name)
        except ModuleNotFoundError:
            continue
    return out


class Devstack:
    """A running single-machine cluster (use with `async with`)."""

    def __init__(
        self,
        cluster: str | Path | Cluster | None = None,
        port: int = 0,
        state_dir: str | Path | None = None,
        **options: Any,
    ) -> None:
        self.settings = DevstackSettings(
            cluster=cluster,
            port=port,
            state_dir=Path(state_dir) if state_dir else default_state_dir(),
            **options,
        )
        self.store: ObjectStore | None = None
        self.server: ApiServer | None = None
        self.cluster: Cluster | None = None
        self.controllers: list[Controller] = []
        self.token = self.settings.token or secrets.token_urlsafe(24)

    # ---- properties ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API server URL."""
        if self.server is None:
            raise RuntimeError("devstack is not running")
        return self.server.url

    @property
    def state_dir(self) -> Path:
        """Where the kubeconfig, certificates and state file live."""
        return self.settings.state_dir

    @property
    def kubeconfig_path(self) -> Path:
        """The kubeconfig clients use."""
        return self.state_dir / KUBECONFIG_FILE

    @property
    def ca_path(self) -> Path | None:
        """The CA certificate that signed the server certificate (None without TLS)."""
        return self.state_dir / "tls" / "ca.crt" if self.settings.tls else None

    @property
    def site_urls(self) -> dict[str, str]:
        """The plugin URL of each bridged InterLink virtual node."""
        for controller in self.controllers:
            urls = getattr(controller, "urls", None)
            if isinstance(urls, dict):
                return dict(urls)
        return {}

    # ---- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> Devstack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Create the store and cluster objects, serve the API, start controllers."""
        s = self.settings
        s.state_dir.mkdir(parents=True, exist_ok=True)
        self.cluster = s.cluster if isinstance(s.cluster, Cluster) else load_cluster(s.cluster)
        self.store = ObjectStore(history_size=s.history_size)
        for resource, obj in cluster_objects(self.cluster):
            await self.store.create(resource, obj)
        for obj in yaml.safe_load_all(BOOTSTRAP_RBAC.read_text()):
            await self.store.create(f"{obj['kind'].lower()}s", obj)
        tls_files = None
        if s.tls:
            import asyncio

            from devstack.apiserver import tls

            tls_files = await asyncio.to_thread(tls.generate, s.state_dir / "tls")
        self.server = ApiServer(
            self.store,
            token=self.token,
            port=s.port,
            bookmark_interval=s.bookmark_interval,
            tls=tls_files,
        )
        await self.server.start()
        self._write_kubeconfig()
        if s.simulate_nvml:
            await self._configure_simulated_nvml()
        kubelet = self.settings.controller_options.setdefault("kubelet", {})
        kubelet.setdefault("extra_env", {}).update(self._in_cluster_env())
        try:
            for controller in self._build_controllers():
                await controller.start(self.store)
                self.controllers.append(controller)
        except BaseException:
            await self.stop()
            raise
        self._write_state()
        log.info("devstack API server at %s (kubeconfig %s)", self.url, self.kubeconfig_path)

    async def restart_api(self, downtime: float = 1.0) -> None:
        """Restart the API server as a real one restarts: every client connection drops, the
        port refuses connections for ``downtime`` seconds, and the objects survive (as in etcd)
        but the watch history does not (resuming an old watch gets 410). Controllers, which
        run in this process, keep going."""
        if self.server is None or self.store is None:
            raise RuntimeError("devstack is not running")
        log.warning("restarting the API server (%.1fs down)", downtime)
        self.store.compact()
        await self.server.restart(downtime)

    async def stop(self) -> None:
        """Stop controllers (in reverse order), then the server."""
        for controller in reversed(self.controllers):
            try:
                await controller.stop()
            except Exception:
                log.exception("stopping controller %s failed", type(controller).__name__)
        self.controllers.clear()
        if self.server is not None:
            await self.server.stop()
        state = self.state_dir / STATE_FILE
        try:
            data = json.loads(state.read_text())
            if data.get("pid") == os.getpid():
                state.unlink()
        except (OSError, ValueError):
            pass

    async def _configure_simulated_nvml(self) -> None:
        """Point GPU pods at the simulated NVML, describing exactly this cluster's GPUs."""
        import asyncio

        from devstack.nvml import nvml_env, simulation_for
        from devstack.nvml.build import BuildError

        assert self.cluster is not None
        gpus = [gpu for node in self.cluster.nodes for gpu in node.gpus]
        if not gpus:
            return
        try:
            env = await asyncio.to_thread(
                nvml_env, self.state_dir, simulation_for(gpus, node="devstack")
            )
        except BuildError as error:
            log.warning("GPU pods get no simulated NVML: %s", error)
            return
        options = self.settings.controller_options.setdefault("kubelet", {})
        options.setdefault("gpu_env", env)

    def _build_controllers(self) -> list[Controller]:
        wanted = self.settings.controllers
        names: Sequence[str | Controller] = available_controllers() if wanted is None else wanted
        out: list[Controller] = []
        for item in names:
            if not isinstance(item, str):
                out.append(item)
                continue
            if item not in CONTROLLERS:
                raise ValueError(f"unknown controller {item!r}; known: {', '.join(CONTROLLERS)}")
            module_name, class_name, wants_state = CONTROLLERS[item]
            module = importlib.import_module(module_name)
            cls = getattr(module, class_name)
            kwargs = dict(self.settings.controller_options.get(item, {}))
            if wants_state:
                kwargs.setdefault("state_dir", self.state_dir / item)
            out.append(cls(**kwargs))
        if out:  # kube-controller-manager's part every cluster has
            from devstack.controllers.rootca import RootCaPublisher

            ca = self.ca_path.read_text() if self.ca_path is not None else ""
            out.insert(0, RootCaPublisher(ca))
        return out

    def _in_cluster_env(self) -> dict[str, str]:
        """What the kubelet gives every container to find the API (in-cluster config)."""
        assert self.server is not None
        port = str(self.server.port)
        return {
            "KUBERNETES_SERVICE_HOST": self.server.host,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://{self.server.host}:{port}",
        }

    # ---- files -----------------------------------------------------------------------

    def _write_kubeconfig(self) -> None:
        cluster: dict[str, Any] = {"server": self.url}
        if self.ca_path is not None:
            cluster["certificate-authority-data"] = base64.b64encode(
                self.ca_path.read_bytes()
            ).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": "devstack", "cluster": cluster}],
            "users": [{"name": "devstack-admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "devstack",
                    "context": {
                        "cluster": "devstack",
                        "user": "devstack-admin",
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "devstack",
        }
        _write_private(self.kubeconfig_path, json.dumps(config, indent=2) + "\n")

    def _write_state(self) -> None:
        data = {
            "pid": os.getpid(),
            "url": self.url,
            "kubeconfig": str(self.kubeconfig_path),
            "started": time.time(),
            "cluster": str(self.cluster.source) if self.cluster and self.cluster.source else None,
            "controllers": [type(c).__name__ for c in self.controllers],
            "sites": self.site_urls,
        }
        _write_private(self.state_dir / STATE_FILE, json.dumps(data, indent=2) + "\n")


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
