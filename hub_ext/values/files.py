"""The files the values mount into the hub pod (hub.extraFiles) as the chart renders them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from .problems import dig


@dataclass(frozen=True)
class MountedFile:
    """One hub.extraFiles entry: its key, where it is mounted, and its parsed content."""

    key: str
    mount_path: str
    content: Any  # data as given, or stringData parsed when YAML/JSON, else the text

    @property
    def where(self) -> str:
        """The values key holding the content."""
        return f"hub.extraFiles.{self.key}"


def render_text(details: Mapping[str, Any]) -> str:
    """The file's text as templates/hub/secret.yaml writes it (data by its extension)."""
    if "stringData" in details and details["stringData"] is not None:
        return str(details["stringData"])
    data = details.get("data")
    path = str(details.get("mountPath", ""))
    if path.endswith(".json"):
        return json.dumps(data)
    return yaml.safe_dump(data, sort_keys=True)


def mounted_files(values: Mapping[str, Any]) -> dict[str, MountedFile]:
    """hub.extraFiles by mount path."""
    out: dict[str, MountedFile] = {}
    for key, details in (dig(values, "hub.extraFiles") or {}).items():
        if not isinstance(details, Mapping) or not details.get("mountPath"):
            continue
        if "data" in details:
            content = details["data"]
        else:
            text = str(details.get("stringData") or "")
            try:
                content = yaml.safe_load(text)
            except yaml.YAMLError:
                content = text
        out[str(details["mountPath"])] = MountedFile(str(key), str(details["mountPath"]), content)
    return out
