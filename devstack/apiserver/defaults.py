"""Server-side defaulting and admission that clients observe (pods, jobs, services...)."""

from __future__ import annotations

import base64
import ipaddress
import itertools
from typing import TYPE_CHECKING, Any

from devstack.apiserver import apps_kinds, storage_kinds
from devstack.apiserver.errors import forbidden
from devstack.apiserver.registry import ResourceType
from devstack.apiserver.serviceaccounts import token_volume_admission
from hub_ext.quantity import QuantityError, parse_quantity

if TYPE_CHECKING:
    from devstack.apiserver.store import ObjectStore

Obj = dict[str, Any]

_cluster_ips = itertools.count(10)
DEFAULT_TOLERATIONS = [
    {
        "key": "node.kubernetes.io/not-ready",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
    {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 300,
    },
]


def _container_defaults(c: Obj) -> None:
    if not isinstance(c, dict):
        return
    image = str(c.get("image") or "")
    tag = image.rsplit("/", 1)[-1]
    if "imagePullPolicy" not in c:
        c["imagePullPolicy"] = (
            "Always" if ":" not in tag or tag.endswith(":latest") else "IfNotPresent"
        )
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    resources = c.setdefault("resources", {})
    if isinstance(resources, dict):
        limits = resources.get("limits") or {}
        if limits and isinstance(limits, dict):
            requests = resources.setdefault("requests", {})
            if isinstance(requests, dict):
                for k, v in limits.items():
                    requests.setdefault(k, v)
    for p in c.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")


def pod_spec_defaults(spec: Obj) -> None:
    """Defaults of a PodSpec (also used for job templates)."""
    if not isinstance(spec, dict):
        return
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for group in ("initContainers", "containers"):
        for c in spec.get(group) or []:
            _container_defaults(c)


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort from the containers' cpu/memory resources."""
    containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
    any_set, guaranteed = False, bool(containers)
    for c in containers:
        res = c.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        for name in ("cpu", "memory"):
            if name in req or name in lim:
                any_set = True
            try:
                if (
                    name not in lim
                    or name not in req
                    or (parse_quantity(req[name]) != parse_quantity(lim[name]))
                ):
                    guaranteed = False
            except QuantityError:
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _pod_admission(obj: Obj, store: ObjectStore) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    md = obj["metadata"]
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    token_volume_admission(obj, store)
    tolerations = spec.setdefault("tolerations", [])
    if isinstance(tolerations, list):
        for t in DEFAULT_TOLERATIONS:
            if not any(
                isinstance(x, dict)
                and x.get("key") == t["key"]
                and x.get("effect") in (None, "", "NoExecute")
                for x in tolerations
            ):
                tolerations.append(dict(t))
    pc_name = spec.get("priorityClassName")
    if pc_name:
        pc = store._data["priorityclasses"].get(("", pc_name))
        if pc is None:
            raise forbidden(
                "pods", str(md.get("name") or ""), f"no PriorityClass with name {pc_name} was found"
            )
        spec["priority"] = pc.get("value", 0)
        spec.setdefault("preemptionPolicy", pc.get("preemptionPolicy", "PreemptLowerPriority"))
    else:
        default_pc = next(
            (p for p in store._data["priorityclasses"].values() if p.get("globalDefault")), None
        )
        if default_pc is not None:
            spec["priorityClassName"] = default_pc["metadata"]["name"]
            spec["priority"] = default_pc.get("value", 0)
        else:
            spec.setdefault("priority", 0)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")


def apply_create_defaults(rt: ResourceType, obj: Obj, store: ObjectStore) -> None:
    """Fill the defaults a real API server (and its default admission) adds on create."""
    plural = rt.plural
    if plural == "pods":
        pod_spec_defaults(obj.get("spec") or {})
        _pod_admission(obj, store)
        status: Obj = {"phase": "Pending"}
        if isinstance(obj.get("spec"), dict):
            status["qosClass"] = qos_class(obj["spec"])
        obj["status"] = status
    elif plural == "jobs":
        _job_defaults(obj)
        obj["status"] = {}
    elif plural in apps_kinds.WORKLOADS:
        apps_kinds.defaults(plural, obj, pod_spec_defaults)
    elif plural == "customresourcedefinitions":
        from devstack.apiserver.crds import status_for
        from devstack.apiserver.meta import timestamp

        obj["status"] = status_for(obj, timestamp())
    elif plural == "namespaces":
        name = obj["metadata"].get("name")
        if isinstance(name, str):
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    elif plural == "services":
        _service_defaults(obj)
    elif plural == "secrets":
        obj.setdefault("type", "Opaque")
        _merge_string_data(obj)
    elif plural in ("persistentvolumeclaims", "persistentvolumes", "storageclasses"):
        storage_kinds.create_defaults(plural, obj, store)
    elif plural == "priorityclasses":
        obj.setdefault("preemptionPolicy", "PreemptLowerPriority")
    elif plural == "events":
        event_defaults(obj)
    elif plural == "nodes":
        status = obj.setdefault("status", {})
        if isinstance(status, dict) and "allocatable" not in status and "capacity" in status:
            status["allocatable"] = dict(status["capacity"])


def apply_update_defaults(rt: ResourceType, new: Obj, old: Obj) -> None:
    """Defaults re-applied on update (so a PUT of a trimmed object stays equal)."""
    if rt.plural == "pods" and isinstance(new.get("spec"), dict):
        pod_spec_defaults(new["spec"])
    elif rt.plural == "jobs":
        _job_defaults(new, uid=old["metadata"].get("uid"))
    elif rt.plural in apps_kinds.WORKLOADS:
        apps_kinds.defaults(rt.plural, new, pod_spec_defaults)
    elif rt.plural == "secrets":
        new.setdefault("type", "Opaque")
        _merge_string_data(new)
    elif rt.plural == "events":
        event_defaults(new)
    elif rt.plural == "services":
        spec, old_spec = new.get("spec"), old.get("spec") or {}
        if isinstance(spec, dict):
            for key in ("clusterIP", "clusterIPs"):
                if key in old_spec and not spec.get(key):
                    spec[key] = old_spec[key]
        _service_defaults(new)
    elif rt.plural == "namespaces":
        new.setdefault("spec", old.get("spec", {}))
        labels = new["metadata"].setdefault("labels", {})
        if isinstance(labels, dict):
            labels["kubernetes.io/metadata.name"] = old["metadata"]["name"]


def event_defaults(obj: Obj) -> None:
    """Fields a real server always serialises on core/v1 Events (null times, empty strings)."""
    for key in ("firstTimestamp", "lastTimestamp", "eventTime"):
        obj.setdefault(key, None)
    obj.setdefault("source", {})
    obj.setdefault("involvedObject", {})
    obj.setdefault("reportingComponent", "")
    obj.setdefault("reportingInstance", "")


def _merge_string_data(obj: Obj) -> None:
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {})
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()


