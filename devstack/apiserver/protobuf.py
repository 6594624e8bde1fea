"""Decoding `application/vnd.kubernetes.protobuf` request bodies (kubectl's typed clients)."""

from __future__ import annotations

import base64
import datetime as _dt
import json
import struct
from typing import Any

from devstack.apiserver.errors import ApiError, bad_request
from devstack.apiserver.proto_fields import MESSAGES

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
_ZERO_MATTERS = {
    "terminationGracePeriodSeconds",
    "gracePeriodSeconds",
    "value",
    "backoffLimit",
    "completions",
    "parallelism",
    "activeDeadlineSeconds",
    "ttlSecondsAfterFinished",
    "tolerationSeconds",
    "backoffLimitPerIndex",
    "maxFailedIndexes",
    "priority",
    "runAsUser",
    "runAsGroup",
    "fsGroup",
    "defaultMode",
    "mode",
    "replicas",
    "deletionGracePeriodSeconds",
    "leaseDurationSeconds",
    "leaseTransitions",
    "suspend",
    "manualSelector",
    "immutable",
    "automountServiceAccountToken",
    "enableServiceLinks",
    "globalDefault",
    "privileged",
    "readOnlyRootFilesystem",
    "runAsNonRoot",
    "allowPrivilegeEscalation",
    "optional",
    "orphanDependents",
    "unschedulable",
    "exitCode",
}
# (apiVersion, kind) -> message
_KINDS = {
    ("v1", "DeleteOptions"): "meta.DeleteOptions",
    ("meta.k8s.io/v1", "DeleteOptions"): "meta.DeleteOptions",
    ("batch/v1", "Job"): "batch.v1.Job",
    ("scheduling.k8s.io/v1", "PriorityClass"): "scheduling.v1.PriorityClass",
    ("policy/v1", "Eviction"): "policy.v1.Eviction",
    ("coordination.k8s.io/v1", "Lease"): "coordination.v1.Lease",
    ("events.k8s.io/v1", "Event"): "events.v1.Event",
    ("authentication.k8s.io/v1", "TokenRequest"): "authentication.v1.TokenRequest",
    (
        "authorization.k8s.io/v1",
        "SelfSubjectAccessReview",
    ): "authorization.v1.SelfSubjectAccessReview",
    ("rbac.authorization.k8s.io/v1", "Role"): "rbac.v1.Role",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "rbac.v1.ClusterRole",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "rbac.v1.RoleBinding",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "rbac.v1.ClusterRoleBinding",
}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def varint(self) -> int:
        result = shift = 0
        while True:
            if self.pos >= len(self.data) or shift > 63:
                raise bad_request("proto: illegal varint in the request body")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise bad_request("proto: unexpected EOF in the request body")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _fields(data: bytes) -> list[tuple[int, int, Any]]:
    r = _Reader(data)
    out: list[tuple[int, int, Any]] = []
    while r.pos < len(data):
        key = r.varint()
        num, wire = key >> 3, key & 7
        if wire == 0:
            out.append((num, wire, r.varint()))
        elif wire == 1:
            out.append((num, wire, r.take(8)))
        elif wire == 2:
            out.append((num, wire, r.take(r.varint())))
        elif wire == 5:
            out.append((num, wire, r.take(4)))
        else:
            raise bad_request(f"proto: wiretype {wire} is not supported")
    return out


def _time(data: bytes) -> str | None:
    seconds = nanos = 0
    for num, _w, v in _fields(data):
        if num == 1:
            seconds = _signed(v)
        elif num == 2:
            nanos = v
    if seconds == 0 and nanos == 0:
        return None
    when = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    if nanos:
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos // 1000:06d}Z"
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _scalar(typ: str, wire: int, value: Any) -> Any:
    if typ == "string":
        return bytes(value).decode("utf-8", errors="replace")
    if typ == "bytes":
        return base64.b64encode(bytes(value)).decode()
    if typ == "bool":
        return bool(value)
    if typ in ("int32", "int64", "uint32", "uint64"):
        return _signed(value) if typ in ("int32", "int64") else value
    if typ == "double":
        return struct.unpack("<d", value)[0]
    if typ == "float":
        return struct.unpack("<f", value)[0]
    return value


