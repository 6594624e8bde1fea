"""The OpenAPI 3.0 document of the REST API: operations declared here, every schema generated
from the wire types in ``hub_ext.contract``."""

from __future__ import annotations

import dataclasses
from typing import Any, get_args, get_origin

from .. import contract as wire

# Schemas in the document, by name: the request and answer bodies of the API.
TYPES: tuple[type[wire.Wire], ...] = (
    wire.Error,
    wire.AdmissionRequest,
    wire.BindRequest,
    wire.PodRef,
    wire.Lease,
    wire.Granted,
    wire.InUse,
    wire.Refusal,
    wire.ReservationRef,
    wire.Entitlement,
    wire.Entitlements,
    wire.QueueEntry,
    wire.Queue,
    wire.ReservationRequest,
    wire.ReservationChange,
    wire.Participant,
    wire.Reservation,
    wire.DeviceActivity,
    wire.ActivityReport,
    wire.Site,
    wire.Automatic,
    wire.Accelerator,
    wire.OffloadFlavor,
    wire.Sites,
    wire.JobRequest,
    wire.JobProgress,
    wire.Provenance,
    wire.Job,
    wire.Jobs,
)
_STR = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_OBJECT = {"type": "object"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def type_schema(hint: Any) -> dict[str, Any]:
    """The schema of a type hint of a wire type's field."""
    origin = get_origin(hint)
    if isinstance(hint, type) and issubclass(hint, wire.Wire):
        return _ref(hint.__name__)
    if origin is list:
        return {"type": "array", "items": type_schema(get_args(hint)[0])}
    if origin is dict:
        item = get_args(hint)[1]
        return (
            dict(_OBJECT) if item is Any else {**_OBJECT, "additionalProperties": type_schema(item)}
        )
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    return {"type": names[hint]} if hint in names else {}


def schema_of(cls: type[wire.Wire]) -> dict[str, Any]:
    """An object schema from a wire dataclass: its fields, types, defaults and rules."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        hint, nullable = wire.optional(wire.hints(cls)[f.name])
        prop = type_schema(hint)
        prop.update(f.metadata.get("schema", {}))
        if nullable:
            prop = (
                {"allOf": [prop], "nullable": True} if "$ref" in prop else prop | {"nullable": True}
            )
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
        elif f.default not in (dataclasses.MISSING, None):
            prop["default"] = f.default
        properties[f.name] = prop
    body: dict[str, Any] = {"type": "object", "properties": properties}
    if cls.__doc__:
        body["description"] = " ".join(cls.__doc__.split())
    if required:
        body["required"] = required
    return body


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Malformed request"),
    "401": _json(_ref("Error"), "No identity"),
    "403": _json(_ref("Error"), "Not allowed"),
    "404": _json(_ref("Error"), "Not found"),
    "409": _json(_ref("Error"), "Conflict"),
    "413": _json(_ref("Error"), "Body too large"),
    "422": _json(_ref("Error"), "Invalid field"),
    "503": _json(_ref("Error"), "The database cannot be reached now; nothing was changed"),
}


def _op(
    summary: str,
    answer: dict[str, Any] | None,
    body: str | None = None,
    query: dict[str, dict[str, Any]] | None = None,
    status: str = "200",
) -> dict[str, Any]:
    """One operation: its answer schema (None: no content), request body type, query."""
    responses = {status: _json(answer) if answer is not None else {"description": "Done"}}
    op: dict[str, Any] = {"summary": summary, "responses": {**responses, **_ERRORS}}
    if body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if query:
        op["parameters"] = [
            {"name": name, "in": "query", "required": False, "schema": schema}
            for name, schema in query.items()
        ]
    return op


def _path(name: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": _STR}]


def _list(key: str, item: str) -> dict[str, Any]:
    return {"type": "object", "properties": {key: {"type": "array", "items": _ref(item)}}}


def offload_paths() -> dict[str, Any]:
    """The offload API (scope custom:accelhub:offload, the user's own token)."""
    logs = _op("A job's log text", None, query={"follow": {"type": "string", "enum": ["0", "1"]}})
    logs["responses"]["200"] = {
        "description": "Log text",
        "content": {"text/plain": {"schema": _STR}},
    }
    return {
        "/sites": {
            "get": _op(
                "Remote sites (InterLink virtual nodes), your flavors, and Automatic's pick",
                _ref("Sites"),
                query={"flavor": _STR},
            )
        },
        "/jobs": {
            "get": _op("Offload jobs: your own; admins all", _ref("Jobs"), query={"user": _STR}),
            "post": _op(
                "Run a notebook or a cell on a site", _ref("Job"), "JobRequest", None, "201"
            ),
        },
        "/jobs/{job_id}": {
            "parameters": _path("job_id"),
            "get": _op("One job", _ref("Job")),
            "delete": _op("Cancel a job", _ref("Job")),
        },
        "/jobs/{job_id}/logs": {"parameters": _path("job_id"), "get": logs},
        "/jobs/{job_id}/result": {
            "parameters": _path("job_id"),
            "get": _op("The executed (or partial) notebook", _OBJECT),
        },
        "/jobs/{job_id}/rerun": {
            "parameters": _path("job_id"),
            "post": _op("Submit the same inputs again", _ref("Job"), status="201"),
        },
    }


def openapi_document(prefix: str) -> dict[str, Any]:
    """The document, with the service's URL prefix as its server."""
    usage_answer = {
        "description": "Usage",
        "content": {"application/json": {"schema": _OBJECT}, "text/csv": {"schema": _STR}},
    }
    usage = _op(
        "Device-hours for a period (JSON or CSV)",
        None,
        query={
            "start": _TIME,
            "end": _TIME,
            "group_by": {"type": "string", "enum": ["user", "group", "flavor"]},
            "format": {"type": "string", "enum": ["json", "csv"]},
            "user": _STR,
            "group": _STR,
        },
    )
    usage["responses"]["200"] = usage_answer
    paths: dict[str, Any] = {
        "/admissions": {
            "post": _op(
                "Ask for a lease (scope custom:accelhub:admit)",
                {"oneOf": [_ref("Granted"), _ref("Refusal")]},
                body="AdmissionRequest",
            )
        },
        "/leases": {
            "get": _op(
                "Leases: your own; any user's for admins and the spawner",
                _list("leases", "Lease"),
                query={"user": _STR, "active": {"type": "boolean"}},
            )
        },
        "/leases/{lease_id}": {
            "parameters": _path("lease_id"),
            "get": _op("One lease", _ref("Lease")),
            "delete": _op("Release a lease (idempotent)", None, status="204"),
        },
        "/leases/{lease_id}/bind": {
            "parameters": _path("lease_id"),
            "post": _op("Record the pod holding a lease", _ref("Lease"), body="BindRequest"),
        },
        "/users/{user}/entitlements": {
            "parameters": _path("user"),
            "get": _op("What the user may start now, per flavor", _ref("Entitlements")),
        },
        "/queue": {
            "get": _op("Waiting lines", _ref("Queue"), query={"flavor": _STR}),
            "delete": _op(
                "Leave a line",
                None,
                query={"user": _STR, "server": _STR, "flavor": _STR},
                status="204",
            ),
        },
        "/reservations": {
            "get": _op(
                "Reservations you may see",
                _list("reservations", "Reservation"),
                query={"group": _STR},
            ),
            "post": _op(
                "Reserve devices for a group (admins, the group's organisers)",
                _ref("Reservation"),
                body="ReservationRequest",
                status="201",
            ),
        },
        "/reservations/{reservation_id}": {
            "parameters": _path("reservation_id"),
            "get": _op("One reservation (with participants for organisers)", _ref("Reservation")),
            "patch": _op(
                "Extend or shrink a reservation (admins, the group's organisers)",
                _ref("Reservation"),
                body="ReservationChange",
            ),
            "delete": _op("Cancel a reservation", None, status="204"),
        },
        "/usage": {"get": usage},
        "/activity": {
            "post": _op(
                "GPU activity of a server (the user's own token)", _OBJECT, body="ActivityReport"
            )
        },
        "/flavors": {"get": _op("Flavors and live use", _OBJECT)},
        **offload_paths(),
        "/policy": {"get": _op("Quotas and groups (admins)", _OBJECT)},
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "accelhub service",
            "version": "1",
            "description": "Accelerator quotas, reservations, leases and accounting. "
            "Authenticate with 'Authorization: token <JupyterHub token>'.",
        },
        "servers": [{"url": prefix + "api/v1"}],
        "components": {
            "schemas": {cls.__name__: schema_of(cls) for cls in TYPES},
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"hubToken": []}],
        "paths": paths,
    }
