"""API errors and their Kubernetes `Status` form, with the real reasons and messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from devstack.apiserver import gojson

#: The API server's own wording for a malformed quantity (kubectl users know it).
QUANTITY_ERROR = (
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
)


@dataclass
class Cause:
    """One `details.causes` entry of an Invalid status."""

    reason: str
    message: str
    field: str

    def to_dict(self) -> dict[str, str]:
        """Return the wire form."""
        return {"reason": self.reason, "message": self.message, "field": self.field}


@dataclass
class ApiError(Exception):
    """An error the API server answers with a `kind: Status` body.

    `status` is the HTTP code, `reason` the StatusReason (`NotFound`, `Conflict`...),
    `message` the human sentence clients print.
    """

    status: int
    reason: str
    message: str
    name: str | None = None
    group: str | None = None
    kind: str | None = None
    causes: list[Cause] = field(default_factory=list)
    retry_after: int | None = None

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.message}"

    def to_status(self) -> dict[str, Any]:
        """Return the `Status` object a real API server sends, in metav1.Status field order."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
        }
        if self.message:
            body["message"] = self.message
        if self.reason:
            body["reason"] = self.reason
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            body["details"] = details
        body["code"] = self.status
        return body

    def status_body(self) -> bytes:
        """The `Status` as the bytes a real API server writes."""
        return gojson.encode(self.to_status())

    def watch_event(self) -> bytes:
        """The watch `ERROR` event line carrying this `Status`."""
        return gojson.encode({"type": "ERROR", "object": self.to_status()})


def not_found(plural: str, name: str, group: str = "") -> ApiError:
    """`pods "x" not found`."""
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        404, "NotFound", f'{what} "{name}" not found', name=name, group=group, kind=plural
    )


def already_exists(plural: str, name: str, group: str = "") -> ApiError:
    """`pods "x" already exists`."""
    what = f"{plural}.{group}" if group else plural
    return ApiError(
        409, "AlreadyExists", f'{what} "{name}" already exists', name=name, group=group, kind=plural
    )


def conflict(plural: str, name: str, group: str = "", detail: str | None = None) -> ApiError:
    """The optimistic-concurrency conflict every controller retries on."""
    what = f"{plural}.{group}" if group else plural
    detail = detail or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {what} "{name}": {detail}',
        name=name,
        group=group,
        kind=plural,
    )


def invalid(kind: str, name: str, causes: list[Cause], group: str = "") -> ApiError:
    """422 Invalid with `details.causes`, message shaped like the real aggregate."""
    parts = [f"{c.field}: {c.message}" if c.field else c.message for c in causes]
    joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
    what = f"{kind}.{group}" if group else kind
    return ApiError(
        422,
        "Invalid",
        f'{what} "{name}" is invalid: {joined}',
        name=name,
        group=group,
        kind=kind,
        causes=causes,
    )


def bad_request(message: str) -> ApiError:
    """400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def gone(message: str = "too old resource version") -> ApiError:
    """410 Expired, sent when a watch or continue token is too old."""
    return ApiError(410, "Expired", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    """415 UnsupportedMediaType."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types "
        "include: application/json-patch+json, application/merge-patch+json, "
        "application/apply-patch+yaml, application/strategic-merge-patch+json"
        if content_type == "patch"
        else "the body of the request was in an unknown format - accepted media types "
        "include: application/json, application/yaml, "
        "application/vnd.kubernetes.protobuf",
    )


def forbidden(plural: str, name: str, message: str, group: str = "") -> ApiError:
    """403 Forbidden in the `pods "x" is forbidden: ...` shape."""
    what = f"{plural}.{group}" if group else plural
    text = f'{what} "{name}" is forbidden: {message}' if name else f"{what} is forbidden: {message}"
    return ApiError(403, "Forbidden", text, name=name or None, group=group, kind=plural)


def unauthorized() -> ApiError:
    """401 Unauthorized."""
    return ApiError(401, "Unauthorized", "Unauthorized")
