"""CustomResourceDefinitions: each served version becomes a resource type of the store's
registry (discovery, REST, watch, status subresource), checked against its OpenAPI schema."""

from __future__ import annotations

import json
import re
from typing import Any

from devstack.apiserver.errors import Cause
from devstack.apiserver.registry import RESOURCES, Registry, ResourceType

Obj = dict[str, Any]


def resource_types(crd: Obj) -> list[ResourceType]:
    """One type per served version of a CRD."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subs = version.get("subresources") or {}
        schema = (version.get("schema") or {}).get("openAPIV3Schema") or {}
        out.append(
            ResourceType(
                group,
                str(version.get("name", "")),
                kind,
                plural,
                names.get("singular") or kind.lower(),
                spec.get("scope", "Namespaced") == "Namespaced",
                tuple(names.get("shortNames") or ()),
                subresources=("status",) if "status" in subs else (),
                categories=tuple(names.get("categories") or ()),
                storage=f"{plural}.{group}",
                has_status="status" in subs,
                custom_schema=json.dumps(schema, sort_keys=True),
            )
        )
    return out


def registry_for(crds: list[Obj]) -> Registry:
    """The built-in types plus every established CRD's served versions."""
    extra = [
        rt
        for crd in crds
        if not crd["metadata"].get("deletionTimestamp")
        for rt in resource_types(crd)
    ]
    return Registry(types=(*RESOURCES, *extra))


def status_for(crd: Obj, now: str) -> Obj:
    """What the CRD controllers write: names accepted, established, the stored version."""
    spec = crd.get("spec") or {}
    names = dict(spec.get("names") or {})
    names.setdefault("singular", str(names.get("kind", "")).lower())
    names.setdefault("listKind", f"{names.get('kind', '')}List")
    stored = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]

    def cond(ctype: str, reason: str, message: str) -> Obj:
        return {
            "type": ctype,
            "status": "True",
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    return {
        "conditions": [
            cond("NamesAccepted", "NoConflicts", "no conflicts found"),
            cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "acceptedNames": names,
        "storedVersions": stored,
    }


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
}


def _type_ok(value: Any, typ: str) -> bool:
    if typ == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if typ == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    expected = _TYPES.get(typ)
    return expected is None or isinstance(value, expected)


def _go_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else "null"


def schema_causes(schema: Obj, value: Any, path: str = "") -> list[Cause]:
    """Violations of a structural schema, worded as the API server's validator words them."""
    out: list[Cause] = []
    here = path or "<root>"
    typ = schema.get("type")
    if value is None:
        return out
    if typ and not _type_ok(value, typ):
        return [
            Cause(
                "FieldValueTypeInvalid",
                f'Invalid value: "{_go_type(value)}": {here} in body must be of type {typ}: '
                f'"{_go_type(value)}"',
                here,
            )
        ]
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        out.append(
            Cause(
                "FieldValueNotSupported",
                f"Unsupported value: {json.dumps(value)}: supported values: {allowed}",
                here,
            )
        )
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            out.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {here} in body should be greater than or equal "
                    f"to {schema['minimum']}",
                    here,
                )
            )
        if "maximum" in schema and value > schema["maximum"]:
            out.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {here} in body should be less than or equal to "
                    f"{schema['maximum']}",
                    here,
                )
            )
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: \"{value}\": {here} in body should match '{schema['pattern']}'",
                here,
            )
        )
    if isinstance(value, dict):
        for req in schema.get("required") or []:
            if req not in value:
                field = f"{path}.{req}" if path else req
                out.append(Cause("FieldValueRequired", "Required value", field))
        props = schema.get("properties") or {}
        for key, sub in props.items():
            if key in value:
                out += schema_causes(sub, value[key], f"{path}.{key}" if path else key)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, item in value.items():
                if key not in props:
                    out += schema_causes(extra, item, f"{path}[{key}]")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += schema_causes(schema["items"], item, f"{path}[{i}]")
    return out


def prune(schema: Obj, value: Any) -> Any:
    """Drop fields the structural schema does not know (unless it preserves them)."""
    if not isinstance(value, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        if isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [prune(schema["items"], v) for v in value]
        return value
    props = schema.get("properties")
    extra = schema.get("additionalProperties")
    if props is None and extra is None:
        return value
    out = {}
    for key, item in value.items():
        if props is not None and key in props:
            out[key] = prune(props[key], item)
        elif isinstance(extra, dict):
            out[key] = prune(extra, item)
        elif extra is True:
            out[key] = item
    return out


def check(rt: ResourceType, obj: Obj) -> list[Cause]:
    """Prune unknown fields (metadata, apiVersion, kind stay) and validate the rest."""
    schema = json.loads(rt.custom_schema or "{}")
    if not schema:
        return []
    keep: Obj = {k: obj[k] for k in ("apiVersion", "kind", "metadata") if k in obj}
    body = {k: v for k, v in obj.items() if k not in keep}
    pruned = prune(schema, body)
    obj.clear()
    obj.update(keep)
    obj.update(pruned)
    props = {k: v for k, v in (schema.get("properties") or {}).items() if k not in keep}
    return schema_causes({**schema, "properties": props}, pruned)
