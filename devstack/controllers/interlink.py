"""The virtual-kubelet bridge: pods on InterLink virtual nodes go to their site's plugin.

For each virtual node (label `type=virtual-kubelet`) one `SiteBridge` speaks interLink's
plugin protocol (`devstack.interlink.protocol`) to the site's URL: `/create` when a pod
is bound to the node, `/status` every `status_period` seconds for the node's live pods,
`/getLogs` for `kubectl logs`, `/delete` when a pod is deleted, and the ping (`/status`
with `[]`) every `ping_period` seconds, which keeps the node's `Ready` condition and its
capacity/allocatable current. A create the plugin refuses turns the pod `Failed` with
reason `ProviderFailed` and the plugin's message; a site that stops answering turns the
node `NotReady`.

Sites listed in `sites` (node name -> URL) are external plugins; every other virtual node
gets a local plugin (`devstack.interlink.server.LocalPlugin`) configured from the node's
`devstack.accelhub/interlink` annotation (`queueDelaySeconds`, `failureRate`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

from devstack.controllers.informer import Informer, Obj
from devstack.controllers.interlink_site import SiteBridge
from devstack.controllers.kubelet import is_virtual
from devstack.controllers.kubelet_logs import bad_request
from devstack.interlink.server import LocalPlugin
from devstack.interlink.site import BASE_RESOURCES, Faults, SiteSettings

log = logging.getLogger(__name__)
SITE_ANNOTATION = "devstack.accelhub/interlink"


def site_settings(node: Obj, state_dir: Path) -> SiteSettings:
    """A local site for a virtual node, from its capacity and devstack annotation."""
    md = node.get("metadata") or {}
    try:
        conf = json.loads((md.get("annotations") or {}).get(SITE_ANNOTATION) or "{}")
    except ValueError:
        conf = {}
    capacity = (node.get("status") or {}).get("capacity") or {}
    keep = {k: str(v) for k, v in capacity.items() if k in BASE_RESOURCES or "/" in k}
    return SiteSettings(
        name=str(conf.get("site") or md["name"]),
        queue_delay=float(conf.get("queueDelaySeconds") or 0.0),
        capacity=keep,
        faults=Faults(failure_rate=float(conf.get("failureRate") or 0.0)),
        state_dir=state_dir / md["name"],
    )


class InterLinkBridge:
    """Runs one `SiteBridge` per virtual node (and local plugins); a `LogSource`."""

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        sites: dict[str, str] | None = None,
        status_period: float = 2.0,
        ping_period: float = 2.0,
        timeout: float = 5.0,
        local_plugins: bool = True,
    ) -> None:
        self.state_dir = (
            Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="devstack-interlink-"))
        )
        self.external = dict(sites or {})
        self.status_period = status_period
        self.ping_period = ping_period
        self.timeout = timeout
        self.local_plugins = local_plugins
        self.plugins: dict[str, LocalPlugin] = {}  # by node name
        self.bridges: dict[str, SiteBridge] = {}  # by node name
        self.store: Any = None
        self.http: aiohttp.ClientSession | None = None
        self._informers: list[Informer] = []

    @property
    def urls(self) -> dict[str, str]:
        """Each virtual node's plugin URL."""
        return {name: b.url for name, b in self.bridges.items()}

    async def start(self, store: Any) -> None:
        """Start local plugins, the bridges and the pod watch."""
        self.store = store
        nodes = [n for n in store.list("nodes")[0] if is_virtual(n)]
        unknown = set(self.external) - {n["metadata"]["name"] for n in nodes}
        if unknown:
            raise ValueError(f"--site names no virtual node: {', '.join(sorted(unknown))}")
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        try:
            await self._start(store, nodes)
        except BaseException:
            await self.stop()
            raise

    async def _start(self, store: Any, nodes: list[Obj]) -> None:
        for node in nodes:
            name = node["metadata"]["name"]
            url = self.external.get(name)
            if url is None and self.local_plugins:
                plugin = LocalPlugin(site_settings(node, self.state_dir))
                await plugin.start()
                self.plugins[name] = plugin
                url = plugin.url
            if url is None:
                continue
            bridge = SiteBridge(self, name, url.rstrip("/"))
            self.bridges[name] = bridge
        self._informers = [Informer(store, "pods", self._on_pod)]
        for inf in self._informers:
            inf.start()
            await inf.synced.wait()
        for bridge in self.bridges.values():
            bridge.start()
        store.register_log_source(self)

    async def stop(self) -> None:
        """Stop the bridges, then the local plugins (killing their jobs)."""
        if self.store is not None:
            with contextlib.suppress(Exception):
                self.store.unregister_log_source(self)
        for inf in self._informers:
            await inf.stop()
        for bridge in self.bridges.values():
            await bridge.stop()
        for plugin in self.plugins.values():
            await plugin.stop()
        if self.http is not None:
            await self.http.close()

    def _on_pod(self, etype: str, obj: Obj) -> None:
        node = (obj.get("spec") or {}).get("nodeName") or ""
        bridge = self.bridges.get(node)
        if bridge is not None:
            bridge.on_pod(etype, obj)

    # -- LogSource -----------------------------------------------------------------------
    def _bridge_of(self, namespace: str, pod: str) -> SiteBridge | None:
        for bridge in self.bridges.values():
            if bridge.find(namespace, pod) is not None:
                return bridge
        return None

    def has_pod(self, namespace: str, pod: str) -> bool:
        """Whether the pod runs on one of the bridged virtual nodes."""
        return self._bridge_of(namespace, pod) is not None

    async def read_logs(
        self,
        namespace: str,
        pod: str,
        container: str,
        *,
        follow: bool = False,
        tail_lines: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
        previous: bool = False,
        limit_bytes: int | None = None,
    ) -> AsyncIterator[bytes]:
        """`kubectl logs` through the site's `/getLogs`."""
        bridge = self._bridge_of(namespace, pod)
        if bridge is None:
            raise bad_request(f'pods "{pod}" not found')
        async for chunk in bridge.logs(
            namespace,
            pod,
            container,
            follow=follow,
            tail=tail_lines or 0,
            since_seconds=since_seconds or 0,
            timestamps=timestamps,
            previous=previous,
            limit_bytes=limit_bytes or 0,
        ):
            yield chunk
