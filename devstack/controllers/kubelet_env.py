"""Container environment: env, envFrom, valueFrom references and `$(VAR)` expansion."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from typing import Any

from devstack.apiserver.errors import ApiError
from hub_ext.quantity import parse_quantity

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
_FIELD_KEY = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")


class ConfigError(Exception):
    """A reference that cannot be resolved yet: the container waits in
    `CreateContainerConfigError` with this message."""


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes `$(VAR)` expansion: unknown references stay, `$$` escapes a `$`."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1)
        return env[name] if name in env else m.group(0)

    return _VAR.sub(sub, text)


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """The value of a downward-API `fieldRef.fieldPath`."""
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    m = _FIELD_KEY.match(path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2), ""))
    simple = {
        "metadata.name": md.get("name"),
        "metadata.namespace": md.get("namespace"),
        "metadata.uid": md.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.podIP": status.get("podIP"),
        "status.hostIP": status.get("hostIP"),
        "status.podIPs": ",".join(p.get("ip", "") for p in status.get("podIPs") or []),
        "status.hostIPs": ",".join(p.get("ip", "") for p in status.get("hostIPs") or []),
    }
    if path in ("metadata.labels", "metadata.annotations"):
        items = md.get(path.split(".")[1]) or {}
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    if path not in simple:
        raise ConfigError(f'unsupported fieldPath "{path}"')
    return str(simple[path] or "")


def resource_value(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    ref: Mapping[str, Any],
    allocatable: Mapping[str, Any],
) -> str:
    """The value of a `resourceFieldRef` (limits fall back to node allocatable)."""
    name = ref.get("containerName")
    if name:
        spec = pod.get("spec") or {}
        found = [
            c
            for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
            if c.get("name") == name
        ]
        if found:
            container = found[0]
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(resource)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(resource)
    if value is None:
        value = allocatable.get(resource, 0)
    divisor = parse_quantity(ref.get("divisor") or 1) or 1
    return str(math.ceil(parse_quantity(value) / divisor))


class EnvResolver:
    """Resolves a container's variables against the store (ConfigMaps and Secrets)."""

    def __init__(self, store: Any, pod: Mapping[str, Any], allocatable: Mapping[str, Any]):
        self.store = store
        self.pod = pod
        self.namespace = (pod.get("metadata") or {}).get("namespace", "default")
        self.allocatable = allocatable

    async def _source(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        resource = "configmaps" if kind == "ConfigMap" else "secrets"
        try:
            obj = await self.store.get(resource, name, namespace=self.namespace)
        except ApiError as exc:
            if exc.status == 404:
                if optional:
                    return None
                raise ConfigError(f'{kind.lower()} "{name}" not found') from None
            raise
        if kind == "ConfigMap":
            return {str(k): str(v) for k, v in (obj.get("data") or {}).items()}
        return {
            str(k): base64.b64decode(v).decode(errors="replace")
            for k, v in (obj.get("data") or {}).items()
        }

    async def _key(self, kind: str, ref: Mapping[str, Any]) -> str | None:
        name, key = str(ref.get("name", "")), str(ref.get("key", ""))
        optional = bool(ref.get("optional"))
        data = await self._source(kind, name, optional)
        if data is None:
            return None
        if key not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {key} in {kind} {self.namespace}/{name}")
        return data[key]

    async def resolve(
        self, container: Mapping[str, Any], base: Mapping[str, str]
    ) -> dict[str, str]:
        """`base` overlaid with envFrom then env, expanded in order."""
        env = dict(base)
        declared: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            prefix = str(src.get("prefix") or "")
            for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                ref = src.get(field)
                if ref:
                    data = await self._source(
                        kind, str(ref.get("name", "")), bool(ref.get("optional"))
                    )
                    for k, v in (data or {}).items():
                        declared[prefix + k] = v
        env.update(declared)
        for var in container.get("env") or []:
            name = str(var.get("name", ""))
            if "value" in var or "valueFrom" not in var:
                env[name] = expand(str(var.get("value") or ""), {**declared, **env})
                declared[name] = env[name]
                continue
            value = await self._value_from(container, var["valueFrom"] or {})
            if value is not None:
                env[name] = value
                declared[name] = value
        return env

    async def _value_from(self, container: Mapping[str, Any], src: Mapping[str, Any]) -> str | None:
        if src.get("fieldRef"):
            return field_value(self.pod, str(src["fieldRef"].get("fieldPath", "")))
        if src.get("resourceFieldRef"):
            return resource_value(self.pod, container, src["resourceFieldRef"], self.allocatable)
        if src.get("configMapKeyRef"):
            return await self._key("ConfigMap", src["configMapKeyRef"])
        if src.get("secretKeyRef"):
            return await self._key("Secret", src["secretKeyRef"])
        return None
