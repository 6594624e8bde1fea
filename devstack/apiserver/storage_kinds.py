"""Defaulting, admission and validation of PersistentVolumeClaims, PersistentVolumes and
StorageClasses, with the real API server's field paths and messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from devstack.apiserver.errors import QUANTITY_ERROR, Cause
from hub_ext.quantity import is_quantity

if TYPE_CHECKING:
    from devstack.apiserver.store import ObjectStore

Obj = dict[str, Any]

DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
PVC_PROTECTION = "kubernetes.io/pvc-protection"
PV_PROTECTION = "kubernetes.io/pv-protection"
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
# PV sources devstack can serve as directories (the rest are accepted and never mounted).
PV_SOURCES = (
    "hostPath",
    "local",
    "nfs",
    "csi",
    "iscsi",
    "cephfs",
    "rbd",
    "fc",
    "azureFile",
    "azureDisk",
    "gcePersistentDisk",
    "awsElasticBlockStore",
)


def is_default_class(sc: Obj) -> bool:
    """True when a StorageClass carries the default-class annotation set to true."""
    annotations = (sc.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(DEFAULT_CLASS_ANNOTATION, "")).lower() == "true"


def default_class_name(store: ObjectStore) -> str | None:
    """The default StorageClass (the newest when several are marked), or None."""
    marked = [sc for sc in store._data["storageclasses"].values() if is_default_class(sc)]
    if not marked:
        return None
    newest = max(
        marked,
        key=lambda sc: (sc["metadata"].get("creationTimestamp", ""), sc["metadata"]["name"]),
    )
    return str(newest["metadata"]["name"])


def _add_finalizer(obj: Obj, name: str) -> None:
    finalizers = obj["metadata"].setdefault("finalizers", [])
    if isinstance(finalizers, list) and name not in finalizers:
        finalizers.append(name)


def create_defaults(plural: str, obj: Obj, store: ObjectStore) -> None:
    """Defaults and admission (DefaultStorageClass, StorageObjectInUseProtection) on create."""
    spec = obj.setdefault("spec", {}) if plural != "storageclasses" else None
    if plural == "persistentvolumeclaims" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
        if "storageClassName" not in spec:
            default = default_class_name(store)
            if default is not None:
                spec["storageClassName"] = default
        _add_finalizer(obj, PVC_PROTECTION)
        obj["status"] = {"phase": "Pending"}
    elif plural == "persistentvolumes" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
        spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
        _add_finalizer(obj, PV_PROTECTION)
        obj["status"] = {"phase": "Pending"}
    elif plural == "storageclasses":
        obj.setdefault("reclaimPolicy", "Delete")
        obj.setdefault("volumeBindingMode", "Immediate")


def _access_mode_causes(path: str, modes: Any) -> list[Cause]:
    from devstack.apiserver.validation import required, unsupported_cause

    if not modes:
        return [required(path, "at least 1 access mode is required")]
    supported = list(ACCESS_MODES)
    causes = [unsupported_cause(path, m, supported) for m in modes if m not in supported]
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        causes.append(
            Cause(
                "FieldValueForbidden",
                "Forbidden: may not use ReadWriteOncePod with other access modes",
                path,
            )
        )
    return causes


def create_causes(plural: str, obj: Obj) -> list[Cause]:
    """Field errors of a new (or replaced) PVC, PV or StorageClass."""
    from devstack.apiserver.validation import invalid_cause, required, unsupported_cause

    causes: list[Cause] = []
    if plural == "persistentvolumeclaims":
        spec = obj.get("spec") or {}
        causes += _access_mode_causes("spec.accessModes", spec.get("accessModes"))
        storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
        if storage is None:
            causes.append(required("spec.resources[storage]"))
        elif not is_quantity(storage):
            causes.append(invalid_cause("spec.resources[storage]", storage, QUANTITY_ERROR))
    elif plural == "persistentvolumes":
        spec = obj.get("spec") or {}
        causes += _access_mode_causes("spec.accessModes", spec.get("accessModes"))
        storage = (spec.get("capacity") or {}).get("storage")
        if storage is None:
            causes.append(required("spec.capacity"))
        elif not is_quantity(storage):
            causes.append(invalid_cause("spec.capacity[storage]", storage, QUANTITY_ERROR))
        if not any(spec.get(source) for source in PV_SOURCES):
            causes.append(required("spec", "must specify a volume type"))
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy not in RECLAIM_POLICIES:
            causes.append(
                unsupported_cause(
                    "spec.persistentVolumeReclaimPolicy", policy, list(RECLAIM_POLICIES)
                )
            )
    elif plural == "storageclasses":
        if not obj.get("provisioner"):
            causes.append(required("provisioner"))
        if obj.get("reclaimPolicy") not in ("Delete", "Retain"):
            causes.append(
                unsupported_cause("reclaimPolicy", obj.get("reclaimPolicy"), ["Delete", "Retain"])
            )
        if obj.get("volumeBindingMode") not in BINDING_MODES:
            causes.append(
                unsupported_cause(
                    "volumeBindingMode", obj.get("volumeBindingMode"), list(BINDING_MODES)
                )
            )
    return causes


def update_causes(plural: str, new: Obj, old: Obj) -> list[Cause]:
    """Immutability errors of an update (the binder may set a claim's volumeName once)."""
    from devstack.apiserver.validation import forbidden_cause

    causes: list[Cause] = []
    if plural == "persistentvolumeclaims":
        ospec, nspec = dict(old.get("spec") or {}), dict(new.get("spec") or {})
        for spec in (ospec, nspec):
            spec.pop("resources", None)
        if not ospec.get("volumeName"):
            ospec.pop("volumeName", None)
            nspec.pop("volumeName", None)
        if ospec != nspec:
            causes.append(
                forbidden_cause(
                    "spec",
                    "spec is immutable after creation except "
                    "resources.requests and volumeAttributesClassName for "
                    "bound claims",
                )
            )
    elif plural == "storageclasses":
        for key in ("parameters", "provisioner", "reclaimPolicy", "volumeBindingMode"):
            if old.get(key) != new.get(key):
                causes.append(forbidden_cause(key, f"updates to {key} are forbidden."))
    return causes
