"""The OpenAPI 3.0 description of the REST API (the canonical admission contract)."""

from __future__ import annotations

from typing import Any

from .ledger import REASONS

_STR = {"type": "string"}
_INT_OR_NULL = {"type": "integer", "nullable": True}
_TIME = {"type": "string", "format": "date-time"}
_TIME_OR_NULL = {"type": "string", "format": "date-time", "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERRORS = {
    "400": _json(_ref("Error"), "Malformed request"),
    "401": _json(_ref("Error"), "No identity"),
    "403": _json(_ref("Error"), "Not allowed"),
    "404": _json(_ref("Error"), "Not found"),
    "409": _json(_ref("Error"), "Conflict"),
    "422": _json(_ref("Error"), "Invalid field"),
    "503": _json(_ref("Error"), "The database cannot be reached now; nothing was changed"),
}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": {**responses, **_ERRORS}, **extra}


def _query(name: str, schema: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _STR}


SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "properties": {"message": _STR}, "required": ["message"]},
    "AdmissionRequest": {
        "type": "object",
        "required": ["user", "flavor"],
        "properties": {
            "user": {"type": "string", "minLength": 1},
            "server": {"type": "string", "default": ""},
            "flavor": {"type": "string", "minLength": 1},
            "count": {
                "type": "integer",
                "minimum": 0,
                "maximum": 64,
                "description": "Devices: 0 for a flavor without an accelerator (its default), "
                "1 to 64 otherwise (default 1).",
            },
            "wait": {"type": "boolean", "default": False},
        },
    },
    "Lease": {
        "type": "object",
        "properties": {
            "id": _STR,
            "user": _STR,
            "server": _STR,
            "flavor": _STR,
            "count": {"type": "integer"},
            "group": {"type": "string", "nullable": True},
            "reservation": {"type": "string", "nullable": True},
            "tolerations": {"type": "array", "items": {"type": "object"}},
            "node_selector": {"type": "object", "additionalProperties": _STR},
            "priority_class_name": {"type": "string", "nullable": True},
            "labels": {"type": "object", "additionalProperties": _STR},
            "started_at": _TIME,
            "expires_at": _TIME_OR_NULL,
            "bound": {"type": "object", "nullable": True},
            "ended_at": _TIME_OR_NULL,
            "end_reason": {"type": "string", "nullable": True},
            "end_message": {"type": "string", "nullable": True},
        },
    },
    "Granted": {
        "type": "object",
        "properties": {"granted": {"type": "boolean", "enum": [True]}, "lease": _ref("Lease")},
    },
    "Refused": {
        "type": "object",
        "properties": {
            "granted": {"type": "boolean", "enum": [False]},
            "reason": {"type": "string", "enum": list(REASONS)},
            "message": _STR,
            "in_use": {
                "type": "object",
                "properties": {
                    "user": {"type": "integer"},
                    "group": {"type": "integer"},
                    "group_quota": _INT_OR_NULL,
                    "user_cap": _INT_OR_NULL,
                    "free": _INT_OR_NULL,
                },
            },
            "queue_position": _INT_OR_NULL,
            "queue_length": _INT_OR_NULL,
            "retry_after_seconds": _INT_OR_NULL,
        },
    },
    "Bind": {
        "type": "object",
        "required": ["namespace", "pod"],
        "properties": {
            "namespace": {"type": "string", "minLength": 1},
            "pod": {"type": "string", "minLength": 1},
        },
    },
    "Entitlements": {
        "type": "object",
        "properties": {
            "flavors": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "allowed": {"type": "boolean"},
                        "reason": {"type": "string", "nullable": True},
                        "message": {"type": "string", "nullable": True},
                        "user_in_use": {"type": "integer"},
                        "user_cap": _INT_OR_NULL,
                        "group_quota_remaining": _INT_OR_NULL,
                        "reservation": {"type": "object", "nullable": True},
                        "queue_position": _INT_OR_NULL,
                    },
                },
            }
        },
    },
    "ReservationRequest": {
        "type": "object",
        "required": ["group", "flavor", "start", "end"],
        "properties": {
            "name": _STR,
            "group": {"type": "string", "minLength": 1},
            "flavor": {"type": "string", "minLength": 1},
            "count": {"type": "integer", "minimum": 1, "maximum": 100000},
            "per_member": {"type": "boolean", "default": False},
            "start": _TIME,
            "end": _TIME,
        },
    },
    "Reservation": {
        "type": "object",
        "properties": {
            "id": _STR,
            "name": _STR,
            "group": _STR,
            "flavor": _STR,
            "count": _INT_OR_NULL,
            "per_member": {"type": "boolean"},
            "start": _TIME,
            "end": _TIME,
            "active": {"type": "boolean"},
            "size": {"type": "integer"},
            "claimed": {"type": "integer"},
            "unclaimed": {"type": "integer"},
            "participants": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Activity": {
        "type": "object",
        "required": ["server", "devices"],
        "properties": {
            "server": _STR,
            "user": _STR,
            "timestamp": _TIME,
            "devices": {
                "type": "array",
                "maxItems": 64,
                "items": {
                    "type": "object",
                    "required": ["busy"],
                    "properties": {
                        "uuid": _STR,
                        "kind": {"type": "string", "enum": ["gpu", "mig"]},
                        "busy": {"type": "boolean"},
                        "utilization_avg": {
                            "type": "number",
                            "nullable": True,
                            "minimum": 0,
                            "maximum": 100,
                        },
                        "memory_used_bytes": {"type": "integer", "nullable": True, "minimum": 0},
                    },
                },
            },
        },
    },
}


