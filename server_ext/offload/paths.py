"""Notebook paths of offload requests, confined to the server's root, and result names.

A path is an API path (``dir/analysis.ipynb``) relative to the contents root. It may not
be absolute, climb with ``..``, or lead outside the root through a symbolic link; each
refusal is a :class:`PathError` sentence (answered as 4xx).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class PathError(ValueError):
    """A path this server will not read or write, with a sentence saying why."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def api_path(raw: object) -> str:
    """A clean relative API path to a notebook, or PathError."""
    if not isinstance(raw, str) or not raw.strip():
        raise PathError('path must name a notebook, e.g. "analysis.ipynb".')
    if "\0" in raw or "\\" in raw:
        raise PathError(f"path {raw!r} holds a character paths may not hold.")
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw):
        raise PathError(
            f"path {raw!r} is absolute; give it relative to the server's root directory."
        )
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise PathError(f"path {raw!r} climbs out of its directory with '..'.")
    if not parts or not parts[-1].endswith(".ipynb"):
        raise PathError(f"path {raw!r} is not a notebook (.ipynb).")
    return "/".join(parts)


def confine(root: str | os.PathLike[str], path: str) -> Path:
    """The real file system path of API ``path`` under ``root``; PathError if it escapes."""
    real_root = Path(root).resolve()
    real = (real_root / path).resolve()
    if real != real_root and real_root not in real.parents:
        raise PathError(
            f"path {path!r} leads outside the server's root directory (through a symbolic link).",
            403,
        )
    return real


def _safe(text: str) -> str:
    return _UNSAFE.sub("-", text).strip(".-") or "x"


def copy_path(original: str, site: str, job_id: str) -> str:
    """Where a job's executed notebook goes: ``<name>.remote-<site>-<job>.ipynb`` beside it."""
    source = PurePosixPath(api_path(original))
    stem = source.name[: -len(".ipynb")]
    name = f"{stem}.remote-{_safe(site)}-{_safe(job_id)}.ipynb"
    return str(source.with_name(name))
