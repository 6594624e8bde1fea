"""The hub's OIDC login: oauthenticator's GenericOAuthenticator with groups from the provider.

At every login (and every `refresh_user`) JupyterHub's groups follow the provider's claims
(`manage_groups`): the IAM-style `groups` claim, the Check-in-style entitlement URNs mapped by
`EntitlementMapper`, or both. Auth state (tokens and claims) is kept, encrypted by JupyterHub's
CryptKeeper (`JUPYTERHUB_CRYPT_KEY`); tokens are refreshed with the refresh token when they
expire, and a user whose refresh fails must log in again (oauthenticator's `refresh_user`).
"""

from __future__ import annotations

from typing import Any

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Instance, Unicode, default

from .discovery import discover
from .entitlements import EntitlementMapper


class AccelhubOAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator for INFN IAM and EGI Check-in (and devstack's provider)."""

    issuer = Unicode(
        "",
        config=True,
        help="""OIDC issuer URL. When set, the authorize, token and userinfo URLs default to
        the ones its discovery document (`<issuer>/.well-known/openid-configuration`) names,
        fetched once at start-up.""",
    )
    groups_claim = Unicode(
        "groups",
        config=True,
        help="""Userinfo claim listing the user's group names as they are (INFN IAM: `groups`).
        Empty to take no groups from such a claim.""",
    )
    entitlements_claim = Unicode(
        "",
        config=True,
        help="""Userinfo claim with AARC-G002 entitlement URNs mapped by `EntitlementMapper`
        (EGI Check-in: `eduperson_entitlement`). Empty to map none.""",
    )
    mapper = Instance(EntitlementMapper)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.issuer:  # read the discovery document now, at start-up, not at a login
            for name in ("authorize_url", "token_url", "userdata_url"):
                if not getattr(self, name):
                    raise ValueError(f"{self.issuer} names no {name} in its discovery document")

    @default("mapper")
    def _mapper_default(self) -> EntitlementMapper:
        return EntitlementMapper(parent=self, log=self.log)

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True

    @default("enable_auth_state")
    def _enable_auth_state_default(self) -> bool:
        return True

    @default("username_claim")
    def _username_claim_default(self) -> str:
        return "preferred_username"

    @default("scope")
    def _scope_default(self) -> list[str]:
        return ["openid", "profile", "email", "offline_access"]

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        return self._discovered("authorization_endpoint")

    @default("token_url")
    def _token_url_default(self) -> str:
        return self._discovered("token_endpoint")

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return self._discovered("userinfo_endpoint")

    def _discovered(self, key: str) -> str:
        if not self.issuer:
            return ""
        return discover(self.issuer).get(key, "")

    def claim_groups(self, user_info: dict[str, Any]) -> set[str]:
        """The JupyterHub groups a user's claims name."""
        groups: set[str] = set()
        if self.groups_claim:
            value = user_info.get(self.groups_claim) or []
            if isinstance(value, list):
                groups.update(str(name).strip("/") for name in value if str(name).strip("/"))
            else:
                self.log.warning("Ignoring claim %s: not a list", self.groups_claim)
        if self.entitlements_claim:
            urns = user_info.get(self.entitlements_claim) or []
            if isinstance(urns, str):
                urns = [urns]
            groups |= self.mapper.map(urns)
        return groups

    async def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        """Groups from the user info kept in auth state (oauthenticator calls this)."""
        return self.claim_groups(auth_state.get(self.user_auth_state_key) or {})
