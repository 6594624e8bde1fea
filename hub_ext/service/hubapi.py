"""JupyterHub REST API client: group membership and properties (cached briefly), server stops."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .directory import GroupInfo


class HubAPIError(RuntimeError):
    """The hub answered with an unexpected status."""


class TTLCache:
    """Values that expire; concurrent misses for one key share one fetch."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._values: dict[str, tuple[float, Any]] = {}
        self._inflight: dict[str, asyncio.Future[Any]] = {}

    async def get(self, key: str, fetch: Any) -> Any:
        hit = self._values.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await fetch()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved
            raise
        finally:
            self._inflight.pop(key, None)
        self._values[key] = (time.monotonic(), value)
        future.set_result(value)
        return value

    def clear(self) -> None:
        self._values.clear()


def merged_properties(current: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``wanted`` laid over it, one level deep: a key both hold as tables
    keeps the current table's other entries."""
    merged = dict(current)
    for key, value in wanted.items():
        old = merged.get(key)
        both = isinstance(old, dict) and isinstance(value, dict)
        merged[key] = {**old, **value} if both else value  # type: ignore[dict-item]
    return merged


class HubClient:
    """Talks to the Hub API with the service's own token."""

    def __init__(self, api_url: str, token: str, cache_seconds: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.users = TTLCache(cache_seconds)
        self.groups = TTLCache(cache_seconds)
        self.http = AsyncHTTPClient()

    async def request(
        self, method: str, path: str, body: Any = None, allow_404: bool = False
    ) -> Any:
        headers = {
            "Authorization": f"token {self.token}",
            "Accept": "application/jupyterhub-pagination+json",
        }
        req = HTTPRequest(
            self.api_url + path,
            method=method,
            headers=headers,
            body=json.dumps(body) if body is not None else None,
            allow_nonstandard_methods=True,
            request_timeout=20,
        )
        try:
            response = await self.http.fetch(req)
        except HTTPClientError as error:
            if allow_404 and error.code == 404:
                return None
            detail = error.response.body.decode(errors="replace") if error.response else ""
            raise HubAPIError(f"{method} {path}: {error.code} {detail}") from error
        if not response.body:
            return None
        return json.loads(response.body)

    async def user_groups(self, user: str) -> list[str]:
        async def fetch() -> list[str]:
            model = await self.request("GET", f"/users/{quote(user, safe='')}", allow_404=True)
            return list(model.get("groups") or []) if model else []

        return list(await self.users.get(user, fetch))

    async def group(self, name: str) -> GroupInfo | None:
        async def fetch() -> GroupInfo | None:
            model = await self.request("GET", f"/groups/{quote(name, safe='')}", allow_404=True)
            if not model:
                return None
            return GroupInfo(
                name=model["name"],
                users=list(model.get("users") or []),
                properties=dict(model.get("properties") or {}),
            )

        result: GroupInfo | None = await self.groups.get(name, fetch)
        return result

    async def all_groups(self) -> list[GroupInfo]:
        found: list[GroupInfo] = []
        offset = 0
        while True:
            page = await self.request("GET", f"/groups?offset={offset}&limit=200")
            items = page["items"] if isinstance(page, dict) else page
            for model in items:
                found.append(
                    GroupInfo(
                        name=model["name"],
                        users=list(model.get("users") or []),
                        properties=dict(model.get("properties") or {}),
                    )
                )
            nxt = page.get("_pagination", {}).get("next") if isinstance(page, dict) else None
            if not nxt:
                return found
            offset = int(nxt["offset"])

    async def group_properties(self, name: str) -> dict[str, Any] | None:
        """A group's properties as the hub has them now (no cache), or None if no such group."""
        model = await self.request("GET", f"/groups/{quote(name, safe='')}", allow_404=True)
        return dict(model.get("properties") or {}) if model else None

    async def set_group_properties(self, name: str, properties: dict[str, Any]) -> None:
        """Replace a group's properties (scope groups) and forget what was cached of groups,
        so that the next admission reads them."""
        await self.request("PUT", f"/groups/{quote(name, safe='')}/properties", properties)
        self.groups.clear()

    async def ensure_group(self, name: str, properties: dict[str, Any]) -> None:
        """Create the group if the hub lacks it and give it ``properties`` (admin:groups),
        keeping what else it has (quotas edited on the admin page)."""
        path = f"/groups/{quote(name, safe='')}"
        model = await self.request("GET", path, allow_404=True)
        if model is None:
            model = await self.request("POST", path, {})
        current = dict((model or {}).get("properties") or {})
        wanted = merged_properties(current, properties)
        if wanted != current:
            await self.request("PUT", f"{path}/properties", wanted)
        self.groups.clear()

    async def stop_server(self, user: str, server: str) -> None:
        """Ask the hub to stop a user's server (the default one when server is "")."""
        name = quote(user, safe="")
        path = (
            f"/users/{name}/servers/{quote(server, safe='')}" if server else f"/users/{name}/server"
        )
        await self.request("DELETE", path, allow_404=True)
