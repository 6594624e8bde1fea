"""Login through an OIDC provider: groups from its claims (IAM groups, EGI entitlements)."""

from .authenticator import AccelhubOAuthenticator
from .entitlements import EntitlementMapper, parse_entitlement

__all__ = ["AccelhubOAuthenticator", "EntitlementMapper", "parse_entitlement"]
