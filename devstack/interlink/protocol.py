"""interLink's plugin HTTP protocol: the request and reply shapes both devstack ends use.

Field names follow interLink's Go types (`pkg/interlink/types.go`): `RetrievedPodData`,
`RetrievedContainer`, `CreateStruct`, `PodStatus`, `LogStruct`/`ContainerLogOpts`,
`PingResponse`. The interLink API forwards to a plugin:

- `POST /create`: one `RetrievedPodData`, answered by one `CreateStruct`;
- `GET /status`: a JSON list of pods, answered by a list of `PodStatus`; with `[]` it is
  the ping, optionally answered by a `PingResponse` object;
- `GET /getLogs`: one `LogStruct`, answered by plain (possibly streamed) text;
- `POST /delete`: the pod.

A plugin error is its HTTP status with the body as the message.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]

CREATE, STATUS, LOGS, DELETE = "/create", "/status", "/getLogs", "/delete"
LOG_OPTS = ("Tail", "Bytes", "Timestamps", "Follow", "Previous", "SinceSeconds", "SinceTime")


class ProtocolError(ValueError):
    """A body that does not have interLink's shape, with a sentence saying what is wrong."""


def _require(body: Any, kind: type, what: str) -> Any:
    if not isinstance(body, kind):
        raise ProtocolError(f"{what} must be a JSON {'object' if kind is dict else 'list'}")
    return body


def _pod_key(pod: Any, what: str) -> tuple[str, str, str]:
    md = _require(pod, dict, what).get("metadata")
    if not isinstance(md, dict) or not md.get("name") or not md.get("uid"):
        raise ProtocolError(f"{what} needs metadata.name and metadata.uid")
    return str(md.get("namespace") or "default"), str(md["name"]), str(md["uid"])


# -- create ------------------------------------------------------------------------------
def create_request(pod: Obj, containers: list[Obj], job_config: Obj | None = None) -> Obj:
    """A `RetrievedPodData` (what the interLink API posts to a plugin's /create).

    `jobConfig` is always there: Go's `omitempty` never omits a struct (interLink sends
    its zero `ScriptBuildConfig`); `{}` decodes to that same zero value.
    """
    return {"pod": pod, "container": containers, "jobConfig": dict(job_config or {})}


def retrieved_container(
    name: str,
    config_maps: list[Obj] | None = None,
    secrets: list[Obj] | None = None,
    projected: list[Obj] | None = None,
    empty_dirs: list[str] | None = None,
) -> Obj:
    """A `RetrievedContainer`: one container's volume data."""
    return {
        "name": name,
        "configMaps": list(config_maps or []),
        "projectedvolumemaps": list(projected or []),
        "secrets": list(secrets or []),
        "emptyDirs": list(empty_dirs or []),
    }


def parse_create_request(body: Any) -> tuple[Obj, list[Obj]]:
    """(pod, containers) of a /create body; ProtocolError when it is not one object."""
    _require(body, dict, "the /create body")
    if "pod" not in body:
        raise ProtocolError('the /create body needs "pod"')
    _pod_key(body["pod"], '"pod"')
    containers = body.get("container") or []
    _require(containers, list, '"container"')
    for c in containers:
        if not isinstance(c, dict) or not c.get("name"):
            raise ProtocolError('every "container" entry needs a name')
    return body["pod"], containers


def create_reply(pod_uid: str, job_id: str) -> Obj:
    """A `CreateStruct`."""
    return {"PodUID": pod_uid, "PodJID": job_id}


def parse_create_reply(body: Any) -> str:
    """The job id of a `CreateStruct`."""
    _require(body, dict, "the /create reply")
    if "PodUID" not in body or "PodJID" not in body:
        raise ProtocolError('the /create reply needs "PodUID" and "PodJID"')
    return str(body["PodJID"])


# -- status and ping -----------------------------------------------------------------------
def parse_status_request(body: Any) -> list[tuple[str, str, str]]:
    """(namespace, name, uid) of each pod in a /status body (empty: a ping)."""
    return [_pod_key(p, "each pod of /status") for p in _require(body, list, "the /status body")]


def pod_status(
    name: str,
    uid: str,
    namespace: str,
    job_id: str,
    containers: list[Obj],
    init_containers: list[Obj] | None = None,
) -> Obj:
    """A `PodStatus`."""
    return {
        "name": name,
        "UID": uid,
        "namespace": namespace,
        "JID": job_id,
        "containers": containers,
        "initContainers": list(init_containers or []),
    }


def parse_status_reply(body: Any) -> dict[str, Obj]:
    """`PodStatus` entries of a /status reply, by pod UID."""
    out: dict[str, Obj] = {}
    for entry in _require(body, list, "the /status reply"):
        if not isinstance(entry, dict) or "UID" not in entry:
            raise ProtocolError('every /status reply entry needs "UID"')
        out[str(entry["UID"])] = entry
    return out


def ping_reply(resources: Obj | None = None, taints: list[Obj] | None = None) -> Obj:
    """A `PingResponse`: `resources` holds cpu/memory/pods and `accelerators`."""
    body: Obj = {"status": "ok"}
    if resources is not None:
        body["resources"] = resources
    if taints is not None:
        body["taints"] = taints
    return body


def accelerator(resource_type: str, available: int) -> Obj:
    """An `AcceleratorResponse`."""
    return {"resourceType": resource_type, "available": str(available)}


def parse_ping_reply(body: Any) -> Obj:
    """Node capacity updates from a ping reply (`{}` for plain text or `[]` replies)."""
    if not isinstance(body, dict):
        return {}
    resources = body.get("resources")
    if not isinstance(resources, dict):
        return {}
    out: Obj = {}
    for key in ("cpu", "memory", "pods"):
        if resources.get(key):
            out[key] = str(resources[key])
    for acc in resources.get("accelerators") or []:
        if isinstance(acc, dict) and acc.get("resourceType"):
            available = str(acc.get("available", ""))
            if available.isdigit():
                out[str(acc["resourceType"])] = available
    return out


# -- logs ------------------------------------------------------------------------------------
def log_request(
    namespace: str,
    pod_uid: str,
    pod_name: str,
    container: str,
    *,
    tail: int = 0,
    limit_bytes: int = 0,
    timestamps: bool = False,
    follow: bool = False,
    previous: bool = False,
    since_seconds: int = 0,
) -> Obj:
    """A `LogStruct` (zero values mean "not set", as in Go)."""
    return {
        "Namespace": namespace,
        "PodUID": pod_uid,
        "PodName": pod_name,
        "ContainerName": container,
        "Opts": {
            "Tail": tail,
            "Bytes": limit_bytes,
            "Timestamps": timestamps,
            "Follow": follow,
            "Previous": previous,
            "SinceSeconds": since_seconds,
            "SinceTime": "0001-01-01T00:00:00Z",
        },
    }


def parse_log_request(body: Any) -> Obj:
    """A checked `LogStruct`."""
    _require(body, dict, "the /getLogs body")
    for key in ("Namespace", "PodName", "ContainerName"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise ProtocolError(f'the /getLogs body needs "{key}"')
    opts = body.get("Opts") or {}
    _require(opts, dict, '"Opts"')
    if opts.get("Tail") and opts.get("Bytes"):
        raise ProtocolError("Both Tail and LimitBytes set. Set only one of them")
    return body
