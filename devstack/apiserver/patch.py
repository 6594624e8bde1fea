"""Patch application: JSON merge, JSON patch, strategic merge and server-side apply."""

from __future__ import annotations

from typing import Any

from devstack.apiserver import schemas
from devstack.apiserver.errors import ApiError, bad_request
from devstack.apiserver.meta import deep_copy
from devstack.apiserver.registry import ResourceType

Obj = dict[str, Any]
_DIRECTIVE_ERROR = "Unable to find the %s directive in the patch"


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def apply_patch(
    rt: ResourceType,
    current: Obj,
    patch: Any,
    kind: str,
    field_manager: str | None = None,
    force: bool = False,
) -> Obj:
    """Return `current` with the patch applied (current may be mutated)."""
    if kind == "json":
        if not isinstance(patch, list):
            raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
        result = json_patch(current, patch)
    elif kind == "merge":
        if not isinstance(patch, dict):
            raise bad_request(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        result = merge_patch(current, patch)
    elif kind == "strategic":
        if not isinstance(patch, dict):
            raise bad_request(
                "json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        result = strategic_merge(current, patch, schemas.kind_schema(rt.group, rt.version, rt.kind))
    elif kind == "apply":
        if not isinstance(patch, dict):
            raise bad_request(
                "error decoding YAML: json: cannot unmarshal array into Go value "
                "of type map[string]interface {}"
            )
        if not field_manager:
            raise bad_request("PATCH request: fieldManager is required for apply requests")
        if patch.get("kind") != rt.kind or patch.get("apiVersion") != rt.api_version:
            got = f"{patch.get('apiVersion', '')}, Kind={patch.get('kind', '')}"
            raise bad_request(
                f"error decoding patch: invalid object type: /{got}"
                if not patch.get("kind")
                else f"the API version in the data ({patch.get('apiVersion')}) does "
                f"not match the expected API version ({rt.api_version})"
            )
        result = strategic_merge(current, patch, schemas.kind_schema(rt.group, rt.version, rt.kind))
    else:
        raise bad_request(f"unknown patch type {kind}")
    if not isinstance(result, dict):
        raise _unprocessable("the patch produced an object that is not a JSON object")
    return result


# ---- RFC 7386 merge patch ------------------------------------------------------------------


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, null deletes, everything else replaces."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


# ---- RFC 6902 JSON patch -------------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise _unprocessable(f'doc is missing path: "{path}": missing value')
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _walk(doc: Any, parts: list[str], path: str) -> Any:
    cur = doc
    for p in parts:
        if isinstance(cur, dict) and p in cur:
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
            cur = cur[int(p)]
        else:
            raise _unprocessable(f'doc is missing path: "{path}": missing value')
    return cur


def _index(container: list[Any], token: str, path: str, adding: bool) -> int:
    if token == "-" and adding:
        return len(container)
    if not token.isdigit():
        raise _unprocessable(f'doc is missing path: "{path}": missing value')
    idx = int(token)
    limit = len(container) if adding else len(container) - 1
    if idx > limit:
        raise _unprocessable(
            f'add operation does not apply: doc is missing path: "{path}": missing value'
            if adding
            else f'doc is missing path: "{path}": missing value'
        )
    return idx


def json_patch(doc: Any, ops: list[Any]) -> Any:
    """Apply RFC 6902 operations (add, remove, replace, move, copy, test)."""
    doc = deep_copy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise bad_request("json: cannot unmarshal into Go value of type jsonpatch.Operation")
        name = op.get("op")
        path = op.get("path", "")
        if name in ("add", "replace", "test") and "value" not in op:
            raise _unprocessable(f"Unexpected kind: {name} operation missing value")
        if name == "test":
            if _walk(doc, _pointer(path), path) != op["value"]:
                raise _unprocessable(f"testing value {path} failed: test failed")
            continue
        if name in ("move", "copy"):
            src = op.get("from", "")
            value = deep_copy(_walk(doc, _pointer(src), src))
            if name == "move":
                doc = _remove(doc, _pointer(src), src)
            doc = _add(doc, _pointer(path), path, value)
        elif name == "add":
            doc = _add(doc, _pointer(path), path, deep_copy(op["value"]))
        elif name == "remove":
            doc = _remove(doc, _pointer(path), path)
        elif name == "replace":
            parts = _pointer(path)
            _walk(doc, parts, path)
            doc = _remove(doc, parts, path)
            doc = _add(doc, parts, path, deep_copy(op["value"]))
        else:
            raise _unprocessable(f"Unexpected kind: {name}")
    return doc


def _add(doc: Any, parts: list[str], path: str, value: Any) -> Any:
    if not parts:
        return value
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, path, True), value)
    else:
        raise _unprocessable(f'doc is missing path: "{path}": missing value')
    return doc


def _remove(doc: Any, parts: list[str], path: str) -> Any:
    if not parts:
        return None
    parent = _walk(doc, parts[:-1], path)
    last = parts[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, path, False)]
    else:
        raise _unprocessable(
            f'remove operation does not apply: doc is missing path: "{path}": missing value'
        )
    return doc


