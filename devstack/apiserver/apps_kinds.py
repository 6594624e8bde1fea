"""apps/v1 workloads (and v1 ReplicationController) as data: defaults, checks, table columns."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.errors import Cause

Obj = dict[str, Any]
WORKLOADS = ("deployments", "replicasets", "statefulsets", "daemonsets", "replicationcontrollers")
_DEFAULTS: dict[str, Obj] = {
    "deployments": {
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
        },
    },
    "replicasets": {"replicas": 1},
    "replicationcontrollers": {"replicas": 1},
    "statefulsets": {
        "replicas": 1,
        "podManagementPolicy": "OrderedReady",
        "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
    },
    "daemonsets": {
        "revisionHistoryLimit": 10,
        "updateStrategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
        },
    },
}


def defaults(plural: str, obj: Obj, pod_spec_defaults: Any) -> None:
    """The spec defaults a real API server fills (also on update, so PUTs stay equal)."""
    spec = obj.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    for key, value in _DEFAULTS.get(plural, {}).items():
        if spec.get(key) is None:
            spec[key] = value if not isinstance(value, dict) else dict(value)
    template = spec.get("template")
    if (
        plural == "replicationcontrollers"
        and isinstance(template, dict)
        and not spec.get("selector")
    ):
        spec["selector"] = dict((template.get("metadata") or {}).get("labels") or {})
    if isinstance(template, dict):
        tspec = template.setdefault("spec", {})
        pod_spec_defaults(tspec)
        if isinstance(tspec, dict):
            tspec.setdefault("restartPolicy", "Always")
            tspec.setdefault("dnsPolicy", "ClusterFirst")
            tspec.setdefault("schedulerName", "default-scheduler")
            tspec.setdefault("terminationGracePeriodSeconds", 30)
            tspec.setdefault("securityContext", {})
    obj.setdefault("status", {})


def _labels_text(labels: Obj) -> str:
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return f"map[string]string{{{inner}}}"


def causes(plural: str, obj: Obj) -> list[Cause]:
    """What the API server refuses: a missing selector, or one the template does not match."""
    spec = obj.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = spec.get("selector")
    if plural == "replicationcontrollers":
        match = selector or {}
    else:
        if not isinstance(selector, dict) or not (
            selector.get("matchLabels") or selector.get("matchExpressions")
        ):
            return [Cause("FieldValueRequired", "Required value", "spec.selector")]
        match = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in match.items()):
        return [
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {_labels_text(labels)}: `selector` does not match template "
                "`labels`",
                "spec.template.metadata.labels",
            )
        ]
    if plural != "replicationcontrollers" and template.get("spec", {}).get("restartPolicy") not in (
        None,
        "Always",
    ):
        return [
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{template["spec"]["restartPolicy"]}": supported values: '
                '"Always"',
                "spec.template.spec.restartPolicy",
            )
        ]
    return []


def _ready(o: Obj) -> str:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    return f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 0)}"


def _containers(o: Obj, key: str) -> str:
    cs = ((o.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return ",".join(str(c.get(key, "")) for c in cs)


def _selector(o: Obj) -> str:
    sel = (o.get("spec") or {}).get("selector") or {}
    labels = (
        sel
        if "matchLabels" not in sel and "matchExpressions" not in sel
        else (sel.get("matchLabels") or {})
    )
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def columns(age: Any, name: Any) -> dict[str, list[tuple[str, str, Any]]]:
    """kubectl's columns (wide ones after `WIDE_AFTER`)."""
    wide = [
        ("Containers", "string", lambda o: _containers(o, "name")),
        ("Images", "string", lambda o: _containers(o, "image")),
        ("Selector", "string", _selector),
    ]
    st = lambda o, k: (o.get("status") or {}).get(k, 0)  # noqa: E731
    return {
        "Deployment": [
            ("Name", "string", name),
            ("Ready", "string", _ready),
            ("Up-to-date", "integer", lambda o: st(o, "updatedReplicas")),
            ("Available", "integer", lambda o: st(o, "availableReplicas")),
            ("Age", "string", age),
            *wide,
        ],
        "ReplicaSet": [
            ("Name", "string", name),
            ("Desired", "integer", lambda o: (o.get("spec") or {}).get("replicas", 0)),
            ("Current", "integer", lambda o: st(o, "replicas")),
            ("Ready", "integer", lambda o: st(o, "readyReplicas")),
            ("Age", "string", age),
            *wide,
        ],
        "ReplicationController": [
            ("Name", "string", name),
            ("Desired", "integer", lambda o: (o.get("spec") or {}).get("replicas", 0)),
            ("Current", "integer", lambda o: st(o, "replicas")),
            ("Ready", "integer", lambda o: st(o, "readyReplicas")),
            ("Age", "string", age),
            *wide,
        ],
        "StatefulSet": [
            ("Name", "string", name),
            ("Ready", "string", _ready),
            ("Age", "string", age),
            *wide[:2],
        ],
    }


WIDE_AFTER = {"Deployment": 5, "ReplicaSet": 5, "ReplicationController": 5, "StatefulSet": 3}
