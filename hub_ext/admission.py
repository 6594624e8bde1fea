"""Admission: what the spawner asks for a lease, and the client of the hub service's API."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from traitlets import Float, List, Unicode, default
from traitlets.config import LoggingConfigurable

from .catalog import Flavor

REASONS = ("quota", "user_cap", "reservation", "capacity", "not_allowed", "unknown_flavor")


class AdmissionUnavailable(RuntimeError):
    """The admission service could not be asked; the message is a sentence for a person."""


@dataclass(frozen=True)
class Reservation:
    """A hackathon reservation a lease claims or an entitlement shows."""

    id: str
    name: str
    group: str
    ends_at: str | None = None
    unclaimed: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Reservation | None:
        """A Reservation from the service's JSON (None stays None)."""
        if not data:
            return None
        return cls(
            id=str(data.get("id", "")),
            name=str(data.get("name", "")),
            group=str(data.get("group", "")),
            ends_at=_opt_str(data.get("ends_at") or data.get("end")),
            unclaimed=_opt_int(data.get("unclaimed")),
        )


@dataclass(frozen=True)
class InUse:
    """Devices in use when a request was refused, for the message a user reads."""

    user: int = 0
    group: int = 0
    group_quota: int | None = None
    user_cap: int | None = None
    free: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> InUse | None:
        """An InUse from the service's JSON."""
        if not data:
            return None
        return cls(
            user=_opt_int(data.get("user")) or 0,
            group=_opt_int(data.get("group")) or 0,
            group_quota=_opt_int(data.get("group_quota")),
            user_cap=_opt_int(data.get("user_cap")),
            free=_opt_int(data.get("free")),
        )


@dataclass(frozen=True)
class LeaseDecision:
    """The answer to a lease request: granted with what to add to the pod, or refused and why."""

    granted: bool
    lease_id: str | None = None
    tolerations: list[dict[str, Any]] = field(default_factory=list, hash=False)
    node_selector: dict[str, str] = field(default_factory=dict, hash=False)
    priority_class_name: str | None = None
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    reservation: Reservation | None = None
    expires_at: str | None = None
    reason: str | None = None
    message: str = ""
    in_use: InUse | None = None
    queue_position: int | None = None
    queue_length: int | None = None
    retry_after_seconds: float | None = None
    local: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LeaseDecision:
        """Parse the service's ``POST api/v1/admissions`` answer."""
        if data.get("granted"):
            lease = data.get("lease") or {}
            if not lease.get("id"):
                raise ValueError("a granted admission carries no lease id")
            return cls(
                granted=True,
                lease_id=str(lease["id"]),
                tolerations=[dict(t) for t in lease.get("tolerations") or []],
                node_selector={
                    str(k): str(v) for k, v in (lease.get("node_selector") or {}).items()
                },
                priority_class_name=_opt_str(lease.get("priority_class_name")),
                labels={str(k): str(v) for k, v in (lease.get("labels") or {}).items()},
                reservation=_reservation(lease.get("reservation")),
                expires_at=_opt_str(lease.get("expires_at")),
            )
        reason = str(data.get("reason") or "capacity")
        return cls(
            granted=False,
            reason=reason,
            message=str(data.get("message") or ""),
            in_use=InUse.from_json(data.get("in_use")),
            queue_position=_opt_int(data.get("queue_position")),
            queue_length=_opt_int(data.get("queue_length")),
            retry_after_seconds=_opt_float(data.get("retry_after_seconds")),
        )


@dataclass(frozen=True)
class Entitlement:
    """What one user may do with one flavor right now (for the spawn form)."""

    allowed: bool
    reason: str | None = None
    user_in_use: int = 0
    user_cap: int | None = None
    group_quota_remaining: int | None = None
    reservation: Reservation | None = None
    queue_position: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Entitlement:
        """Parse one flavor's entry of ``GET api/v1/users/{name}/entitlements``."""
        return cls(
            allowed=bool(data.get("allowed", False)),
            reason=_opt_str(data.get("reason")),
            user_in_use=_opt_int(data.get("user_in_use")) or 0,
            user_cap=_opt_int(data.get("user_cap")),
            group_quota_remaining=_opt_int(data.get("group_quota_remaining")),
            reservation=Reservation.from_json(data.get("reservation")),
            queue_position=_opt_int(data.get("queue_position")),
        )


def _reservation(data: Any) -> Reservation | None:
    if isinstance(data, Mapping):
        return Reservation.from_json(data)
    if data:
        return Reservation(id=str(data), name=str(data), group="")
    return None


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _opt_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


@runtime_checkable
class AdmissionPolicy(Protocol):
    """What the spawner needs from whoever decides who gets which accelerator."""

    async def request_lease(
        self,
        user: str,
        groups: list[str],
        server: str,
        flavor: Flavor,
        count: int,
        wait: bool,
    ) -> LeaseDecision:
        """Ask for ``count`` devices of ``flavor`` for ``user``'s ``server``."""
        ...

    async def bind_lease(self, lease_id: str, namespace: str, pod: str) -> None:
        """Tell the policy which pod holds the lease."""
        ...

    async def release_lease(self, lease_id: str) -> None:
        """Give the devices back; releasing an unknown lease is not an error."""
        ...

    async def leave_queue(self, user: str, server: str) -> None:
        """Take ``user``'s ``server`` out of every waiting line (not being in one is fine)."""
        ...

    async def entitlements(self, user: str, groups: list[str]) -> dict[str, Entitlement]:
        """Per flavor slug, what ``user`` may use now."""
        ...


def _refuse(reason: str, message: str, in_use: InUse | None = None) -> LeaseDecision:
    return LeaseDecision(granted=False, reason=reason, message=message, in_use=in_use)


