"""How the pieces reach each other: the service behind the proxy, user servers to the service,
tokens the chart generates, roles and scopes, the service's in-cluster environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from ..service.auth import ADMIN, ADMIT, CUSTOM_SCOPES, OFFLOAD, ORGANISE, SERVICE_HUB_SCOPES
from .content import Found
from .problems import dig

LOOPBACK = ("127.", "localhost", "::1", "0.0.0.0")
SPAWNER_CLASSES = ("accelerator", "hub_ext.spawner.AcceleratorSpawner")


def _extra_config(values: Mapping[str, Any]) -> str:
    return "\n".join(str(v) for v in (dig(values, "hub.extraConfig") or {}).values())


def _hub_service_port(values: Mapping[str, Any], port: int) -> bool:
    for entry in dig(values, "hub.service.extraPorts") or []:
        if isinstance(entry, Mapping) and entry.get("port") == port:
            return True
    return False


def _rule_allows(rules: Any, port: int) -> bool:
    for rule in rules or []:
        ports = rule.get("ports") if isinstance(rule, Mapping) else None
        if ports is None or any(isinstance(p, Mapping) and p.get("port") == port for p in ports):
            return True
    return False


def check_reachability(values: Mapping[str, Any], found: Found) -> None:
    """The proxy reaches the service at http://hub:PORT: exposed, allowed, and listened on."""
    name = found.service_name
    if name is None:
        return
    key = f"hub.services.{name}.url"
    url = urlparse(str(dig(values, key) or ""))
    host = url.hostname or ""
    if not url.port or host.startswith(LOOPBACK):
        found.fail(
            key,
            f"{dig(values, key)!r}: the proxy pod reaches the service through the hub's "
            "Service, e.g. http://hub:10101 (a loopback URL points into the proxy pod)",
        )
        return
    if not _hub_service_port(values, url.port):
        found.fail("hub.service.extraPorts", f"exposes no port {url.port} for the {name} service")
    if dig(values, "hub.networkPolicy.enabled", True) and not _rule_allows(
        dig(values, "hub.networkPolicy.ingress"), url.port
    ):
        found.fail(
            "hub.networkPolicy.ingress", f"has no rule letting the proxy in to port {url.port}"
        )
    bind = urlparse(str(found.service_setting("AccelhubService", "bind_url", "") or ""))
    if bind.hostname not in ("0.0.0.0", "", None) or bind.port != url.port:
        found.fail(
            found.setting_key("AccelhubService", "bind_url"),
            f"must listen on http://0.0.0.0:{url.port} (all of the hub pod's addresses)",
        )


def check_activity(values: Mapping[str, Any], found: Found) -> None:
    """User servers can send GPU activity to the service (idle reclaim depends on it)."""
    key = "hub.config.ServicePolicy.activity_url"
    value = dig(values, key)
    if not value:
        found.fail(key, "is not set: user servers would report to the hub pod's loopback")
        return
    url = urlparse(str(value))
    if (url.hostname or "").startswith(LOOPBACK) or not url.port:
        found.fail(key, f"{value!r} is not an address user pods reach (use http://hub:PORT/...)")
        return
    if not url.path.endswith("/api/v1/activity"):
        found.fail(key, f"{value!r} does not end with the service's /api/v1/activity")
    if not _hub_service_port(values, url.port):
        found.fail(key, f"port {url.port} is not one of hub.service.extraPorts")
    if dig(values, "singleuser.networkPolicy.enabled", True) and not _rule_allows(
        dig(values, "singleuser.networkPolicy.egress"), url.port
    ):
        found.fail(
            "singleuser.networkPolicy.egress",
            f"has no rule letting user servers out to port {url.port} (activity reports)",
        )


