"""REST handlers: flavors, policy, the OpenAPI document and Prometheus metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .base import APIError, APIHandler, BaseHandler
from .openapi import openapi_document


class FlavorsHandler(APIHandler):
    async def get(self) -> None:
        self.need_principal()
        flavors = []
        for slug, flavor in self.core.flavors.items():
            cap = self.core.capacity(slug)
            body: dict[str, Any] = {
                "slug": slug,
                "kind": flavor.kind,
                "resource": flavor.resource,
                "groups": list(flavor.groups),
                "in_use": self.core.ledger.flavor_used.get(slug, 0),
                "capacity": asdict(cap) if cap is not None else None,
                "waiting": len(self.core.ledger.queue.get(slug, ())),
            }
            flavors.append(body)
        self.write_json({"flavors": flavors})


class PolicyHandler(APIHandler):
    async def get(self) -> None:
        principal = self.need_principal()
        if not principal.admin:
            raise self.forbid("Only accelhub admins may read the whole policy.")
        policy = self.core.policy
        groups = []
        for info in await self.core.directory.all_groups():
            groups.append(
                {
                    "name": info.name,
                    "members": len(info.users),
                    "settings": dict(policy.group_settings(info.properties)),
                    "configured_quotas": policy.group_quotas.get(info.name),
                    "in_use": {
                        slug: used
                        for (group, slug), used in self.core.ledger.group_used.items()
                        if group == info.name and used
                    },
                }
            )
        self.write_json(
            {
                "group_quotas": policy.group_quotas,
                "default_quota": policy.default_quota,
                "groups": groups,
                "idle_timeout_minutes": self.app.idle_timeout_minutes,
            }
        )


class OpenAPIHandler(APIHandler):
    async def prepare(self) -> None:
        return None

    async def get(self) -> None:
        self.write_json(openapi_document(self.app.service_prefix))


class MetricsHandler(BaseHandler):
    async def prepare(self) -> None:
        if self.app.metrics_require_auth:
            await super().prepare()

    async def get(self) -> None:
        if self.app.metrics_require_auth:
            scopes = self.principal.scopes if self.principal else frozenset()
            if "read:metrics" not in scopes:
                self.set_status(403)
                self.finish("read:metrics is required\n")
                return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.app.metrics.registry))


class NotFoundHandler(APIHandler):
    """Any path no route matches: a 404 sentence like every other error."""

    async def prepare(self) -> None:
        raise APIError(404, "There is no such page or API path.")
