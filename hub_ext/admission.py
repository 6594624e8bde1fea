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
from .contract import REASONS, ContractError, Entitlement, InUse, Refusal, admission_answer
from .contract import ReservationRef as Reservation

__all__ = [
    "REASONS",
    "AdmissionPolicy",
    "AdmissionUnavailable",
    "Entitlement",
    "InUse",
    "LeaseDecision",
    "Reservation",
    "ServicePolicy",
]


class AdmissionUnavailable(RuntimeError):
    """The admission service could not be asked; the message is a sentence for a person."""


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
        """Read the service's ``POST api/v1/admissions`` answer (``contract.Granted`` or
        ``contract.Refusal``)."""
        answer = admission_answer(data)
        if isinstance(answer, Refusal):
            return cls(
                granted=False,
                reason=answer.reason,
                message=answer.message,
                in_use=answer.in_use,
                queue_position=answer.queue_position,
                queue_length=answer.queue_length,
                retry_after_seconds=answer.retry_after_seconds,
            )
        lease = answer.lease
        return cls(
            granted=True,
            lease_id=lease.id,
            tolerations=lease.tolerations,
            node_selector=lease.node_selector,
            priority_class_name=lease.priority_class_name,
            labels=lease.labels,
            reservation=(
                Reservation(id=lease.reservation, name=lease.reservation, group=lease.group or "")
                if lease.reservation
                else None
            ),
            expires_at=lease.expires_at,
        )


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

    user_url = Unicode(
        config=True,
        help="Base URL of the hub service as a user server reaches it (its "
        "$ACCELHUB_SERVICE_URL, for offload) (default: url).",
    )

    @default("user_url")
    def _default_user_url(self) -> str:
        return self.url

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
        except ContractError as err:
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
