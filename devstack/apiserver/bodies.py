"""Request bodies and query options: decoding with the real API server's error messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from devstack.apiserver.errors import ApiError, bad_request
from devstack.apiserver.registry import ResourceType
from devstack.apiserver.schemas import is_known_property, property_schema, resolve

_OBJECT_TYPES = ("application/json", "application/yaml", "", "application/vnd.kubernetes.protobuf")
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+json",
)


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type header."""
    return (header or "").split(";", 1)[0].strip().lower()


def _unsupported(accepted: str) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types "
        f"include: {accepted}",
    )


def decode_object(body: bytes, content_type: str | None) -> dict[str, Any]:
    """Decode a POST/PUT body (JSON or YAML) into an object dict."""
    mt = media_type(content_type)
    if mt not in _OBJECT_TYPES:
        raise _unsupported(
            "application/json, application/yaml, application/vnd.kubernetes.protobuf"
        )
    if mt == "application/vnd.kubernetes.protobuf":
        from devstack.apiserver import protobuf

        return protobuf.decode(body)
    data = _decode(body, yaml_ok=mt == "application/yaml")
    if not isinstance(data, dict):
        kind = "array" if isinstance(data, list) else type(data).__name__
        kind = {
            "str": "string",
            "int": "number",
            "float": "number",
            "bool": "bool",
            "NoneType": "null",
        }.get(kind, kind)
        raise bad_request(
            f"couldn't get version/kind; json parse error: json: cannot unmarshal "
            f"{kind} into Go value of type struct {{ APIVersion string "
            f'"json:\\"apiVersion,omitempty\\""; Kind string '
            f'"json:\\"kind,omitempty\\"" }}'
        )
    return data


def decode_patch(body: bytes, content_type: str | None) -> tuple[Any, str]:
    """Decode a PATCH body; returns (patch, content type)."""
    mt = media_type(content_type)
    if mt not in _PATCH_TYPES:
        raise _unsupported(
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml, application/strategic-merge-patch+json"
        )
    return _decode(body, yaml_ok=mt == "application/apply-patch+yaml"), mt


def _decode(body: bytes, yaml_ok: bool) -> Any:
    if not body.strip():
        raise bad_request(
            "the body of the request was empty" if not yaml_ok else "error decoding YAML: EOF"
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise bad_request(
            "couldn't get version/kind; json parse error: invalid character "
            "looking for beginning of value"
        ) from None
    if yaml_ok:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark is not None else ""
            problem = getattr(exc, "problem", None) or "invalid YAML"
            raise bad_request(f"error converting YAML to JSON: yaml: {line}{problem}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        ch = text[exc.pos] if exc.pos < len(text) else ""
        reason = (
            f"invalid character '{ch}' looking for beginning of value"
            if ch
            else "unexpected end of JSON input"
        )
        raise bad_request(f"couldn't get version/kind; json parse error: {reason}") from None
    except RecursionError:
        raise bad_request(
            "couldn't get version/kind; json parse error: exceeded max depth"
        ) from None


def check_type_meta(rt: ResourceType, obj: dict[str, Any]) -> None:
    """400 when the body's apiVersion/kind do not belong at this URL."""
    api_version = obj.get("apiVersion")
    kind = obj.get("kind")
    if api_version not in (None, "") and not isinstance(api_version, str):
        raise bad_request(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            "number into Go struct field .apiVersion of type string"
        )
    if kind not in (None, "") and not isinstance(kind, str):
        raise bad_request(
            "couldn't get version/kind; json parse error: json: cannot unmarshal "
            "number into Go struct field .kind of type string"
        )
    if api_version and api_version != rt.api_version:
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the "
            f"expected API version ({rt.api_version})"
        )
    if kind and kind != rt.kind:
        raise bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
        )
    if not isinstance(obj.get("metadata", {}), dict):
        raise bad_request(
            f'{rt.kind} in version "{rt.version}" cannot be handled as a '
            f"{rt.kind}: json: cannot unmarshal into Go struct field "
            f"{rt.kind}.metadata of type v1.ObjectMeta"
        )


def unknown_fields(obj: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Dotted paths of fields the schema does not know (recursing into known objects)."""
    out: list[str] = []
    if not isinstance(obj, dict):
        return out
    concrete = resolve(schema)
    for key, value in obj.items():
        known = is_known_property(concrete, key)
        here = f"{path}.{key}" if path else key
        if known is False:
            out.append(here)
            continue
        child = property_schema(concrete, key)
        if isinstance(value, dict):
            out += unknown_fields(value, child, here)
        elif isinstance(value, list) and isinstance(child.get("items"), dict):
            item_schema = resolve(child["items"])
            for i, item in enumerate(value):
                out += unknown_fields(item, item_schema, f"{here}[{i}]")
    return out


def drop_fields(obj: Any, paths: list[str]) -> None:
    """Remove fields given as dotted paths with `[i]` list indexes."""
    for path in paths:
        cur = obj
        parts = path.replace("]", "").replace("[", ".").split(".")
        for p in parts[:-1]:
            if isinstance(cur, dict):
                cur = cur.get(p)
            elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur):
                cur = cur[int(p)]
            else:
                cur = None
            if cur is None:
                break
        if isinstance(cur, dict):
            cur.pop(parts[-1], None)


@dataclass
class WriteOptions:
    """Query options shared by writes."""

    dry_run: bool = False
    field_manager: str | None = None
    field_validation: str = "Warn"
    force: bool = False


def parse_bool(value: str | None, name: str = "") -> bool:
    """Go's strconv.ParseBool (400 on anything else)."""
    if value is None:
        return False
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False", ""):
        return False
    raise bad_request(f'strconv.ParseBool: parsing "{value}": invalid syntax')


def parse_int(value: str | None, name: str) -> int | None:
    """An integer query parameter (400 when malformed)."""
    if value in (None, ""):
        return None
    assert value is not None
    try:
        return int(value)
    except ValueError:
        raise bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def write_options(args: dict[str, list[str]]) -> WriteOptions:
    """DryRun, fieldManager, fieldValidation and force from the query."""
    dry = args.get("dryRun", [])
    for value in dry:
        if value != "All":
            raise ApiError(
                422,
                "Invalid",
                f'Invalid dry run value: dryRun: Unsupported value: "{value}": '
                f'supported values: "All"',
            )
    validation = (args.get("fieldValidation") or ["Warn"])[-1] or "Warn"
    if validation not in ("Ignore", "Warn", "Strict"):
        raise bad_request(f"invalid fieldValidation directive: {validation}")
    managers = args.get("fieldManager") or []
    forces = args.get("force") or []
    return WriteOptions(
        dry_run=bool(dry),
        field_manager=managers[-1] if managers else None,
        field_validation=validation,
        force=parse_bool(forces[-1] if forces else None),
    )
