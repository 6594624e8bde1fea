"""The one client of the hub service's job API (``api/v1/sites``, ``api/v1/jobs...``).

It calls the service with the user's own JupyterHub token and holds no Kubernetes
credentials. Every answer is read here, defensively, so handlers see checked dicts; a
service error becomes :class:`ServiceError` carrying the service's sentence word for word.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse

from hub_ext.contract import JOB_STATES, OPEN_STATES, Automatic, Job, OffloadFlavor

from .config import OffloadConfig

FINAL = frozenset(JOB_STATES) - OPEN_STATES


class ServiceError(Exception):
    """A request the service refused or could not answer: HTTP status and a sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def read_job(data: Any) -> dict[str, Any]:
    """A job as the service sent it, read through the contract's `Job` type."""
    try:
        job = Job.from_json(data) if isinstance(data, dict) else None
    except (TypeError, ValueError):
        job = None
    if job is None or not job.id:
        raise ServiceError(502, "The accelhub service answered with a job this server cannot read.")
    if job.state not in JOB_STATES:
        raise ServiceError(
            502, f"The accelhub service answered with an unknown job state {job.state!r}."
        )
    return job.to_json()


def _wire(kind: type[Automatic] | type[OffloadFlavor], data: Any) -> dict[str, Any] | None:
    """``data`` read as the contract type ``kind`` (None when it cannot be)."""
    if not isinstance(data, dict):
        return None
    try:
        return kind.from_json(data).to_json()
    except (TypeError, ValueError):
        return None


def _body_message(raw: bytes) -> str:
    """The sentence of an error body: its JSON ``message``, else its text."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip()
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return ""


def _message(response: HTTPResponse | None, fallback: str) -> str:
    if response is None or not response.body:
        return fallback
    return _body_message(response.body) or fallback


class GatewayClient:
    """Calls the service's offload gateway on behalf of this server's user."""

    def __init__(self, config: OffloadConfig) -> None:
        self.config = config

    @property
    def configured(self) -> bool:
        return bool(self.config.service_url)

    def _url(self, path: str) -> str:
        return self.config.service_url.rstrip("/") + "/api/v1/" + path

    async def _fetch(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> HTTPResponse:
        if not self.configured:
            raise ServiceError(
                503,
                "Offload is not configured on this server: it does not know the accelhub "
                "service's URL (OffloadConfig.service_url, $ACCELHUB_SERVICE_URL).",
            )
        headers = {"Accept": "application/json"}
        if self.config.token:
            headers["Authorization"] = f"token {self.config.token}"
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body)
        elif method in ("POST", "PUT"):
            payload = ""
        options.setdefault("request_timeout", self.config.request_timeout)
        request = HTTPRequest(
            self._url(path), method=method, headers=headers, body=payload, **options
        )
        try:
            return await AsyncHTTPClient().fetch(request)
        except HTTPClientError as error:
            if error.code == 599:
                raise ServiceError(
                    502, f"The accelhub service did not answer ({error.message})."
                ) from None
            fallback = f"The accelhub service answered {error.code} without a message."
            raise ServiceError(error.code, _message(error.response, fallback)) from None
        except OSError as error:
            raise ServiceError(
                502, f"The accelhub service cannot be reached ({error.strerror or error})."
            ) from None

    async def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        response = await self._fetch(method, path, body)
        try:
            return json.loads(response.body)
        except ValueError:
            raise ServiceError(
                502, "The accelhub service answered with something that is not JSON."
            ) from None

    async def sites(self, flavor: str | None = None) -> dict[str, Any]:
        """The sites; from services that send them, the caller's flavors and, for ``flavor``,
        Automatic's pick (read through the contract's types; unreadable entries are dropped)."""
        query = "?" + urlencode({"flavor": flavor}) if flavor else ""
        data = await self._json("GET", "sites" + query)
        if not isinstance(data, dict) or not isinstance(data.get("sites"), list):
            raise ServiceError(502, "The accelhub service answered without a list of sites.")
        answer: dict[str, Any] = {"sites": [s for s in data["sites"] if isinstance(s, dict)]}
        if isinstance(data.get("flavors"), list):
            flavors = (_wire(OffloadFlavor, f) for f in data["flavors"])
            answer["flavors"] = [f for f in flavors if f is not None]
        if "automatic" in data:
            answer["automatic"] = _wire(Automatic, data["automatic"])
        return answer

    async def submit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return read_job(await self._json("POST", "jobs", body))

    async def jobs(self) -> list[dict[str, Any]]:
        data = await self._json("GET", "jobs")
        if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
            raise ServiceError(502, "The accelhub service answered without a list of jobs.")
        return [read_job(job) for job in data["jobs"]]

    async def job(self, job_id: str) -> dict[str, Any]:
        return read_job(await self._json("GET", f"jobs/{quote(job_id, safe='')}"))

    async def cancel(self, job_id: str) -> dict[str, Any]:
        return read_job(await self._json("DELETE", f"jobs/{quote(job_id, safe='')}"))

    async def rerun(self, job_id: str) -> dict[str, Any]:
        return read_job(await self._json("POST", f"jobs/{quote(job_id, safe='')}/rerun"))

    async def result(self, job_id: str) -> dict[str, Any]:
        data = await self._json("GET", f"jobs/{quote(job_id, safe='')}/result")
        if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
            raise ServiceError(
                502, "The accelhub service answered with a result that is not a notebook."
            )
        return data

    async def logs(self, job_id: str) -> str:
        response = await self._fetch("GET", f"jobs/{quote(job_id, safe='')}/logs")
        return response.body.decode(errors="replace")

    async def follow_logs(self, job_id: str, on_chunk: Callable[[bytes], None]) -> None:
        """Stream ``logs?follow=1`` into ``on_chunk`` until the service ends it.

        Only a 200 answer's body reaches ``on_chunk``; an error's body becomes the
        :class:`ServiceError`'s sentence, as for every other call.
        """
        status = [0]
        refused: list[bytes] = []

        def on_header(line: str) -> None:
            if line.startswith("HTTP/"):
                status[0] = int(line.split()[1])

        def on_data(chunk: bytes) -> None:
            if status[0] == 200:
                on_chunk(chunk)
            else:
                refused.append(chunk)

        try:
            await self._fetch(
                "GET",
                f"jobs/{quote(job_id, safe='')}/logs?follow=1",
                header_callback=on_header,
                streaming_callback=on_data,
                request_timeout=self.config.follow_timeout,
            )
        except ServiceError as error:
            if refused:
                error.message = _body_message(b"".join(refused)) or error.message
                error.args = (error.message,)
            raise