def openapi_document(prefix: str) -> dict[str, Any]:
    """The document, with the service's URL prefix as its server."""
    ok = {"description": "Done"}
    paths: dict[str, Any] = {
        "/admissions": {
            "post": _op(
                "Ask for a lease (scope custom:accelhub:admit)",
                {"200": _json({"oneOf": [_ref("Granted"), _ref("Refused")]})},
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("AdmissionRequest")}},
                },
            )
        },
        "/leases": {
            "get": _op(
                "Leases: your own; any user's for admins and the spawner",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "properties": {"leases": {"type": "array", "items": _ref("Lease")}},
                        }
                    )
                },
                parameters=[_query("user", _STR), _query("active", {"type": "boolean"})],
            )
        },
        "/leases/{lease_id}": {
            "parameters": [_path("lease_id")],
            "get": _op("One lease", {"200": _json(_ref("Lease"))}),
            "delete": _op("Release a lease (idempotent)", {"204": ok}),
        },
        "/leases/{lease_id}/bind": {
            "parameters": [_path("lease_id")],
            "post": _op(
                "Record the pod holding a lease",
                {"200": _json(_ref("Lease"))},
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Bind")}},
                },
            ),
        },
        "/users/{user}/entitlements": {
            "parameters": [_path("user")],
            "get": _op(
                "What the user may start now, per flavor", {"200": _json(_ref("Entitlements"))}
            ),
        },
        "/queue": {
            "get": _op(
                "Waiting lines",
                {"200": _json({"type": "object"})},
                parameters=[_query("flavor", _STR)],
            ),
            "delete": _op(
                "Leave a line",
                {"204": ok},
                parameters=[_query("user", _STR), _query("server", _STR), _query("flavor", _STR)],
            ),
        },
        "/reservations": {
            "get": _op(
                "Reservations you may see",
                {"200": _json({"type": "object"})},
                parameters=[_query("group", _STR)],
            ),
            "post": _op(
                "Reserve devices for a group (admins, the group's organisers)",
                {"201": _json(_ref("Reservation"))},
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ReservationRequest")}},
                },
            ),
        },
        "/reservations/{reservation_id}": {
            "parameters": [_path("reservation_id")],
            "get": _op(
                "One reservation (with participants for organisers)",
                {"200": _json(_ref("Reservation"))},
            ),
            "delete": _op("Cancel a reservation", {"204": ok}),
        },
        "/usage": {
            "get": _op(
                "Device-hours for a period (JSON or CSV)",
                {
                    "200": {
                        "description": "Usage",
                        "content": {
                            "application/json": {"schema": {"type": "object"}},
                            "text/csv": {"schema": _STR},
                        },
                    }
                },
                parameters=[
                    _query("start", _TIME),
                    _query("end", _TIME),
                    _query("group_by", {"type": "string", "enum": ["user", "group", "flavor"]}),
                    _query("format", {"type": "string", "enum": ["json", "csv"]}),
                    _query("user", _STR),
                    _query("group", _STR),
                ],
            )
        },
        "/activity": {
            "post": _op(
                "GPU activity of a server (the user's own token)",
                {"200": _json({"type": "object"})},
                requestBody={
                    "required": True,
                    "content": {"application/json": {"schema": _ref("Activity")}},
                },
            )
        },
        "/flavors": {"get": _op("Flavors and live use", {"200": _json({"type": "object"})})},
        "/policy": {"get": _op("Quotas and groups (admins)", {"200": _json({"type": "object"})})},
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
            "schemas": SCHEMAS,
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
        },
        "security": [{"hubToken": []}],
        "paths": paths,
    }