def _job_defaults(obj: Obj, uid: str | None = None) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.setdefault("template", {})
    if not isinstance(template, dict):
        return
    pod_spec_defaults(template.get("spec") or {})
    if uid is None:
        # The real server sets the selector from the uid it is about to assign; the store
        # fills the uid right after defaults, so a placeholder is swapped in by `finish_job`.
        return
    finish_job(obj, uid)


def finish_job(obj: Obj, uid: str) -> None:
    """Set the generated selector and template labels that carry the job's uid."""
    spec = obj["spec"]
    md = obj["metadata"]
    if spec.get("manualSelector"):
        return
    labels = {
        "batch.kubernetes.io/controller-uid": uid,
        "controller-uid": uid,
        "batch.kubernetes.io/job-name": md["name"],
        "job-name": md["name"],
    }
    spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    tmd = spec["template"].setdefault("metadata", {})
    tl = tmd.setdefault("labels", {})
    for k, v in labels.items():
        tl.setdefault(k, v)


def _service_defaults(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec.get("clusterIP") in (None, ""):
        n = next(_cluster_ips)
        spec["clusterIP"] = str(ipaddress.IPv4Address("10.96.0.0") + n)
    if spec["clusterIP"] != "None":
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
    spec.setdefault("ipFamilies", ["IPv4"])
    spec.setdefault("ipFamilyPolicy", "SingleStack")
    spec.setdefault("internalTrafficPolicy", "Cluster")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            p.setdefault("targetPort", p.get("port"))
    obj.setdefault("status", {"loadBalancer": {}})
