"""accelhub's Jupyter Server extension: GPU telemetry and remote offload."""

from __future__ import annotations

from typing import Any

from hub_ext._version import __version__

from .app import AccelhubExtension

__all__ = ["AccelhubExtension", "__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "server_ext", "app": AccelhubExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@accelhub/labextension"}]
