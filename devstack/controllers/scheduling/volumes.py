"""The VolumeBinding pre-filter: a pod whose claims are missing, being deleted or unbound
(with Immediate binding) fits no node, in the real scheduler's words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack.controllers.storage_match import claim_names

UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"


def claims_problem(
    pod: Mapping[str, Any],
    claims: Mapping[str, Mapping[str, Any]],
    classes: Mapping[str, Mapping[str, Any]],
) -> str | None:
    """Why the pod's claims keep it off every node, or None. `claims` is keyed `ns/name`."""
    namespace = (pod.get("metadata") or {}).get("namespace", "default")
    unbound_immediate = False
    for name in claim_names(pod):
        pvc = claims.get(f"{namespace}/{name}")
        if pvc is None:
            return f'persistentvolumeclaim "{name}" not found'
        if (pvc.get("metadata") or {}).get("deletionTimestamp"):
            return f'persistentvolumeclaim "{name}" is being deleted'
        if (pvc.get("status") or {}).get("phase") == "Bound":
            continue
        sc = classes.get((pvc.get("spec") or {}).get("storageClassName") or "") or {}
        if sc.get("volumeBindingMode") != "WaitForFirstConsumer":
            unbound_immediate = True
    return UNBOUND_IMMEDIATE if unbound_immediate else None
