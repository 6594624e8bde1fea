"""RBAC authorization: Roles and ClusterRoles granted through their bindings.

The devstack admin (group `system:masters`) may do everything; every other user (a
ServiceAccount token) may do what its bindings grant, and is refused in the real API
server's words. There is no escalation check on writes of roles and bindings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from devstack.apiserver.errors import ApiError, forbidden
from devstack.apiserver.tokens import UserInfo

GROUP = "rbac.authorization.k8s.io"


@dataclass(frozen=True)
class Request:
    """What a resource request asks: a verb on (group, resource[/subresource]) somewhere."""

    verb: str
    group: str
    resource: str
    subresource: str = ""
    namespace: str = ""
    name: str = ""


def _subject_matches(subject: dict[str, Any], user: UserInfo, binding_ns: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.username)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        ns = subject.get("namespace") or binding_ns
        return user.username == f"system:serviceaccount:{ns}:{name}"
    return False


def _rule_matches(rule: dict[str, Any], req: Request) -> bool:
    def has(key: str, value: str) -> bool:
        values = rule.get(key) or []
        return "*" in values or value in values

    if not has("verbs", req.verb) or not has("apiGroups", req.group):
        return False
    resources = rule.get("resources") or []
    if req.subresource:
        wanted = f"{req.resource}/{req.subresource}"
        if not ({wanted, "*", f"*/{req.subresource}"} & set(resources)):
            return False
    elif not ({req.resource, "*"} & set(resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or req.name in names


def _rules(store: Any, ref: dict[str, Any], namespace: str) -> list[dict[str, Any]]:
    kind, name = ref.get("kind"), str(ref.get("name") or "")
    if kind == "ClusterRole":
        role = store._data["clusterroles"].get(("", name))
    elif kind == "Role":
        role = store._data["roles"].get((namespace, name))
    else:
        role = None
    return list((role or {}).get("rules") or [])


def granted_rules(store: Any, user: UserInfo, namespace: str) -> Iterator[dict[str, Any]]:
    """Every rule that applies to the user: cluster-wide bindings, then the namespace's."""
    for crb in store._data["clusterrolebindings"].values():
        if any(_subject_matches(s, user, "") for s in crb.get("subjects") or []):
            yield from _rules(store, crb.get("roleRef") or {}, "")
    if namespace:
        for (ns, _name), rb in store._data["rolebindings"].items():
            if ns == namespace and any(
                _subject_matches(s, user, ns) for s in rb.get("subjects") or []
            ):
                yield from _rules(store, rb.get("roleRef") or {}, ns)


def allowed(store: Any, user: UserInfo, req: Request) -> bool:
    """Whether RBAC grants the request."""
    if user.is_admin:
        return True
    return any(_rule_matches(r, req) for r in granted_rules(store, user, req.namespace))


def denial(user: UserInfo, req: Request) -> ApiError:
    """403 Forbidden worded as the API server's RBAC denial."""
    what = f"{req.resource}/{req.subresource}" if req.subresource else req.resource
    where = f'in the namespace "{req.namespace}"' if req.namespace else "at the cluster scope"
    return forbidden(
        req.resource,
        req.name,
        f'User "{user.username}" cannot {req.verb} resource "{what}" in API group '
        f'"{req.group}" {where}',
        req.group,
    )


def authorize(store: Any, user: UserInfo, req: Request) -> None:
    """Raise the real 403 unless RBAC grants the request."""
    if not allowed(store, user, req):
        raise denial(user, req)
