"""Pure volume facts the storage controller and the scheduler share: which claims a pod
uses, whether a pod counts as using them, and which PersistentVolume fits a claim."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from hub_ext.quantity import QuantityError, parse_quantity

Obj = Mapping[str, Any]


def claim_names(pod: Obj) -> list[str]:
    """The claimNames of a pod's `persistentVolumeClaim` volumes, in order."""
    out: list[str] = []
    for volume in (pod.get("spec") or {}).get("volumes") or []:
        source = volume.get("persistentVolumeClaim")
        if isinstance(source, Mapping) and source.get("claimName"):
            out.append(str(source["claimName"]))
    return out


def pod_uses_claim(pod: Obj, namespace: str, claim: str) -> bool:
    """A scheduled pod that has not finished and names the claim (pvc-protection's rule)."""
    md = pod.get("metadata") or {}
    if md.get("namespace") != namespace or not (pod.get("spec") or {}).get("nodeName"):
        return False
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return False
    return claim in claim_names(pod)


def requested_storage(pvc: Obj) -> int:
    """The claim's storage request in bytes (0 when absent or malformed)."""
    raw = (((pvc.get("spec") or {}).get("resources") or {}).get("requests") or {}).get("storage")
    try:
        return int(parse_quantity(raw)) if raw is not None else 0
    except QuantityError:
        return 0


def pv_capacity(pv: Obj) -> int:
    """A volume's capacity in bytes (0 when absent or malformed)."""
    raw = ((pv.get("spec") or {}).get("capacity") or {}).get("storage")
    try:
        return int(parse_quantity(raw)) if raw is not None else 0
    except QuantityError:
        return 0


def _claim_ref_matches(pv: Obj, pvc: Obj) -> bool:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    if not ref:
        return True
    md = pvc.get("metadata") or {}
    return (
        ref.get("namespace") == md.get("namespace")
        and ref.get("name") == md.get("name")
        and ref.get("uid") in (None, "", md.get("uid"))
    )


def fits(pv: Obj, pvc: Obj) -> bool:
    """Whether an Available volume can satisfy the claim (class, mode, access, size)."""
    spec, cspec = pv.get("spec") or {}, pvc.get("spec") or {}
    if (pv.get("status") or {}).get("phase") not in ("Available", "Pending"):
        return False
    if (pv.get("metadata") or {}).get("deletionTimestamp"):
        return False
    if spec.get("storageClassName", "") != cspec.get("storageClassName", ""):
        return False
    if spec.get("volumeMode", "Filesystem") != cspec.get("volumeMode", "Filesystem"):
        return False
    if not set(cspec.get("accessModes") or []) <= set(spec.get("accessModes") or []):
        return False
    return pv_capacity(pv) >= requested_storage(pvc) and _claim_ref_matches(pv, pvc)


def best_volume(volumes: Iterable[Obj], pvc: Obj) -> Obj | None:
    """The smallest fitting volume, preferring one pre-bound to this claim."""
    candidates = [pv for pv in volumes if fits(pv, pvc)]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda pv: (
            not (pv.get("spec") or {}).get("claimRef"),
            pv_capacity(pv),
            (pv.get("metadata") or {}).get("name", ""),
        ),
    )
