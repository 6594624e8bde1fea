"""Answers to access reviews: the devstack token holder may do everything."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.registry import ResourceType

ADMIN = {"username": "devstack-admin", "groups": ["system:masters", "system:authenticated"]}


def review_answer(rt: ResourceType, review: dict[str, Any]) -> dict[str, Any]:
    """The review with its status filled in, as `kubectl auth can-i/whoami` expect."""
    out = dict(review)
    out["apiVersion"], out["kind"] = rt.api_version, rt.kind
    out.setdefault("metadata", {})
    if rt.plural == "selfsubjectaccessreviews":
        out["status"] = {"allowed": True, "reason": "devstack grants every request"}
    elif rt.plural == "selfsubjectrulesreviews":
        out["status"] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    else:
        out["status"] = {"userInfo": dict(ADMIN)}
    return out
