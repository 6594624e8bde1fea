"""The login part of the values: AccelhubOAuthenticator, the groups it manages, its secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .content import Found
from .problems import dig

AUTHENTICATORS = {"hub_ext.auth.AccelhubOAuthenticator", "accelhub-oidc"}
AUTH = "hub.config.AccelhubOAuthenticator"


def check_login(values: Mapping[str, Any], found: Found) -> None:
    """An OIDC login that can work: endpoints, a secret kept out of the values, groups."""
    if dig(values, "hub.config.JupyterHub.authenticator_class") not in AUTHENTICATORS:
        return
    auth = dig(values, AUTH) or {}
    if not isinstance(auth, Mapping):
        auth = {}
    if not auth.get("issuer") and not auth.get("authorize_url"):
        found.fail(f"{AUTH}.issuer", "is not set: the hub would not know where to log users in")
    if auth.get("client_secret"):
        found.fail(
            f"{AUTH}.client_secret",
            "is in the values: keep it in a Secret and pass it as OAUTH_CLIENT_SECRET "
            "(hub.extraEnv)",
        )
    if auth.get("manage_groups", True) and dig(values, "hub.config.JupyterHub.load_groups"):
        found.fail(
            "hub.config.JupyterHub.load_groups",
            "JupyterHub refuses to load groups when the authenticator manages them: give "
            "their properties to the service (AccelhubService.hub_groups)",
        )
    mapper = dig(values, "hub.config.EntitlementMapper") or {}
    if (
        auth.get("entitlements_claim")
        and not (mapper.get("groups") if isinstance(mapper, Mapping) else None)
        and not (mapper.get("map_unlisted") if isinstance(mapper, Mapping) else False)
    ):
        found.fail(
            "hub.config.EntitlementMapper.groups",
            "is empty: no entitlement would give a group (list VO paths, or map_unlisted)",
        )
    if found.service_setting("AccelhubService", "hub_groups"):
        name = found.service_name or "accelhub"
        roles = dig(values, "hub.loadRoles") or {}
        if not any(
            isinstance(role, Mapping)
            and name in (role.get("services") or [])
            and "admin:groups" in (role.get("scopes") or [])
            for role in roles.values()
        ):
            found.fail(
                found.setting_key("AccelhubService", "hub_groups"),
                f"needs a role giving the {name} service the scope admin:groups",
            )
