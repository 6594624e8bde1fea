"""`RootCaPublisher`: the `kube-root-ca.crt` ConfigMap in every namespace.

As kube-controller-manager's root-ca-cert-publisher, it writes the CA that signed the API
server's certificate as `ca.crt`, puts it back when deleted or changed, and skips
namespaces being terminated. Pods read it through their token volume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.serviceaccounts import ROOT_CA_CONFIGMAP
from devstack.controllers.informer import Informer, Obj

log = logging.getLogger(__name__)
DESCRIPTION_KEY = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using "
    "internal endpoints such as the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of Kubernetes clusters."
)


class RootCaPublisher:
    """Keeps `kube-root-ca.crt` (data `ca.crt`) in every active namespace."""

    def __init__(self, ca_pem: str = "") -> None:
        self.ca_pem = ca_pem
        self.store: Any = None
        self._informers: list[Informer] = []
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self, store: Any) -> None:
        """Watch namespaces and the published ConfigMaps; sync each namespace on change."""
        self.store = store
        self._informers = [
            Informer(store, "namespaces", self._on_namespace),
            Informer(
                store,
                "configmaps",
                self._on_configmap,
                field_selector=f"metadata.name={ROOT_CA_CONFIGMAP}",
            ),
        ]
        self._task = asyncio.create_task(self._loop(), name="root-ca-publisher")
        for informer in self._informers:
            informer.start()
            await informer.synced.wait()

    async def stop(self) -> None:
        """Stop watching and syncing."""
        for informer in self._informers:
            await informer.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def _on_namespace(self, etype: str, obj: Obj) -> None:
        if etype != "DELETED":
            self._queue.put_nowait(obj["metadata"]["name"])

    def _on_configmap(self, etype: str, obj: Obj) -> None:
        self._queue.put_nowait(obj["metadata"].get("namespace", ""))

    async def _loop(self) -> None:
        while True:
            ns = await self._queue.get()
            try:
                await self._sync(ns)
            except ApiError as exc:
                log.debug("kube-root-ca.crt in %s: %s", ns, exc)
            except Exception:
                log.exception("publishing kube-root-ca.crt in %s failed", ns)

    async def _sync(self, ns: str) -> None:
        namespace = self.store._data["namespaces"].get(("", ns))
        if namespace is None or namespace["metadata"].get("deletionTimestamp"):
            return
        current = self.store._data["configmaps"].get((ns, ROOT_CA_CONFIGMAP))
        wanted = {"ca.crt": self.ca_pem}
        if current is None:
            with contextlib.suppress(ApiError):
                await self.store.create(
                    "configmaps",
                    {
                        "metadata": {
                            "name": ROOT_CA_CONFIGMAP,
                            "annotations": {DESCRIPTION_KEY: DESCRIPTION},
                        },
                        "data": wanted,
                    },
                    namespace=ns,
                )
        elif current.get("data") != wanted:
            fixed = {**current, "data": wanted}
            await self.store.replace("configmaps", fixed, namespace=ns)