def _special(typ: str, data: bytes) -> Any:
    if typ == "time":
        return _time(data)
    if typ == "quantity":
        parts = {n: v for n, _w, v in _fields(data)}
        return bytes(parts.get(1, b"")).decode()
    if typ == "intorstring":
        parts = {n: v for n, _w, v in _fields(data)}
        if parts.get(1, 0) == 1:
            return bytes(parts.get(3, b"")).decode()
        return _signed(parts.get(2, 0))
    if typ == "rawjson":
        parts = {n: v for n, _w, v in _fields(data)}
        raw = bytes(parts.get(1, b""))
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            raise bad_request("proto: raw extension is not JSON") from None
    if typ == "duration":
        parts = {n: v for n, _w, v in _fields(data)}
        return f"{_signed(parts.get(1, 0)) / 1e9:g}s"
    return None


def _value(typ: str, wire: int, value: Any) -> Any:
    if typ in ("time", "quantity", "intorstring", "rawjson", "duration"):
        return _special(typ, value)
    if typ in MESSAGES:
        return decode_message(value, typ)
    return _scalar(typ, wire, value)


def decode_message(data: bytes, name: str) -> dict[str, Any]:
    """Decode one message of the table into its JSON-like dict."""
    table = MESSAGES[name]
    out: dict[str, Any] = {}
    for num, wire, value in _fields(data):
        spec = table.get(num)
        if spec is None:
            continue
        field, typ, card = spec
        if card == "map":
            entry = {n: (w, v) for n, w, v in _fields(value)}
            key = bytes(entry[1][1]).decode() if 1 in entry else ""
            val = _value(typ, *entry[2]) if 2 in entry else ("" if typ == "string" else None)
            out.setdefault(field, {})[key] = val
        elif card == "list":
            if wire == 2 and typ in ("int32", "int64", "bool", "uint32", "uint64"):
                r = _Reader(value)
                items = []
                while r.pos < len(value):
                    items.append(_scalar(typ, 0, r.varint()))
                out.setdefault(field, []).extend(items)
            else:
                out.setdefault(field, []).append(_value(typ, wire, value))
        else:
            out[field] = _value(typ, wire, value)
    # Go writes non-pointer zero values; JSON would have omitted them.
    for key in list(out):
        v = out[key]
        empty_str = isinstance(v, str) and v == ""
        zero = isinstance(v, (bool, int)) and not v and key not in _ZERO_MATTERS
        if v is None or empty_str or zero:
            del out[key]
    return out


def message_for(api_version: str, kind: str) -> str | None:
    """The message name of a kind, or None when devstack cannot decode it."""
    if (api_version, kind) in _KINDS:
        return _KINDS[(api_version, kind)]
    if api_version == "v1":
        name = f"core.v1.{kind}"
        return name if name in MESSAGES else None
    return None


def decode(body: bytes) -> dict[str, Any]:
    """Decode a protobuf envelope (`k8s\\0` + runtime.Unknown) into an object dict."""
    if not body.startswith(MAGIC):
        raise bad_request(
            "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
        )
    unknown = decode_message(body[len(MAGIC) :], "runtime.Unknown")
    type_meta = unknown.get("typeMeta") or {}
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    name = message_for(api_version, kind)
    if name is None:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"devstack cannot decode {kind or 'this kind'} ({api_version}) from "
            f"protobuf; send application/json",
        )
    raw = base64.b64decode(unknown.get("raw", ""))
    obj = decode_message(raw, name)
    obj["apiVersion"], obj["kind"] = api_version, kind
    return obj
