"""`StorageController`: the PersistentVolume binder, a local-path provisioner, the
reclaimer and the PVC/PV protection controllers, in one level-triggered loop.

Claims of a class whose provisioner is `devstack.accelhub/local-path` get a directory
`<state_dir>/<pv>_<namespace>_<claim>` and a hostPath PersistentVolume for it. Every
devstack node is the same machine, so these volumes are shared by all nodes (like an NFS
provisioner's) and carry no node affinity. Events use Kubernetes' own reasons and words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.storage_kinds import PV_PROTECTION, PVC_PROTECTION
from devstack.cluster import PROVISIONER
from devstack.controllers.events import record_event
from devstack.controllers.informer import Informer, Obj
from devstack.controllers.storage_match import best_volume, claim_names, pod_uses_claim

log = logging.getLogger(__name__)
BINDER = "persistentvolume-controller"
PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"


class StorageController:
    """Binds claims to volumes, provisions, reclaims and guards claims in use."""

    def __init__(self, state_dir: Path, *, provisioner: str = PROVISIONER) -> None:
        self.state_dir = Path(state_dir)
        self.provisioner = provisioner
        self.store: Any = None
        self._informers: dict[str, Informer] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._said: dict[str, tuple[str, str]] = {}  # uid -> last (reason, message)

    async def start(self, store: Any) -> None:
        """List and watch classes, claims, volumes and pods, then start reconciling."""
        self.store = store
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for resource in ("storageclasses", "persistentvolumeclaims", "persistentvolumes", "pods"):
            inf = Informer(store, resource, lambda _t, _o: self._wake.set())
            inf.start()
            await inf.synced.wait()
            self._informers[resource] = inf
        self._task = asyncio.create_task(self._loop(), name="storage-controller")

    async def stop(self) -> None:
        """Stop the loop and the watches."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for inf in self._informers.values():
            await inf.stop()

    def _objects(self, resource: str) -> list[Obj]:
        # Read the store, not the informers' caches: those lag one another.
        items, _rv = self.store.list_raw(resource)
        return list(items)

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("storage reconcile failed")
                await asyncio.sleep(0.5)
                self._wake.set()

    async def reconcile(self) -> None:
        """One pass over every claim and volume."""
        classes = {sc["metadata"]["name"]: sc for sc in self._objects("storageclasses")}
        pods = self._objects("pods")
        for pvc in self._objects("persistentvolumeclaims"):
            await self._claim(pvc, classes, pods)
        claims = {
            (c["metadata"]["namespace"], c["metadata"]["name"]): c
            for c in self._objects("persistentvolumeclaims")
        }
        for pv in self._objects("persistentvolumes"):
            await self._volume(pv, claims)

    # -- claims ------------------------------------------------------------------------
    async def _claim(self, pvc: Obj, classes: dict[str, Obj], pods: list[Obj]) -> None:
        md = pvc["metadata"]
        if md.get("deletionTimestamp"):
            in_use = any(pod_uses_claim(p, md["namespace"], md["name"]) for p in pods)
            if not in_use and PVC_PROTECTION in (md.get("finalizers") or []):
                await self._drop_finalizer("persistentvolumeclaims", pvc, PVC_PROTECTION)
            return
        phase = (pvc.get("status") or {}).get("phase")
        volume_name = (pvc.get("spec") or {}).get("volumeName")
        volumes = {pv["metadata"]["name"]: pv for pv in self._objects("persistentvolumes")}
        if phase == "Bound":
            if volume_name not in volumes:
                await self._set_phase("persistentvolumeclaims", pvc, "Lost")
                await self._event(
                    pvc,
                    "ClaimLost",
                    "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
                    "Warning",
                )
            return
        if phase == "Lost":
            return
        if volume_name:
            pv = volumes.get(volume_name)
            if pv is not None and best_volume([pv], pvc) is not None:
                await self._bind(pvc, pv, by_controller=False)
            return
        match = best_volume(volumes.values(), pvc)
        if match is not None:
            await self._bind(pvc, dict(match), by_controller=True)
            return
        await self._provision_or_wait(pvc, classes, pods)

    async def _provision_or_wait(self, pvc: Obj, classes: dict[str, Obj], pods: list[Obj]) -> None:
        md = pvc["metadata"]
        class_name = (pvc.get("spec") or {}).get("storageClassName") or ""
        if not class_name:
            await self._event(
                pvc,
                "FailedBinding",
                "no persistent volumes available for this claim and no storage class is set",
            )
            return
        sc = classes.get(class_name)
        if sc is None:
            await self._event(
                pvc,
                "ProvisioningFailed",
                f'storageclass.storage.k8s.io "{class_name}" not found',
                "Warning",
            )
            return
        if sc.get("volumeBindingMode") == "WaitForFirstConsumer" and not any(
            md["name"] in claim_names(p)
            and p["metadata"].get("namespace") == md["namespace"]
            and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            for p in pods
        ):
            await self._event(
                pvc,
                "WaitForFirstConsumer",
                "waiting for first consumer to be created before binding",
            )
            return
        if sc.get("provisioner") != self.provisioner:
            await self._event(
                pvc,
                "ExternalProvisioning",
                "Waiting for a volume to be created either by the external provisioner "
                f"'{sc.get('provisioner')}' or manually by the system administrator. If volume "
                "creation is delayed, please verify that the provisioner is running and "
                "correctly registered.",
            )
            return
        await self._provision(pvc, sc)

    async def _provision(self, pvc: Obj, sc: Obj) -> None:
        md, spec = pvc["metadata"], pvc.get("spec") or {}
        name = f"pvc-{md['uid']}"
        await self._event(
            pvc,
            "Provisioning",
            f'External provisioner is provisioning volume for claim "{md["namespace"]}/'
            f'{md["name"]}"',
            component=self.provisioner,
        )
        path = self.state_dir / f"{name}_{md['namespace']}_{md['name']}"
        await asyncio.to_thread(path.mkdir, mode=0o777, parents=True, exist_ok=True)
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        pv = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: self.provisioner}},
            "spec": {
                "capacity": {"storage": storage},
                "accessModes": list(spec.get("accessModes") or []),
                "persistentVolumeReclaimPolicy": sc.get("reclaimPolicy") or "Delete",
                "storageClassName": sc["metadata"]["name"],
                "volumeMode": spec.get("volumeMode") or "Filesystem",
                "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                "claimRef": _claim_ref(pvc),
            },
        }
        try:
            created = await self.store.create("persistentvolumes", pv)
        except ApiError as exc:
            if exc.status != 409:
                await self._event(pvc, "ProvisioningFailed", str(exc), "Warning", self.provisioner)
                return
            created = await self.store.get("persistentvolumes", name)
        await self._event(
            pvc,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {name}",
            component=self.provisioner,
        )
        await self._bind(pvc, created, by_controller=True)

    async def _bind(self, pvc: Obj, pv: Obj, *, by_controller: bool) -> None:
        md, pv_name = pvc["metadata"], pv["metadata"]["name"]
        notes = {BIND_COMPLETED: "yes"}
        if by_controller:
            notes[BOUND_BY_CONTROLLER] = "yes"
        with contextlib.suppress(ApiError):
            if not (pv.get("spec") or {}).get("claimRef"):
                await self.store.patch(
                    "persistentvolumes",
                    pv_name,
                    {
                        "metadata": {"annotations": {BOUND_BY_CONTROLLER: "yes"}},
                        "spec": {"claimRef": _claim_ref(pvc)},
                    },
                    "merge",
                )
            await self._set_phase("persistentvolumes", pv, "Bound")
            await self.store.patch(
                "persistentvolumeclaims",
                md["name"],
                {"metadata": {"annotations": notes}, "spec": {"volumeName": pv_name}},
                "merge",
                namespace=md["namespace"],
            )
            spec = pv.get("spec") or {}
            await self.store.patch(
                "persistentvolumeclaims",
                md["name"],
                {
                    "status": {
                        "phase": "Bound",
                        "accessModes": spec.get("accessModes") or [],
                        "capacity": dict(spec.get("capacity") or {}),
                    }
                },
                "merge",
                namespace=md["namespace"],
                subresource="status",
            )
            log.info("bound %s/%s to %s", md["namespace"], md["name"], pv_name)

    # -- volumes -----------------------------------------------------------------------
    async def _volume(self, pv: Obj, claims: dict[tuple[str, str], Obj]) -> None:
        md, spec = pv["metadata"], pv.get("spec") or {}
        phase = (pv.get("status") or {}).get("phase")
        ref = spec.get("claimRef") or {}
        claim = claims.get((ref.get("namespace", ""), ref.get("name", ""))) if ref else None
        if claim is not None and ref.get("uid") not in (None, "", claim["metadata"]["uid"]):
            claim = None  # a new claim with the old name is not this volume's claim
        if md.get("deletionTimestamp"):
            if phase != "Bound" or claim is None:
                await self._drop_finalizer("persistentvolumes", pv, PV_PROTECTION)
            return
        if not ref:
            if phase != "Available":
                await self._set_phase("persistentvolumes", pv, "Available")
            return
        if claim is not None:
            if phase == "Pending" and (claim.get("spec") or {}).get("volumeName") == md["name"]:
                await self._set_phase("persistentvolumes", pv, "Bound")
            elif phase == "Pending":
                await self._set_phase("persistentvolumes", pv, "Available")
            return
        if phase in ("Bound", "Available", "Pending") and ref.get("uid"):
            await self._set_phase("persistentvolumes", pv, "Released")
            phase = "Released"
        if phase == "Released" and spec.get("persistentVolumeReclaimPolicy") == "Delete":
            await self._delete_volume(pv)

    async def _delete_volume(self, pv: Obj) -> None:
        md = pv["metadata"]
        if (md.get("annotations") or {}).get(PROVISIONED_BY) == self.provisioner:
            path = Path(str(((pv.get("spec") or {}).get("hostPath") or {}).get("path", "")))
            if path.parent == self.state_dir:
                await asyncio.to_thread(shutil.rmtree, path, True)
        with contextlib.suppress(ApiError):
            await self.store.delete("persistentvolumes", md["name"])
        log.info("deleted volume %s (reclaim policy Delete)", md["name"])

    # -- helpers -----------------------------------------------------------------------
    async def _set_phase(self, resource: str, obj: Obj, phase: str) -> None:
        md = obj["metadata"]
        with contextlib.suppress(ApiError):
            await self.store.patch(
                resource,
                md["name"],
                {"status": {"phase": phase}},
                "merge",
                namespace=md.get("namespace"),
                subresource="status",
            )

    async def _drop_finalizer(self, resource: str, obj: Obj, finalizer: str) -> None:
        md = obj["metadata"]
        rest = [f for f in md.get("finalizers") or [] if f != finalizer]
        with contextlib.suppress(ApiError):
            await self.store.patch(
                resource,
                md["name"],
                {"metadata": {"finalizers": rest or None}},
                "merge",
                namespace=md.get("namespace"),
            )

    async def _event(
        self,
        obj: Obj,
        reason: str,
        message: str,
        type: str = "Normal",
        component: str = BINDER,
    ) -> None:
        """Record an event, once per change of what is said about the object."""
        uid = str(obj["metadata"].get("uid", ""))
        if self._said.get(uid) == (reason, message):
            return
        self._said[uid] = (reason, message)
        await record_event(self.store, obj, reason, message, type=type, source_component=component)


def _claim_ref(pvc: Obj) -> dict[str, str]:
    md = pvc["metadata"]
    return {
        "kind": "PersistentVolumeClaim",
        "namespace": md["namespace"],
        "name": md["name"],
        "uid": md["uid"],
        "apiVersion": "v1",
        "resourceVersion": md.get("resourceVersion", ""),
    }
