"""Pod status on a virtual node from what its site says (pure translation, no I/O)."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.meta import timestamp

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


def volume_objects(volume: Obj) -> list[tuple[str, str]]:
    """(kind, name) of the ConfigMaps and Secrets a volume reads."""
    out = []
    if "configMap" in volume:
        out.append(("configmaps", str(volume["configMap"].get("name"))))
    if "secret" in volume:
        out.append(("secrets", str(volume["secret"].get("secretName"))))
    for src in (volume.get("projected") or {}).get("sources") or []:
        if "configMap" in src:
            out.append(("configmaps", str(src["configMap"].get("name"))))
        if "secret" in src:
            out.append(("secrets", str(src["secret"].get("name"))))
    return out


def pod_status_from(pod: Obj, entry: Obj) -> Obj:
    """The pod's status from the plugin's `PodStatus` (phase from container states)."""
    spec = pod.get("spec") or {}
    images = {c["name"]: c.get("image", "") for c in (spec.get("containers") or [])}
    images.update({c["name"]: c.get("image", "") for c in (spec.get("initContainers") or [])})

    def fix(cs: Obj) -> Obj:
        out = dict(cs)
        out.setdefault("image", images.get(cs.get("name", ""), ""))
        out["ready"] = "running" in (cs.get("state") or {})
        out.setdefault("restartCount", 0)
        return out

    mains = [fix(c) for c in entry.get("containers") or []]
    inits = [fix(c) for c in entry.get("initContainers") or []]

    def term(cs: Obj) -> Obj | None:
        return (cs.get("state") or {}).get("terminated")

    if any((term(c) or {}).get("exitCode", 0) != 0 for c in inits):
        phase = "Failed"
    elif mains and all(term(c) is not None for c in mains):
        phase = "Succeeded" if all(term(c)["exitCode"] == 0 for c in mains) else "Failed"  # type: ignore[index]
    elif any("running" in (c.get("state") or {}) for c in mains):
        phase = "Running"
    else:
        phase = "Pending"
    ready = phase == "Running" and all(c["ready"] for c in mains)
    old = pod.get("status") or {}
    status: Obj = {
        "phase": phase,
        "conditions": _conditions(ready, phase),
        "hostIP": "127.0.0.1",
        "containerStatuses": mains,
        "startTime": old.get("startTime") or timestamp(),
    }
    if inits:
        status["initContainerStatuses"] = inits
    return status


def _conditions(ready: bool, phase: str) -> list[Obj]:
    now = timestamp()
    value = "True" if ready else "False"
    return [
        {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
        {"type": "Initialized", "status": "True", "lastTransitionTime": now},
        {"type": "ContainersReady", "status": value, "lastTransitionTime": now},
        {"type": "Ready", "status": value, "lastTransitionTime": now},
    ]


def provider_failed(pod: Obj, message: str) -> Obj:
    """interLink's status for a pod whose creation the site refused."""
    spec = pod.get("spec") or {}

    def dead(c: Obj) -> Obj:
        return {
            "name": c["name"],
            "image": c.get("image", ""),
            "ready": False,
            "restartCount": 0,
            "state": {
                "terminated": {"exitCode": 1, "reason": "ProviderFailed", "message": message}
            },
        }

    status: Obj = {
        "phase": "Failed",
        "reason": "ProviderFailed",
        "message": message,
        "conditions": _conditions(False, "Failed"),
        "containerStatuses": [dead(c) for c in spec.get("containers") or []],
    }
    if spec.get("initContainers"):
        status["initContainerStatuses"] = [dead(c) for c in spec["initContainers"]]
    return status


def status_differs(old: Obj, new: Obj) -> bool:
    def core(s: Obj) -> Any:
        return (s.get("phase"), s.get("containerStatuses"), s.get("initContainerStatuses"))

    return bool(core(old) != core(new))
