"""Who a request is: the devstack admin token, or a ServiceAccount token."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.tokens import ADMIN, UserInfo, service_account_user


def authenticate(header: str, admin_token: str | None, store: Any) -> UserInfo | None:
    """The user of an `Authorization` header; None when it proves nobody (401).

    With no admin token configured every request is the admin, as before tokens existed.
    A ServiceAccount token is valid while its signature holds, it has not expired and its
    ServiceAccount still exists with the same uid.
    """
    if admin_token is None:
        return ADMIN
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    if token == admin_token:
        return ADMIN
    claims = store.tokens.claims(token)
    if claims is None:
        return None
    ref = claims.get("kubernetes.io") or {}
    ns = str(ref.get("namespace") or "")
    sa = ref.get("serviceaccount") or {}
    name, uid = str(sa.get("name") or ""), str(sa.get("uid") or "")
    current = store._data["serviceaccounts"].get((ns, name))
    if current is None or current["metadata"].get("uid") != uid:
        return None
    return service_account_user(ns, name, uid)
