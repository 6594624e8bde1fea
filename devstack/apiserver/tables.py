"""Server-side printing: `meta.k8s.io/v1 Table` responses that `kubectl get` asks for."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from typing import Any

from devstack.apiserver import apps_kinds
from devstack.apiserver.meta import now, parse_timestamp
from devstack.apiserver.storage_kinds import is_default_class

Obj = dict[str, Any]
Column = tuple[str, str, Callable[[Obj], Any]]


def wants_table(accept: str | None) -> bool:
    """Whether the Accept header asks for a Table (`as=Table;g=meta.k8s.io`)."""
    if not accept:
        return False
    first = accept.split(",")[0]
    return "as=Table" in first and "g=meta.k8s.io" in first


def age(obj: Obj) -> str:
    """Human age like kubectl: 5s, 3m, 2h, 4d."""
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    try:
        delta = now() - parse_timestamp(ts)
    except ValueError:
        return "<unknown>"
    return short_duration(delta)


def short_duration(delta: _dt.timedelta) -> str:
    """kubectl's duration.HumanDuration, simplified."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _pod_status(pod: Obj) -> str:
    md = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if md.get("deletionTimestamp"):
        return "Terminating"
    reason = status.get("reason") or status.get("phase") or "Pending"
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state and state["waiting"].get("reason"):
            reason = state["waiting"]["reason"]
        elif "terminated" in state and state["terminated"].get("reason"):
            reason = state["terminated"]["reason"]
    return str(reason)


