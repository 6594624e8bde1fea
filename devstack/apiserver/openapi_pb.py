"""OpenAPI v2 as the gnostic protobuf `Document` that client-go's discovery asks for."""

from __future__ import annotations

import json
from typing import Any

PROTO_MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
PROTO_ACCEPT = "application/com.github.proto-openapi.spec.v2"


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _str(num: int, text: str) -> bytes:
    return _len(num, text.encode())


def _bool(num: int, value: bool) -> bytes:
    return _varint(num << 3) + _varint(1 if value else 0)


def _int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(value)


def _any(value: Any) -> bytes:
    """gnostic `Any`: the value as YAML text (JSON is YAML)."""
    return _str(2, json.dumps(value))


def _named_any(name: str, value: Any) -> bytes:
    return _str(1, name) + _len(2, _any(value))


def encode_schema(schema: dict[str, Any]) -> bytes:
    """One gnostic `Schema` message."""
    out = bytearray()
    if isinstance(schema.get("$ref"), str):
        out += _str(1, schema["$ref"])
    for num, key in ((2, "format"), (3, "title"), (4, "description")):
        if isinstance(schema.get(key), str):
            out += _str(num, schema[key])
    if "default" in schema:
        out += _len(5, _any(schema["default"]))
    for num, key in ((11, "maxLength"), (12, "minLength"), (14, "maxItems"), (15, "minItems")):
        if isinstance(schema.get(key), int):
            out += _int(num, schema[key])
    for name in schema.get("required") or []:
        out += _str(19, str(name))
    for value in schema.get("enum") or []:
        out += _len(20, _any(value))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        out += _len(21, _len(1, encode_schema(extra)))
    elif isinstance(extra, bool):
        out += _len(21, _bool(2, extra))
    kind = schema.get("type")
    if isinstance(kind, str):
        out += _len(22, _str(1, kind))
    items = schema.get("items")
    if isinstance(items, dict):
        out += _len(23, _len(1, encode_schema(items)))
    for sub in schema.get("allOf") or []:
        if isinstance(sub, dict):
            out += _len(24, encode_schema(sub))
    props = schema.get("properties")
    if isinstance(props, dict) and props:
        body = b"".join(
            _len(1, _str(1, k) + _len(2, encode_schema(v)))
            for k, v in props.items()
            if isinstance(v, dict)
        )
        out += _len(25, body)
    if schema.get("readOnly") is True:
        out += _bool(27, True)
    for key, value in schema.items():
        if key.startswith("x-"):
            out += _len(31, _named_any(key, value))
    return bytes(out)


def encode_document(doc: dict[str, Any]) -> bytes:
    """The gnostic `Document` for a Swagger 2.0 JSON document (definitions and info)."""
    info = doc.get("info") or {}
    out = bytearray(_str(1, str(doc.get("swagger", "2.0"))))
    out += _len(2, _str(1, str(info.get("title", ""))) + _str(2, str(info.get("version", ""))))
    definitions = doc.get("definitions") or {}
    body = b"".join(
        _len(1, _str(1, name) + _len(2, encode_schema(schema)))
        for name, schema in definitions.items()
    )
    out += _len(9, body)
    return bytes(out)