class ServicePolicy(LoggingConfigurable):
    """Client of the hub service's admission REST API (``api/v1/...``)."""

    url = Unicode(
        config=True,
        help="Base URL of the hub service as the hub reaches it, e.g. "
        "http://127.0.0.1:8081/services/accelhub/ (default: $ACCELHUB_ADMISSION_URL).",
    )
    token = Unicode(
        config=True,
        help="API token the spawner presents to the service (default: $ACCELHUB_ADMISSION_TOKEN).",
    )
    request_timeout = Float(
        10.0, config=True, help="Seconds to wait for the service before giving up on a request."
    )
    fail_open_kinds = List(
        Unicode(),
        ["cpu"],
        config=True,
        help="Flavor kinds granted without a lease when the service cannot be reached "
        "(an empty list refuses every spawn while the service is down).",
    )

    activity_url = Unicode(
        config=True,
        help="URL user servers send GPU activity reports to (their $ACCELHUB_ACTIVITY_URL), "
        "as a user server reaches the service (default: <url>api/v1/activity).",
    )

    @default("url")
    def _default_url(self) -> str:
        return os.environ.get("ACCELHUB_ADMISSION_URL", "http://127.0.0.1:8081/services/accelhub/")

    @default("activity_url")
    def _default_activity_url(self) -> str:
        return self._endpoint("api/v1/activity")

    @default("token")
    def _default_token(self) -> str:
        return os.environ.get("ACCELHUB_ADMISSION_TOKEN", "")

    def _endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + "/" + path.lstrip("/")

    async def _call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> HTTPResponse:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"token {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = HTTPRequest(
            self._endpoint(path),
            method=method,
            headers=headers,
            body=None if body is None else json.dumps(body),
            request_timeout=self.request_timeout,
            connect_timeout=min(self.request_timeout, 5.0),
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as err:
            raise AdmissionUnavailable(
                f"The accelerator admission service at {self.url} cannot be reached ({err})."
            ) from None
        if response.code == 599 or response.code >= 500:
            detail = response.error or _message(response) or f"HTTP {response.code}"
            raise AdmissionUnavailable(
                f"The accelerator admission service at {self.url} is not working ({detail})."
            )
        if response.code in (401, 403):
            raise AdmissionUnavailable(
                "The hub is not allowed to ask the accelerator admission service "
                f"(HTTP {response.code}); an administrator must check its token."
            )
        return response

    async def request_lease(
        self,
        user: str,
        groups: list[str],
        server: str,
        flavor: Flavor,
        count: int,
        wait: bool,
    ) -> LeaseDecision:
        """POST api/v1/admissions; fail open for ``fail_open_kinds`` when the service is down."""
        body = {"user": user, "server": server, "flavor": flavor.slug, "count": count, "wait": wait}
        try:
            response = await self._call("POST", "api/v1/admissions", body)
        except AdmissionUnavailable:
            if flavor.kind in self.fail_open_kinds:
                self.log.warning("admission service down: granting %s without a lease", flavor.slug)
                return LeaseDecision(granted=True, lease_id=None, local=True)
            raise
        data = _json(response)
        if response.code == 404 and not data:
            raise AdmissionUnavailable(
                f"The accelerator admission service is not registered at {self.url} (HTTP 404)."
            )
        if response.code >= 400 or data is None:
            if data and data.get("granted") is False:
                return LeaseDecision.from_json(data)
            return _refuse(
                "not_allowed",
                _message(response)
                or f"The admission service refused the request (HTTP {response.code}).",
            )
        try:
            return LeaseDecision.from_json(data)
        except ValueError as err:
            raise AdmissionUnavailable(f"The admission service answered nonsense: {err}.") from None

    async def bind_lease(self, lease_id: str, namespace: str, pod: str) -> None:
        """POST api/v1/leases/{id}/bind."""
        path = f"api/v1/leases/{quote(lease_id, safe='')}/bind"
        response = await self._call("POST", path, {"namespace": namespace, "pod": pod})
        if response.code >= 400:
            self.log.warning("binding lease %s failed: HTTP %s", lease_id, response.code)

    async def release_lease(self, lease_id: str) -> None:
        """DELETE api/v1/leases/{id}; 404 means it is already gone."""
        response = await self._call("DELETE", f"api/v1/leases/{quote(lease_id, safe='')}")
        if response.code >= 400 and response.code != 404:
            self.log.warning("releasing lease %s failed: HTTP %s", lease_id, response.code)

    async def leave_queue(self, user: str, server: str) -> None:
        """DELETE api/v1/queue?user=&server= (every flavor's line)."""
        query = urlencode({"user": user, "server": server})
        response = await self._call("DELETE", f"api/v1/queue?{query}")
        if response.code >= 400:
            self.log.warning("leaving the line for %s/%s: HTTP %s", user, server, response.code)

    async def entitlements(self, user: str, groups: list[str]) -> dict[str, Entitlement]:
        """GET api/v1/users/{name}/entitlements."""
        response = await self._call("GET", f"api/v1/users/{quote(user, safe='')}/entitlements")
        data = _json(response) or {}
        flavors = data.get("flavors") or {}
        if response.code >= 400 or not isinstance(flavors, Mapping):
            return {}
        return {
            str(slug): Entitlement.from_json(entry)
            for slug, entry in flavors.items()
            if isinstance(entry, Mapping)
        }


def _json(response: HTTPResponse) -> dict[str, Any] | None:
    if not response.body:
        return None
    try:
        data = json.loads(response.body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _message(response: HTTPResponse) -> str:
    data = _json(response) or {}
    return str(data.get("message") or data.get("error") or "")