def _pod_ready(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return f"{sum(1 for s in statuses if s.get('ready'))}/{len(containers)}"


def _restarts(pod: Obj) -> int:
    return sum(
        int(s.get("restartCount", 0))
        for s in (pod.get("status") or {}).get("containerStatuses") or []
    )


def _node_status(node: Obj) -> str:
    conds = (node.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    text = "Ready" if ready and ready.get("status") == "True" else "NotReady"
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    return text


def _node_roles(node: Obj) -> str:
    roles = [
        k.split("/", 1)[1]
        for k in ((node.get("metadata") or {}).get("labels") or {})
        if k.startswith("node-role.kubernetes.io/")
    ]
    return ",".join(sorted(roles)) or "<none>"


def _internal_ip(node: Obj) -> str:
    for addr in (node.get("status") or {}).get("addresses") or []:
        if addr.get("type") == "InternalIP":
            return str(addr.get("address", ""))
    return "<none>"


def _node_info(node: Obj, key: str) -> str:
    return str(((node.get("status") or {}).get("nodeInfo") or {}).get(key, ""))


# Columns after the first block are shown by `kubectl get -o wide` only.
WIDE_AFTER = {"Pod": 5, "Node": 5, "Service": 6, "PersistentVolumeClaim": 8, "PersistentVolume": 10}
_MODE_ABBREVIATIONS = (
    ("ReadWriteOnce", "RWO"),
    ("ReadOnlyMany", "ROX"),
    ("ReadWriteMany", "RWX"),
    ("ReadWriteOncePod", "RWOP"),
)


def _name(o: Obj) -> str:
    return str((o.get("metadata") or {}).get("name", ""))


def _volume_phase(o: Obj) -> str:
    if (o.get("metadata") or {}).get("deletionTimestamp"):
        return "Terminating"
    return str((o.get("status") or {}).get("phase", ""))


def _capacity(capacity: Obj | None) -> str:
    return str((capacity or {}).get("storage", ""))


def _modes(modes: list[str] | None) -> str:
    """`RWO,RWX` in kubectl's fixed order."""
    given = set(modes or [])
    return ",".join(short for mode, short in _MODE_ABBREVIATIONS if mode in given)


def _class_name(o: Obj) -> str:
    return str((o.get("spec") or {}).get("storageClassName", ""))


def _claim(pv: Obj) -> str:
    ref = (pv.get("spec") or {}).get("claimRef") or {}
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref.get("name") else ""


def _class_title(sc: Obj) -> str:
    return _name(sc) + (" (default)" if is_default_class(sc) else "")


def _external_ip(svc: Obj) -> str:
    """kubectl's EXTERNAL-IP: by service type, `<none>` or `<pending>` when there is none."""
    spec = svc.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = [str(ip) for ip in spec.get("externalIPs") or []]
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    if kind == "LoadBalancer":
        ingress = ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        found = [str(i.get("ip") or i.get("hostname") or "") for i in ingress] + external
        return ",".join(x for x in found if x) or "<pending>"
    return ",".join(external) or "<none>"


def _service_ports(svc: Obj) -> str:
    """`80/TCP`, or `80:30080/TCP` with a node port; `<none>` without ports."""
    parts = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        proto = p.get("protocol", "TCP")
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        parts.append(f"{p.get('port')}{node}/{proto}")
    return ",".join(parts) or "<none>"


def _labels(selector: Obj | None) -> str:
    """`k=v,k2=v2` sorted by key, `<none>` when empty (labels.FormatLabels)."""
    if not selector:
        return "<none>"
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _job_status(job: Obj) -> str:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("status") == "True" and c.get("type") in ("Complete", "Failed", "Suspended"):
            return str(c["type"])
    return "Running"


COLUMNS: dict[str, list[Column]] = {
    "Pod": [
        ("Name", "string", _name),
        ("Ready", "string", _pod_ready),
        ("Status", "string", _pod_status),
        ("Restarts", "string", _restarts),
        ("Age", "string", age),
        ("IP", "string", lambda o: (o.get("status") or {}).get("podIP") or "<none>"),
        ("Node", "string", lambda o: (o.get("spec") or {}).get("nodeName") or "<none>"),
        (
            "Nominated Node",
            "string",
            lambda o: (o.get("status") or {}).get("nominatedNodeName") or "<none>",
        ),
    ],
    "Node": [
        ("Name", "string", _name),
        ("Status", "string", _node_status),
        ("Roles", "string", _node_roles),
        ("Age", "string", age),
        (
            "Version",
            "string",
            lambda o: ((o.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", ""),
        ),
        ("Internal-IP", "string", _internal_ip),
        ("OS-Image", "string", lambda o: _node_info(o, "osImage")),
        ("Kernel-Version", "string", lambda o: _node_info(o, "kernelVersion")),
        ("Container-Runtime", "string", lambda o: _node_info(o, "containerRuntimeVersion")),
    ],
    "Namespace": [
        ("Name", "string", _name),
        ("Status", "string", lambda o: (o.get("status") or {}).get("phase", "")),
        ("Age", "string", age),
    ],
    "Event": [
        (
            "Last Seen",
            "string",
            lambda o: age(
                {
                    "metadata": {
                        "creationTimestamp": o.get("lastTimestamp")
                        or (o.get("metadata") or {}).get("creationTimestamp")
                    }
                }
            ),
        ),
        ("Type", "string", lambda o: o.get("type", "")),
        ("Reason", "string", lambda o: o.get("reason", "")),
        (
            "Object",
            "string",
            lambda o: "{}/{}".format(
                (o.get("involvedObject") or {}).get("kind", "").lower(),
                (o.get("involvedObject") or {}).get("name", ""),
            ),
        ),
        ("Message", "string", lambda o: o.get("message", "")),
    ],
    "Job": [
        ("Name", "string", _name),
        ("Status", "string", _job_status),
        (
            "Completions",
            "string",
            lambda o: "{}/{}".format(
                (o.get("status") or {}).get("succeeded", 0),
                (o.get("spec") or {}).get("completions", 1),
            ),
        ),
        ("Age", "string", age),
    ],
    "PriorityClass": [
        ("Name", "string", _name),
        ("Value", "integer", lambda o: o.get("value", 0)),
        ("Global-Default", "boolean", lambda o: bool(o.get("globalDefault"))),
        ("Age", "string", age),
    ],
    "Service": [
        ("Name", "string", _name),
        ("Type", "string", lambda o: (o.get("spec") or {}).get("type", "")),
        ("Cluster-IP", "string", lambda o: (o.get("spec") or {}).get("clusterIP") or "<none>"),
        ("External-IP", "string", _external_ip),
        ("Port(s)", "string", _service_ports),
        ("Age", "string", age),
        ("Selector", "string", lambda o: _labels((o.get("spec") or {}).get("selector"))),
    ],
    "ConfigMap": [
        ("Name", "string", _name),
        ("Data", "integer", lambda o: len(o.get("data") or {})),
        ("Age", "string", age),
    ],
    "Secret": [
        ("Name", "string", _name),
        ("Type", "string", lambda o: o.get("type", "")),
        ("Data", "integer", lambda o: len(o.get("data") or {})),
        ("Age", "string", age),
    ],
    "PersistentVolumeClaim": [
        ("Name", "string", _name),
        ("Status", "string", _volume_phase),
        ("Volume", "string", lambda o: (o.get("spec") or {}).get("volumeName", "")),
        ("Capacity", "string", lambda o: _capacity((o.get("status") or {}).get("capacity"))),
        ("Access Modes", "string", lambda o: _modes((o.get("status") or {}).get("accessModes"))),
        ("StorageClass", "string", _class_name),
        ("VolumeAttributesClass", "string", lambda o: "<unset>"),
        ("Age", "string", age),
        ("VolumeMode", "string", lambda o: (o.get("spec") or {}).get("volumeMode", "")),
    ],
    "PersistentVolume": [
        ("Name", "string", _name),
        ("Capacity", "string", lambda o: _capacity((o.get("spec") or {}).get("capacity"))),
        ("Access Modes", "string", lambda o: _modes((o.get("spec") or {}).get("accessModes"))),
        (
            "Reclaim Policy",
            "string",
            lambda o: (o.get("spec") or {}).get("persistentVolumeReclaimPolicy", ""),
        ),
        ("Status", "string", _volume_phase),
        ("Claim", "string", _claim),
        ("StorageClass", "string", _class_name),
        ("VolumeAttributesClass", "string", lambda o: "<unset>"),
        ("Reason", "string", lambda o: (o.get("status") or {}).get("reason", "")),
        ("Age", "string", age),
        ("VolumeMode", "string", lambda o: (o.get("spec") or {}).get("volumeMode", "")),
    ],
    "StorageClass": [
        ("Name", "string", _class_title),
        ("Provisioner", "string", lambda o: o.get("provisioner", "")),
        ("ReclaimPolicy", "string", lambda o: o.get("reclaimPolicy", "")),
        ("VolumeBindingMode", "string", lambda o: o.get("volumeBindingMode", "")),
        ("AllowVolumeExpansion", "boolean", lambda o: bool(o.get("allowVolumeExpansion"))),
        ("Age", "string", age),
    ],
}
COLUMNS.update(apps_kinds.columns(age, _name))
WIDE_AFTER.update(apps_kinds.WIDE_AFTER)
DEFAULT_COLUMNS: list[Column] = [("Name", "string", _name), ("Age", "string", age)]


def _partial(obj: Obj) -> Obj:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def to_table(
    kind: str,
    items: list[Obj],
    resource_version: str,
    include_object: str = "",
    list_meta: Obj | None = None,
) -> Obj:
    """A Table with one row per object."""
    columns = COLUMNS.get(kind, DEFAULT_COLUMNS)
    rows = []
    for obj in items:
        row: Obj = {"cells": [fn(obj) for _n, _t, fn in columns]}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = _partial(obj)
        rows.append(row)
    md = dict(list_meta or {})
    md["resourceVersion"] = resource_version
    wide_after = WIDE_AFTER.get(kind, len(columns))
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": md,
        "columnDefinitions": [
            {
                "name": n,
                "type": t,
                "format": "name" if n == "Name" else "",
                "description": n,
                "priority": 0 if i < wide_after else 1,
            }
            for i, (n, t, _fn) in enumerate(columns)
        ],
        "rows": rows,
    }