# ---- strategic merge patch ------------------------------------------------------------------


def _strategy(schema: schemas.Schema) -> tuple[list[str], str | None]:
    strategies = str(schema.get("x-kubernetes-patch-strategy") or "").split(",")
    return [s for s in strategies if s], schema.get("x-kubernetes-patch-merge-key")


def strategic_merge(original: Any, patch: Any, schema: schemas.Schema) -> Any:
    """Kubernetes strategic merge: lists merge by their patch-merge-key, with the
    `$patch` (replace/delete/merge), `$retainKeys`, `$deleteFromPrimitiveList` and
    `$setElementOrder` directives."""
    if not isinstance(patch, dict):
        return deep_copy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: deep_copy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    result = dict(original) if isinstance(original, dict) else {}
    retain = patch.get("$retainKeys")
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys") or k.startswith("$setElementOrder/"):
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(v, list):
                result[field] = [x for x in result[field] if x not in v]
            continue
        if v is None:
            result.pop(k, None)
            continue
        fs = schemas.property_schema(schema, k)
        if isinstance(v, list):
            strategies, key = _strategy(fs)
            if "merge" in strategies:
                merged = _merge_list(result.get(k), v, key, schemas.items_schema(fs))
                result[k] = merged
            else:
                result[k] = [_strip_directives(x) for x in v]
        elif isinstance(v, dict):
            merged_obj = strategic_merge(result.get(k), v, fs)
            if merged_obj is None:
                result.pop(k, None)
            else:
                result[k] = merged_obj
        else:
            result[k] = v
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _strip_directives(v)
            for k, v in value.items()
            if not (
                k.startswith("$patch")
                or k.startswith("$retainKeys")
                or k.startswith("$setElementOrder/")
            )
        }
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _merge_list(
    original: Any, patch: list[Any], key: str | None, item_schema: schemas.Schema
) -> list[Any]:
    orig = list(original) if isinstance(original, list) else []
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [
            _strip_directives(p)
            for p in patch
            if not (isinstance(p, dict) and p.get("$patch") == "replace")
        ]
    if key is None or not all(isinstance(p, dict) for p in patch):
        # A merge-strategy list of primitives: union, keeping the original order.
        out = list(orig)
        for p in patch:
            if isinstance(p, dict) and p.get("$patch") == "delete":
                continue
            if p not in out:
                out.append(p)
        return out
    for p in patch:
        if key not in p:
            if p.get("$patch") == "delete":
                raise bad_request(f"map: {p} does not contain declared merge key: {key}")
            raise bad_request(f"map: {p} does not contain declared merge key: {key}")
        matched = None
        for i, o in enumerate(orig):
            if isinstance(o, dict) and o.get(key) == p[key]:
                matched = i
                break
        if p.get("$patch") == "delete":
            orig = [o for o in orig if not (isinstance(o, dict) and o.get(key) == p[key])]
            continue
        if matched is None:
            orig.append(_strip_directives(p))
        else:
            orig[matched] = strategic_merge(orig[matched], p, item_schema)
    return orig


def drop_unknown_fields(obj: Obj, rt: ResourceType) -> list[str]:
    """Remove unknown top-level fields; returns their names (for strict validation)."""
    schema = schemas.kind_schema(rt.group, rt.version, rt.kind)
    unknown = []
    for k in list(obj):
        if schemas.is_known_property(schema, k) is False:
            unknown.append(k)
            del obj[k]
    return unknown


def removed_fields(prev: Any, new: Any, schema: schemas.Schema) -> Obj:
    """A strategic patch deleting what an earlier apply set and this apply no longer does.

    This approximates server-side apply's field ownership: a manager's fields are those of
    its last applied configuration.
    """
    out: Obj = {}
    if not isinstance(prev, dict) or not isinstance(new, dict):
        return out
    for key, old in prev.items():
        if key in ("apiVersion", "kind") or key.startswith("$"):
            continue
        if key not in new:
            out[key] = None
            continue
        cur = new[key]
        fs = schemas.property_schema(schema, key)
        if isinstance(old, dict) and isinstance(cur, dict):
            sub = removed_fields(old, cur, fs)
            if sub:
                out[key] = sub
        elif isinstance(old, list) and isinstance(cur, list):
            strategies, merge_key = _strategy(fs)
            if "merge" not in strategies or not merge_key:
                continue
            items: list[Any] = []
            item_schema = schemas.items_schema(fs)
            for item in old:
                if not isinstance(item, dict) or merge_key not in item:
                    continue
                match = next(
                    (c for c in cur if isinstance(c, dict) and c.get(merge_key) == item[merge_key]),
                    None,
                )
                if match is None:
                    items.append({merge_key: item[merge_key], "$patch": "delete"})
                else:
                    sub = removed_fields(item, match, item_schema)
                    if sub:
                        items.append({merge_key: item[merge_key], **sub})
            if items:
                out[key] = items
    return out
