"""apps/v1 controllers: Deployments make ReplicaSets, ReplicaSets (and v1
ReplicationControllers) keep their pods, as kube-controller-manager does.

A Deployment's template hashes to a `pod-template-hash`; its ReplicaSet
`<deployment>-<hash>` gets the wanted replicas and older ReplicaSets go to zero (the
rollout replaces all pods at once, within the rolling-update bounds' spirit, not step by
step). Status fields and conditions are the ones `kubectl rollout status` and
`kubectl get deploy` read. State is read from the store itself, so a pod just created
is never created twice; informers only wake the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.apiserver.meta import timestamp
from devstack.controllers.informer import Informer, Obj

log = logging.getLogger(__name__)
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
#: resource -> (apiVersion, kind) of the owners whose pods this controller keeps.
POD_OWNERS = {
    "replicasets": ("apps/v1", "ReplicaSet"),
    "replicationcontrollers": ("v1", "ReplicationController"),
}


def template_hash(template: Obj) -> str:
    """A stable short hash of a pod template, in apimachinery's safe alphabet."""
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:10])


def controller_uid(obj: Obj) -> str | None:
    """The uid of the object's controlling owner."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def owner_ref(api_version: str, kind: str, owner: Obj) -> Obj:
    """A controlling ownerReference to `owner`."""
    md = owner["metadata"]
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": md["name"],
        "uid": md["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_active(pod: Obj) -> bool:
    """Counted by its owner: not terminating and not finished."""
    return not pod["metadata"].get("deletionTimestamp") and (pod.get("status") or {}).get(
        "phase"
    ) not in ("Succeeded", "Failed")


def is_ready(pod: Obj) -> bool:
    """The pod's Ready condition is True."""
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _condition(old: list[Obj], ctype: str, ok: bool, reason: str, message: str) -> Obj:
    now = timestamp()
    prev = next((c for c in old if c.get("type") == ctype), None)
    status = "True" if ok else "False"
    same = prev is not None and prev.get("status") == status
    kept = prev if same and prev is not None else {}
    return {
        "type": ctype,
        "status": status,
        "lastUpdateTime": kept.get("lastUpdateTime", now) if kept.get("reason") == reason else now,
        "lastTransitionTime": kept.get("lastTransitionTime", now),
        "reason": reason,
        "message": message,
    }


async def write_status(
    store: Any, resource: str, obj: Obj, status: Obj, keep_zero: tuple[str, ...] = ("replicas",)
) -> None:
    """Merge-patch the status when it changed; zero values are omitted, as Go's omitempty."""
    current = obj.get("status") or {}
    for key, value in list(status.items()):
        if value in (0, [], None) and key not in keep_zero:
            status[key] = None
    if all(current.get(k) == v for k, v in status.items()):
        return
    with contextlib.suppress(ApiError):
        await store.patch(
            resource,
            obj["metadata"]["name"],
            {"status": status},
            "merge",
            namespace=obj["metadata"]["namespace"],
            subresource="status",
        )


