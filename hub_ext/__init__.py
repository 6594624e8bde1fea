"""Hub-side parts of accelhub: the accelerator spawner and the quota service."""

from ._version import __version__

__all__ = ["__version__"]