def check_tokens(values: Mapping[str, Any], found: Found) -> None:
    """Tokens come from the chart's Secret, not from values."""
    for name, service in (dig(values, "hub.services") or {}).items():
        for field in ("apiToken", "api_token"):
            if isinstance(service, Mapping) and service.get(field):
                found.fail(
                    f"hub.services.{name}.{field}",
                    "is set in values: leave it out and the chart generates it into its Secret",
                )
    if dig(values, "hub.config.ServicePolicy.token"):
        found.fail("hub.config.ServicePolicy.token", "is a token in plain values: leave it out")
    spawner = _role_holder(values, ADMIT)
    if spawner is None:
        found.fail("hub.loadRoles", f"no role gives a service the scope {ADMIT} (the spawner's)")
        return
    wired = f"hub.services.{spawner}.apiToken" in _extra_config(values)
    env = dig(values, "hub.extraEnv.ACCELHUB_ADMISSION_TOKEN")
    if spawner not in (dig(values, "hub.services") or {}):
        found.fail(f"hub.services.{spawner}", f"is missing: the role for {ADMIT} names it")
    elif not wired and not env:
        found.fail(
            "hub.extraConfig",
            f"nothing gives the spawner the token of {spawner!r}: set c.ServicePolicy.token = "
            f'get_secret_value("hub.services.{spawner}.apiToken")',
        )


def _role_holder(values: Mapping[str, Any], scope: str) -> str | None:
    for role in (dig(values, "hub.loadRoles") or {}).values():
        if isinstance(role, Mapping) and scope in (role.get("scopes") or []):
            for service in role.get("services") or []:
                return str(service)
    return None


def check_roles(values: Mapping[str, Any], found: Found) -> None:
    """Users, organisers, admins and the service get the scopes accelhub needs."""
    roles = dig(values, "hub.loadRoles") or {}
    name = found.service_name or "accelhub"
    access = f"access:services!service={name}"
    user = roles.get("user")
    if not isinstance(user, Mapping):
        user = {}
    for scope in (access, OFFLOAD):
        if scope not in (user.get("scopes") or []):
            found.fail(
                "hub.loadRoles.user.scopes",
                f"lacks {scope!r}: users would get a 403 from the service",
            )
    for scope in (ADMIN, ORGANISE):
        holders = [
            r
            for r in roles.values()
            if isinstance(r, Mapping) and scope in (r.get("scopes") or []) and access in r["scopes"]
        ]
        if not holders:
            found.fail("hub.loadRoles", f"no role grants {scope!r} together with {access!r}")
    service_scopes: set[str] = set()
    for role in roles.values():
        if isinstance(role, Mapping) and name in (role.get("services") or []):
            service_scopes.update(role.get("scopes") or [])
    missing = [s for s in SERVICE_HUB_SCOPES if s not in service_scopes]
    if missing:
        found.fail("hub.loadRoles", f"the {name} service lacks the scopes {', '.join(missing)}")
    defined = set(dig(values, "hub.config.JupyterHub.custom_scopes") or {})
    if "CUSTOM_SCOPES" in _extra_config(values):
        defined |= set(CUSTOM_SCOPES)
    for key, role in roles.items():
        for scope in (role.get("scopes") or []) if isinstance(role, Mapping) else []:
            base = str(scope).split("!", 1)[0]
            if base.startswith("custom:") and base not in defined:
                found.fail(f"hub.loadRoles.{key}.scopes", f"{base!r} is not a defined custom scope")
    spawner_class = dig(values, "hub.config.JupyterHub.spawner_class")
    if spawner_class not in SPAWNER_CLASSES:
        found.fail(
            "hub.config.JupyterHub.spawner_class",
            f"{spawner_class!r}: accelhub needs 'accelerator'",
        )


def check_environment(values: Mapping[str, Any], found: Found) -> None:
    """The service gets KUBERNETES_SERVICE_HOST/PORT (JupyterHub passes it only env_keep)."""
    name = found.service_name
    if name is None:
        return
    env = dig(values, f"hub.services.{name}.environment") or {}
    config = _extra_config(values)
    for var in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        if var not in env and var not in config:
            found.fail(
                f"hub.services.{name}.environment",
                f"lacks {var}: the service cannot reach the Kubernetes API",
            )
