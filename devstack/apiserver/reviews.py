"""Answers to self reviews: who the caller is and what RBAC lets it do."""

from __future__ import annotations

from typing import Any

from devstack.apiserver import rbac
from devstack.apiserver.registry import ResourceType
from devstack.apiserver.tokens import UserInfo

_EVERYTHING = {
    "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
    "incomplete": False,
}


def review_answer(
    store: Any, rt: ResourceType, review: dict[str, Any], user: UserInfo
) -> dict[str, Any]:
    """The review with its status filled in, as `kubectl auth can-i/whoami` expect."""
    out = dict(review)
    out["apiVersion"], out["kind"] = rt.api_version, rt.kind
    out.setdefault("metadata", {})
    spec = review.get("spec") if isinstance(review.get("spec"), dict) else {}
    assert isinstance(spec, dict)
    if rt.plural == "selfsubjectaccessreviews":
        attrs = spec.get("resourceAttributes")
        if user.is_admin or not isinstance(attrs, dict):
            # Non-resource URLs (discovery, version, health) are open to every user.
            out["status"] = {"allowed": True}
            return out
        req = rbac.Request(
            str(attrs.get("verb") or ""),
            str(attrs.get("group") or ""),
            str(attrs.get("resource") or ""),
            str(attrs.get("subresource") or ""),
            str(attrs.get("namespace") or ""),
            str(attrs.get("name") or ""),
        )
        out["status"] = {"allowed": rbac.allowed(store, user, req)}
    elif rt.plural == "selfsubjectrulesreviews":
        if user.is_admin:
            out["status"] = dict(_EVERYTHING)
        else:
            ns = str(spec.get("namespace") or "")
            rules = [
                {k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if k in r}
                for r in rbac.granted_rules(store, user, ns)
                if r.get("resources")
            ]
            out["status"] = {
                "resourceRules": rules,
                "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["*"]}],
                "incomplete": False,
            }
    else:
        out["status"] = {"userInfo": user.to_dict()}
    return out
