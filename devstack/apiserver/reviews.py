"""Answers to self reviews: who the caller is; the devstack admin may do everything."""

from __future__ import annotations

from typing import Any

from devstack.apiserver.registry import ResourceType
from devstack.apiserver.tokens import ADMIN, UserInfo


def review_answer(
    rt: ResourceType, review: dict[str, Any], user: UserInfo = ADMIN
) -> dict[str, Any]:
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
        out["status"] = {"userInfo": user.to_dict()}
    return out
