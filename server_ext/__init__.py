"""accelhub's Jupyter Server extension: GPU telemetry and remote offload.

Importing this package is light: the extension app (and Jupyter Server with it) loads
only when asked for, so `python -m server_ext.offload.runner` runs in any image that
has nbclient and ipykernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hub_ext._version import __version__

if TYPE_CHECKING:
    from .app import AccelhubExtension

__all__ = ["AccelhubExtension", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "AccelhubExtension":
        from .app import AccelhubExtension

        return AccelhubExtension
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .app import AccelhubExtension

    return [{"module": "server_ext", "app": AccelhubExtension}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "@accelhub/labextension"}]
