"""The official API schemas shipped by `kubernetes-validate`, with patch-metadata lookups."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

Schema = dict[str, Any]
SCHEMA_VERSION = "1.37.0"


def _schema_dir() -> Path:
    # find_spec locates the package without importing it (its import is slow).
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or spec.origin is None:
        raise RuntimeError("the kubernetes-validate package is not installed")
    base = Path(spec.origin).parent / "kubernetes-json-schema"
    preferred = base / f"v{SCHEMA_VERSION}-local"
    if preferred.is_dir():
        return preferred
    dirs = sorted(p for p in base.glob("v*-local") if p.is_dir())
    return dirs[-1]


@functools.cache
def definitions() -> dict[str, Schema]:
    """All definitions by their OpenAPI name (`io.k8s.api.core.v1.Pod`...)."""
    data = json.loads((_schema_dir() / "_definitions.json").read_text())
    return dict(data["$defs"])


@functools.cache
def gvk_index() -> dict[tuple[str, str, str], str]:
    """(group, version, kind) to definition name."""
    out: dict[tuple[str, str, str], str] = {}
    for name, schema in definitions().items():
        for gvk in schema.get("x-kubernetes-group-version-kind") or []:
            out.setdefault((gvk.get("group", ""), gvk["version"], gvk["kind"]), name)
    return out


def definition_name(group: str, version: str, kind: str) -> str | None:
    """The definition name for a kind, or None."""
    return gvk_index().get((group, version, kind))


def ref_name(schema: Schema) -> str | None:
    """The definition a `$ref` points to."""
    ref = schema.get("$ref")
    if not isinstance(ref, str):
        return None
    return ref.rsplit("/", 1)[-1]


def resolve(schema: Schema | None) -> Schema:
    """Follow `$ref`s (also inside `allOf`) to a concrete schema; `{}` when unknown."""
    seen = 0
    while schema and seen < 20:
        seen += 1
        name = ref_name(schema)
        if name is None and schema.get("allOf"):
            name = ref_name(schema["allOf"][0])
        if name is None:
            return schema
        schema = definitions().get(name)
    return schema or {}


def kind_schema(group: str, version: str, kind: str) -> Schema:
    """The resolved schema of a top-level kind (`{}` when unknown)."""
    name = definition_name(group, version, kind)
    return definitions().get(name, {}) if name else {}


def property_schema(schema: Schema, key: str) -> Schema:
    """Schema of one property (or of map values), resolved."""
    schema = resolve(schema)
    props = schema.get("properties") or {}
    if key in props:
        return (
            props[key]
            if not props[key].get("$ref")
            else {
                **resolve(props[key]),
                **{k: v for k, v in props[key].items() if k.startswith("x-")},
            }
        )
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        return resolve(extra)
    return {}


def items_schema(schema: Schema) -> Schema:
    """Resolved schema of list items."""
    items = schema.get("items")
    return resolve(items) if isinstance(items, dict) else {}


def is_known_property(schema: Schema, key: str) -> bool | None:
    """True/False when the schema lists its properties, None when it is open."""
    schema = resolve(schema)
    props = schema.get("properties")
    if props is None or schema.get("additionalProperties") not in (None, False):
        return None
    return key in props
