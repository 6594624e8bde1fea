"""DaemonSets (one pod per fitting node) and StatefulSets (ordinal pods `<name>-<i>`),
reconciled by `AppsController`."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from devstack.apiserver.errors import ApiError
from devstack.controllers.apps import (
    Obj,
    is_active,
    is_ready,
    owner_ref,
    template_hash,
    write_status,
)
from devstack.controllers.scheduling.predicates import untolerated

NOT_READY_TOLERATIONS = [
    {"key": key, "operator": "Exists", "effect": "NoExecute"}
    for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
] + [
    {"key": f"node.kubernetes.io/{key}", "operator": "Exists", "effect": "NoSchedule"}
    for key in ("disk-pressure", "memory-pressure", "pid-pressure", "unschedulable")
]


def _pod(owner: Obj, kind: str, template: Obj, name: str = "", prefix: str = "") -> Obj:
    tmd = template.get("metadata") or {}
    md: Obj = {
        "labels": dict(tmd.get("labels") or {}),
        "annotations": dict(tmd.get("annotations") or {}),
        "ownerReferences": [owner_ref("apps/v1", kind, owner)],
    }
    if name:
        md["name"] = name
    else:
        md["generateName"] = prefix
    return {"metadata": md, "spec": json.loads(json.dumps(template.get("spec") or {}))}


def node_fits(node: Obj, spec: Obj) -> bool:
    """The template's node selector matches and its tolerations cover NoSchedule taints."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = [*(spec.get("tolerations") or []), *NOT_READY_TOLERATIONS]
    return not untolerated(taints, tolerations, ("NoSchedule", "NoExecute"))


async def reconcile_daemonset(store: Any, ds: Obj, pods: list[Obj]) -> None:
    """One pod per fitting node, pinned with a `metadata.name` node-affinity field."""
    md, spec = ds["metadata"], ds.get("spec") or {}
    template = spec.get("template") or {}
    digest = template_hash(template)
    nodes = [n for n in store._data["nodes"].values() if node_fits(n, template.get("spec") or {})]
    wanted = {n["metadata"]["name"] for n in nodes}
    by_node: dict[str, list[Obj]] = {}
    for pod in pods:
        if is_active(pod):
            by_node.setdefault(_target(pod), []).append(pod)
    for node, have in by_node.items():
        stale = have if node not in wanted else [
            p for p in have if (p["metadata"].get("labels") or {}).get(HASH) != digest
        ]  # fmt: skip
        for pod in stale:
            with contextlib.suppress(ApiError):
                await store.delete("pods", pod["metadata"]["name"], md["namespace"])
    for node in sorted(wanted):
        current = [p for p in by_node.get(node, []) if p["metadata"]["labels"].get(HASH) == digest]
        if current:
            continue
        pod = _pod(ds, "DaemonSet", template, prefix=f"{md['name']}-")
        pod["metadata"]["labels"][HASH] = digest
        pspec = pod["spec"]
        pspec["tolerations"] = [*(pspec.get("tolerations") or []), *NOT_READY_TOLERATIONS]
        term = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
        pspec["affinity"] = {
            **(pspec.get("affinity") or {}),
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            },
        }
        with contextlib.suppress(ApiError):
            await store.create("pods", pod, namespace=md["namespace"])
    placed = [p for p in pods if is_active(p) and _target(p) in wanted]
    updated = [p for p in placed if (p["metadata"].get("labels") or {}).get(HASH) == digest]
    ready = sum(1 for p in updated if is_ready(p))
    await write_status(
        store,
        "daemonsets",
        ds,
        {
            "desiredNumberScheduled": len(wanted),
            "currentNumberScheduled": len({_target(p) for p in placed}),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "numberAvailable": ready,
            "updatedNumberScheduled": len(updated),
            "numberUnavailable": max(len(wanted) - ready, 0),
            "observedGeneration": md.get("generation", 1),
        },
        keep_zero=("desiredNumberScheduled", "currentNumberScheduled", "numberMisscheduled"),
    )


HASH = "controller-revision-hash"


def _target(pod: Obj) -> str:
    terms = (((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution", {}
    ).get("nodeSelectorTerms") or []
    for term in terms:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("values"):
                return str(field["values"][0])
    return str((pod.get("spec") or {}).get("nodeName") or "")


async def reconcile_statefulset(store: Any, sts: Obj, pods: list[Obj]) -> None:
    """Pods `<name>-0..n-1`, made in order (each after the previous is Ready) unless
    `podManagementPolicy: Parallel`; removed from the highest ordinal down."""
    md, spec = sts["metadata"], sts.get("spec") or {}
    ns, name = md["namespace"], md["name"]
    wanted = int(spec["replicas"]) if spec.get("replicas") is not None else 1
    template = spec.get("template") or {}
    revision = f"{name}-{template_hash(template)}"
    parallel = spec.get("podManagementPolicy") == "Parallel"
    by_ordinal = {
        int(p["metadata"]["name"].rsplit("-", 1)[1]): p
        for p in pods
        if p["metadata"]["name"].rsplit("-", 1)[-1].isdigit()
    }
    for ordinal in range(wanted):
        pod = by_ordinal.get(ordinal)
        if pod is not None:
            if not parallel and not (is_active(pod) and is_ready(pod)):
                break
            continue
        body = _pod(sts, "StatefulSet", template, name=f"{name}-{ordinal}")
        body["metadata"]["labels"].update(
            {
                HASH: revision,
                "statefulset.kubernetes.io/pod-name": f"{name}-{ordinal}",
                "apps.kubernetes.io/pod-index": str(ordinal),
            }
        )
        body["spec"]["hostname"] = f"{name}-{ordinal}"
        if spec.get("serviceName"):
            body["spec"]["subdomain"] = spec["serviceName"]
        for claim in spec.get("volumeClaimTemplates") or []:
            claim_name = f"{claim['metadata']['name']}-{name}-{ordinal}"
            pvc = {
                "metadata": {
                    "name": claim_name,
                    "labels": dict(template.get("metadata", {}).get("labels") or {}),
                },
                "spec": json.loads(json.dumps(claim.get("spec") or {})),
            }
            with contextlib.suppress(ApiError):
                await store.create("persistentvolumeclaims", pvc, namespace=ns)
            body["spec"].setdefault("volumes", []).append(
                {
                    "name": claim["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": claim_name},
                }
            )
        with contextlib.suppress(ApiError):
            await store.create("pods", body, namespace=ns)
        if not parallel:
            break
    extra = sorted((o for o in by_ordinal if o >= wanted), reverse=True)
    for ordinal in extra if parallel else extra[:1]:
        pod = by_ordinal[ordinal]
        if not pod["metadata"].get("deletionTimestamp"):
            with contextlib.suppress(ApiError):
                await store.delete("pods", pod["metadata"]["name"], ns)
    active = [p for p in pods if is_active(p)]
    ready = sum(1 for p in active if is_ready(p))
    await write_status(
        store,
        "statefulsets",
        sts,
        {
            "replicas": len(active),
            "readyReplicas": ready,
            "currentReplicas": len(active),
            "updatedReplicas": len(active),
            "availableReplicas": ready,
            "currentRevision": revision,
            "updateRevision": revision,
            "observedGeneration": md.get("generation", 1),
            "collisionCount": 0,
        },
    )
