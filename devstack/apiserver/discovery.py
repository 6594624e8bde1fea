"""Discovery documents (`/version`, `/api`, `/apis`, resource lists, aggregated v2)."""

from __future__ import annotations

import hashlib
from typing import Any

from devstack.apiserver.registry import GROUP_PREFERRED, Registry, ResourceType

Doc = dict[str, Any]
SERVER_VERSION = {
    "major": "1",
    "minor": "37",
    "gitVersion": "v1.37.0-devstack",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
}

_SUB_VERBS = {
    "status": ["get", "patch", "update"],
    "log": ["get"],
    "binding": ["create"],
    "eviction": ["create"],
    "finalize": ["update"],
    "proxy": ["create", "delete", "get", "patch", "update"],
    "ephemeralcontainers": ["get", "patch", "update"],
    "resize": ["get", "patch", "update"],
}
_SUB_KIND = {
    "binding": ("", "v1", "Binding"),
    "eviction": ("policy", "v1", "Eviction"),
    "proxy": ("", "v1", "NodeProxyOptions"),
}


def _hash(rt: ResourceType) -> str:
    return hashlib.sha256(f"{rt.api_version}/{rt.kind}".encode()).hexdigest()[:12]


def api_versions(address: str) -> Doc:
    """`/api`."""
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def api_group(registry: Registry, group: str) -> Doc | None:
    """`/apis/<group>`."""
    versions = registry.groups().get(group)
    if not versions or not group:
        return None
    preferred = GROUP_PREFERRED.get(group, versions[0])
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
    }


def api_group_list(registry: Registry) -> Doc:
    """`/apis`."""
    groups = []
    for group in registry.groups():
        doc = api_group(registry, group)
        if doc is not None:
            doc.pop("kind")
            doc.pop("apiVersion")
            groups.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(registry: Registry, group: str, version: str) -> Doc | None:
    """`/api/v1` or `/apis/<group>/<version>`."""
    types = registry.in_group_version(group, version)
    if not types:
        return None
    resources: list[Doc] = []
    for rt in types:
        entry: Doc = {
            "name": rt.plural,
            "singularName": rt.singular,
            "namespaced": rt.namespaced,
            "kind": rt.kind,
            "verbs": list(rt.verbs),
            "storageVersionHash": _hash(rt),
        }
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in rt.subresources:
            sub_entry: Doc = {
                "name": f"{rt.plural}/{sub}",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": _SUB_VERBS.get(sub, ["get"]),
            }
            if sub in _SUB_KIND:
                g, v, k = _SUB_KIND[sub]
                sub_entry["kind"] = k
                if g:
                    sub_entry["group"], sub_entry["version"] = g, v
            resources.append(sub_entry)
    gv = f"{group}/{version}" if group else version
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


def aggregated(registry: Registry, legacy: bool, version: str = "v2") -> Doc:
    """The aggregated discovery document (`apidiscovery.k8s.io/v2`) for /api or /apis."""
    items = []
    for group, versions in registry.groups().items():
        if bool(group) == legacy:
            continue
        vdocs = []
        for v in versions:
            resources = []
            for rt in registry.in_group_version(group, v):
                res: Doc = {
                    "resource": rt.plural,
                    "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular,
                    "verbs": list(rt.verbs),
                }
                if rt.short_names:
                    res["shortNames"] = list(rt.short_names)
                if rt.categories:
                    res["categories"] = list(rt.categories)
                subs = []
                for sub in rt.subresources:
                    g, sv, k = _SUB_KIND.get(sub, (rt.group, rt.version, rt.kind))
                    subs.append(
                        {
                            "subresource": sub,
                            "responseKind": {"group": g, "version": sv, "kind": k},
                            "verbs": _SUB_VERBS.get(sub, ["get"]),
                        }
                    )
                if subs:
                    res["subresources"] = subs
                resources.append(res)
            vdocs.append({"version": v, "resources": resources, "freshness": "Current"})
        items.append({"metadata": {"name": group, "creationTimestamp": None}, "versions": vdocs})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": items,
    }
