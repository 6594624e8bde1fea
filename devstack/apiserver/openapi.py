"""OpenAPI v2 and v3 documents built from the shipped official definitions."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any

from devstack.apiserver import schemas
from devstack.apiserver.discovery import SERVER_VERSION
from devstack.apiserver.registry import DEFAULT_REGISTRY, Registry, ResourceType

Doc = dict[str, Any]
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_META = "io.k8s.apimachinery.pkg.apis.meta.v1."
_COMMON = (
    _META + "Status",
    _META + "DeleteOptions",
    _META + "WatchEvent",
    _META + "Patch",
    _META + "APIResourceList",
)


def _convert(node: Any, ref_prefix: str, v3: bool) -> Any:
    """Rewrite a JSON-schema node of `_definitions.json` into OpenAPI form."""
    if isinstance(node, list):
        return [_convert(x, ref_prefix, v3) for x in node]
    if not isinstance(node, dict):
        return node
    out: Doc = {}
    for k, v in node.items():
        if k == "$ref" and isinstance(v, str):
            out[k] = ref_prefix + v.rsplit("/", 1)[-1]
        elif k == "type" and isinstance(v, list):
            kinds = [t for t in v if t != "null"]
            out[k] = kinds[0] if kinds else "object"
        elif k == "properties" and isinstance(v, dict):
            out[k] = {pk: _convert_property(pk, pv, ref_prefix, v3) for pk, pv in v.items()}
        else:
            out[k] = _convert(v, ref_prefix, v3)
    if v3 and "$ref" in out and len(out) > 1:
        ref = out.pop("$ref")
        out["allOf"] = [{"$ref": ref}]
    return out


def _convert_property(name: str, node: Any, ref_prefix: str, v3: bool) -> Any:
    converted = _convert(node, ref_prefix, v3)
    if name in ("apiVersion", "kind") and isinstance(converted, dict):
        converted.pop("enum", None)
    return converted


def _special(name: str, v3: bool) -> Doc | None:
    if name == _INT_OR_STRING:
        if v3:
            return {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            }
        return {"type": "string", "format": "int-or-string"}
    if name == _QUANTITY:
        if v3:
            return {
                "x-kubernetes-int-or-string": True,
                "anyOf": [{"type": "integer"}, {"type": "string"}],
            }
        return {"type": "string"}
    return None


def _closure(roots: list[str]) -> list[str]:
    defs = schemas.definitions()
    seen: set[str] = set()
    stack = [r for r in roots if r in defs]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        for ref in _refs(defs[name]):
            if ref not in seen and ref in defs:
                stack.append(ref)
    return sorted(seen)


def _refs(node: Any) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                out.append(v.rsplit("/", 1)[-1])
            else:
                out += _refs(v)
    elif isinstance(node, list):
        for v in node:
            out += _refs(v)
    return out


def _schema_set(names: list[str], ref_prefix: str, v3: bool) -> Doc:
    defs = schemas.definitions()
    out: Doc = {}
    for name in names:
        special = _special(name, v3)
        out[name] = special if special is not None else _convert(defs[name], ref_prefix, v3)
    return out


def _query(name: str, desc: str, v3: bool, type_: str = "string") -> Doc:
    if v3:
        return {
            "name": name,
            "in": "query",
            "description": desc,
            "schema": {"type": type_},
            "uniqueItems": True,
        }
    return {"name": name, "in": "query", "description": desc, "type": type_, "uniqueItems": True}


def _params(v3: bool, action: str) -> list[Doc]:
    params = [_query("pretty", "If 'true', then the output is pretty printed.", v3)]
    if action in ("post", "put", "patch", "delete", "deletecollection"):
        params.append(
            _query(
                "dryRun", "When present, indicates that modifications should not be persisted.", v3
            )
        )
    if action in ("post", "put", "patch"):
        params.append(
            _query(
                "fieldManager",
                "fieldManager is a name associated with the actor "
                "or entity that is making these changes.",
                v3,
            )
        )
        params.append(
            _query(
                "fieldValidation",
                "fieldValidation instructs the server on how to "
                "handle objects in the request containing unknown or duplicate "
                "fields. Valid values are: Ignore, Warn, Strict.",
                v3,
            )
        )
    if action == "patch":
        params.append(_query("force", 'Force is going to "force" Apply requests.', v3, "boolean"))
    if action in ("list", "deletecollection"):
        for n in (
            "labelSelector",
            "fieldSelector",
            "continue",
            "resourceVersion",
            "resourceVersionMatch",
        ):
            params.append(_query(n, n, v3))
        params.append(_query("limit", "limit", v3, "integer"))
        params.append(_query("timeoutSeconds", "timeoutSeconds", v3, "integer"))
        if action == "list":
            params.append(_query("watch", "watch", v3, "boolean"))
            params.append(_query("allowWatchBookmarks", "allowWatchBookmarks", v3, "boolean"))
            params.append(_query("sendInitialEvents", "sendInitialEvents", v3, "boolean"))
    return params


def _operation(
    rt: ResourceType, action: str, verb: str, schema_ref: str, v3: bool, sub: str = ""
) -> Doc:
    tag = f"{rt.group.split('.')[0] if rt.group else 'core'}_{rt.version}"
    op_id = f"{verb}{rt.kind}{sub.capitalize()}"
    op: Doc = {
        "description": f"{action} {rt.kind}",
        "operationId": op_id,
        "tags": [tag],
        "parameters": _params(v3, action),
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {
            "group": rt.group,
            "version": rt.version,
            "kind": rt.kind,
        },
    }
    if v3:
        op["responses"] = {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {"schema": {"$ref": schema_ref}},
                    "application/yaml": {"schema": {"$ref": schema_ref}},
                },
            }
        }
        if action in ("post", "put"):
            op["requestBody"] = {
                "content": {"*/*": {"schema": {"$ref": schema_ref}}},
                "required": True,
            }
        if action == "patch":
            patch_ref = "#/components/schemas/" + _META + "Patch"
            op["requestBody"] = {
                "content": {
                    ct: {"schema": {"$ref": patch_ref}}
                    for ct in (
                        "application/apply-patch+yaml",
                        "application/json-patch+json",
                        "application/merge-patch+json",
                        "application/strategic-merge-patch+json",
                    )
                },
                "required": True,
            }
    else:
        op["responses"] = {"200": {"description": "OK", "schema": {"$ref": schema_ref}}}
        op["consumes"] = ["*/*"]
        op["produces"] = ["application/json", "application/yaml"]
        if action in ("post", "put", "patch"):
            op["parameters"].append(
                {"name": "body", "in": "body", "required": True, "schema": {"$ref": schema_ref}}
            )
        if action == "patch":
            op["consumes"] = [
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ]
    return op


def _path_param(name: str, v3: bool) -> Doc:
    if v3:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "uniqueItems": True,
        }
    return {"name": name, "in": "path", "required": True, "type": "string", "uniqueItems": True}


def _paths(types: list[ResourceType], ref_prefix: str, v3: bool) -> Doc:
    paths: Doc = {}
    for rt in types:
        name = schemas.definition_name(rt.group, rt.version, rt.kind)
        if name is None:
            continue
        ref = ref_prefix + name
        list_ref = ref_prefix + (
            schemas.definition_name(rt.group, rt.version, rt.list_kind) or name
        )
        base = rt.base_path
        coll = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        ns_params = [_path_param("namespace", v3)] if rt.namespaced else []
        paths[coll] = {
            "get": _operation(rt, "list", "list", list_ref, v3),
            "post": _operation(rt, "post", "create", ref, v3),
            "parameters": ns_params,
        }
        if "deletecollection" in rt.verbs:
            paths[coll]["delete"] = _operation(
                rt, "deletecollection", "deleteCollection", ref_prefix + _META + "Status", v3
            )
        item = f"{coll}/{{name}}"
        paths[item] = {
            "get": _operation(rt, "get", "read", ref, v3),
            "put": _operation(rt, "put", "replace", ref, v3),
            "patch": _operation(rt, "patch", "patch", ref, v3),
            "delete": _operation(rt, "delete", "delete", ref_prefix + _META + "Status", v3),
            "parameters": [*ns_params, _path_param("name", v3)],
        }
        if rt.namespaced:
            paths[f"{base}/{rt.plural}"] = {
                "get": _operation(rt, "list", "listForAllNamespaces", list_ref, v3),
                "parameters": [],
            }
        if "status" in rt.subresources:
            paths[f"{item}/status"] = {
                "get": _operation(rt, "get", "read", ref, v3, "status"),
                "put": _operation(rt, "put", "replace", ref, v3, "status"),
                "patch": _operation(rt, "patch", "patch", ref, v3, "status"),
                "parameters": [*ns_params, _path_param("name", v3)],
            }
    return paths


def _roots(types: list[ResourceType]) -> list[str]:
    roots = list(_COMMON)
    for rt in types:
        for kind in (rt.kind, rt.list_kind):
            name = schemas.definition_name(rt.group, rt.version, kind)
            if name:
                roots.append(name)
    return roots


@functools.cache
def _v2_doc(registry: Registry) -> bytes:
    types = list(registry.types)
    names = _closure(_roots(types))
    doc = {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": _paths(types, "#/definitions/", False),
        "definitions": _schema_set(names, "#/definitions/", False),
        "securityDefinitions": {
            "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
        },
        "security": [{"BearerToken": []}],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


@functools.cache
def _v2_proto(registry: Registry) -> bytes:
    from devstack.apiserver.openapi_pb import encode_document

    return encode_document(json.loads(_v2_doc(registry)))


def v2_protobuf(registry: Registry = DEFAULT_REGISTRY) -> bytes:
    """The `/openapi/v2` document in gnostic protobuf form."""
    return _v2_proto(registry)


def v2_document(registry: Registry = DEFAULT_REGISTRY) -> bytes:
    """The whole `/openapi/v2` document as JSON bytes."""
    return _v2_doc(registry)


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


@functools.cache
def _v3_docs(registry: Registry) -> dict[str, bytes]:
    docs: dict[str, bytes] = {}
    for group, versions in registry.groups().items():
        for version in versions:
            types = registry.in_group_version(group, version)
            prefix = "#/components/schemas/"
            doc = {
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
                "paths": _paths(types, prefix, True),
                "components": {
                    "schemas": _schema_set(_closure(_roots(types)), prefix, True),
                    "securitySchemes": {
                        "BearerToken": {"type": "apiKey", "name": "authorization", "in": "header"}
                    },
                },
                "security": [{"BearerToken": []}],
            }
            docs[_gv_path(group, version)] = json.dumps(doc, separators=(",", ":")).encode()
    return docs


def v3_document(path: str, registry: Registry = DEFAULT_REGISTRY) -> bytes | None:
    """The OpenAPI v3 document of one group-version path (`api/v1`, `apis/batch/v1`)."""
    return _v3_docs(registry).get(path.strip("/"))


def v3_index(registry: Registry = DEFAULT_REGISTRY) -> Doc:
    """`/openapi/v3`: group-version paths with hashed server-relative URLs."""
    paths = {}
    for path, body in _v3_docs(registry).items():
        digest = hashlib.sha512(body).hexdigest()[:128].upper()
        paths[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest}"}
    return {"paths": paths}