class AppsController:
    """Reconciles Deployments, ReplicaSets and ReplicationControllers."""

    def __init__(self) -> None:
        self.store: Any = None
        self._informers: list[Informer] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, store: Any) -> None:
        """Watch the kinds and their pods; reconcile on every change."""
        self.store = store
        for resource in (
            "deployments",
            "replicasets",
            "replicationcontrollers",
            "statefulsets",
            "daemonsets",
            "nodes",
            "pods",
        ):
            informer = Informer(store, resource, lambda _t, _o: self._wake.set())
            informer.start()
            await informer.synced.wait()
            self._informers.append(informer)
        self._task = asyncio.create_task(self._loop(), name="apps-controller")
        self._wake.set()

    async def stop(self) -> None:
        """Stop reconciling."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for informer in self._informers:
            await informer.stop()

    async def _loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("apps reconcile failed")
            await asyncio.sleep(0.05)  # coalesce bursts

    def _all(self, resource: str) -> list[Obj]:
        return list(self.store._data[resource].values())

    async def reconcile(self) -> None:
        """One pass over every Deployment, then every pod owner."""
        for deployment in self._all("deployments"):
            if not deployment["metadata"].get("deletionTimestamp"):
                await self._deployment(deployment)
        pods: dict[str, list[Obj]] = {}
        for pod in self._all("pods"):
            uid = controller_uid(pod)
            if uid:
                pods.setdefault(uid, []).append(pod)
        for resource, (api_version, kind) in POD_OWNERS.items():
            for owner in self._all(resource):
                if not owner["metadata"].get("deletionTimestamp"):
                    await self._replicas(resource, api_version, kind, owner, pods)
        from devstack.controllers.apps_sets import reconcile_daemonset, reconcile_statefulset

        for resource, reconcile in (
            ("daemonsets", reconcile_daemonset),
            ("statefulsets", reconcile_statefulset),
        ):
            for owner in self._all(resource):
                if not owner["metadata"].get("deletionTimestamp"):
                    await reconcile(self.store, owner, pods.get(owner["metadata"]["uid"], []))

    # -- ReplicaSets and ReplicationControllers ----------------------------------------------
    async def _replicas(
        self, resource: str, api_version: str, kind: str, owner: Obj, by_owner: dict[str, list[Obj]]
    ) -> None:
        md, spec = owner["metadata"], owner.get("spec") or {}
        active = [p for p in by_owner.get(md["uid"], []) if is_active(p)]
        wanted = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
        template = spec.get("template") or {}
        for _ in range(wanted - len(active)):
            tmd = template.get("metadata") or {}
            pod = {
                "metadata": {
                    "generateName": f"{md['name']}-",
                    "labels": dict(tmd.get("labels") or {}),
                    "annotations": dict(tmd.get("annotations") or {}),
                    "ownerReferences": [owner_ref(api_version, kind, owner)],
                },
                "spec": json.loads(json.dumps(template.get("spec") or {})),
            }
            try:
                created = await self.store.create("pods", pod, namespace=md["namespace"])
            except ApiError as exc:
                log.info("%s %s: pod not created: %s", kind, md["name"], exc.message)
                break
            active.append(created)
        if len(active) > wanted:
            # Pending and not-ready pods go first, then the newest.
            active.sort(key=lambda p: (is_ready(p), p["metadata"].get("creationTimestamp", "")))
            for pod in active[: len(active) - wanted]:
                with contextlib.suppress(ApiError):
                    await self.store.delete("pods", pod["metadata"]["name"], md["namespace"])
            active = active[len(active) - wanted :]
        ready = sum(1 for p in active if is_ready(p))
        status = {
            "replicas": len(active),
            "fullyLabeledReplicas": len(active),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "observedGeneration": md.get("generation", 1),
        }
        await write_status(self.store, resource, owner, status)

    # -- Deployments -----------------------------------------------------------------------
    async def _deployment(self, deployment: Obj) -> None:
        md, spec = deployment["metadata"], deployment.get("spec") or {}
        ns = md["namespace"]
        wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
        template = json.loads(json.dumps(spec.get("template") or {}))
        digest = template_hash(template)
        name = f"{md['name']}-{digest}"
        owned = [
            rs
            for rs in self._all("replicasets")
            if rs["metadata"]["namespace"] == ns and controller_uid(rs) == md["uid"]
        ]
        new = next((rs for rs in owned if rs["metadata"]["name"] == name), None)
        if new is None:
            revision = 1 + max(
                (int((rs["metadata"].get("annotations") or {}).get(REVISION, 0)) for rs in owned),
                default=0,
            )
            tmd = template.setdefault("metadata", {})
            tmd["labels"] = {**(tmd.get("labels") or {}), HASH_LABEL: digest}
            selector = json.loads(json.dumps(spec.get("selector") or {}))
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: digest}
            body = {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": name,
                    "labels": dict(tmd["labels"]),
                    "annotations": {
                        REVISION: str(revision),
                        "deployment.kubernetes.io/desired-replicas": str(wanted),
                    },
                    "ownerReferences": [owner_ref("apps/v1", "Deployment", deployment)],
                },
                "spec": {"replicas": wanted, "selector": selector, "template": template},
            }
            try:
                new = await self.store.create("replicasets", body, namespace=ns)
            except ApiError as exc:
                log.info("deployment %s: replicaset not created: %s", md["name"], exc.message)
                return
        elif (new.get("spec") or {}).get("replicas") != wanted:
            new = await self._scale("replicasets", new, wanted)
        for old in owned:
            if old["metadata"]["name"] != name and (old.get("spec") or {}).get("replicas"):
                await self._scale("replicasets", old, 0)
        await self._deployment_status(deployment, wanted, new, owned)

    async def _scale(self, resource: str, obj: Obj, replicas: int) -> Obj:
        try:
            patched: Obj = await self.store.patch(
                resource,
                obj["metadata"]["name"],
                {"spec": {"replicas": replicas}},
                "merge",
                namespace=obj["metadata"]["namespace"],
            )
            return patched
        except ApiError:
            return obj

    async def _deployment_status(
        self, deployment: Obj, wanted: int, new: Obj, owned: list[Obj]
    ) -> None:
        md = deployment["metadata"]
        pods = [
            p
            for p in self._all("pods")
            if p["metadata"]["namespace"] == md["namespace"] and is_active(p)
        ]
        by_rs: dict[str, list[Obj]] = {}
        for pod in pods:
            by_rs.setdefault(controller_uid(pod) or "", []).append(pod)
        rs_uids = {rs["metadata"]["uid"] for rs in owned} | {new["metadata"]["uid"]}
        mine = [p for uid in rs_uids for p in by_rs.get(uid, [])]
        updated = by_rs.get(new["metadata"]["uid"], [])
        available = sum(1 for p in mine if is_ready(p))
        old_conditions = (deployment.get("status") or {}).get("conditions") or []
        rs_name = new["metadata"]["name"]
        done = len(updated) == wanted == len(mine) and available == wanted
        conditions = [
            _condition(
                old_conditions,
                "Available",
                available >= wanted,
                "MinimumReplicasAvailable" if available >= wanted else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available >= wanted
                else "Deployment does not have minimum availability.",
            ),
            _condition(
                old_conditions,
                "Progressing",
                True,
                "NewReplicaSetAvailable" if done else "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" has successfully progressed.'
                if done
                else f'ReplicaSet "{rs_name}" is progressing.',
            ),
        ]
        status = {
            "observedGeneration": md.get("generation", 1),
            "replicas": len(mine),
            "updatedReplicas": len(updated),
            "readyReplicas": available,
            "availableReplicas": available,
            "unavailableReplicas": max(len(mine) - available, 0),
        }
        current = deployment.get("status") or {}
        same_conditions = [
            (c.get("type"), c.get("status"), c.get("reason"))
            for c in current.get("conditions") or []
        ] == [(c["type"], c["status"], c["reason"]) for c in conditions]
        if not same_conditions:
            status["conditions"] = conditions
        await write_status(self.store, "deployments", deployment, status)
